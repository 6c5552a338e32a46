// node --test ui/static/tests/ : model.js on small hand-made models (PyTorch's numbers: tests/test_js.py)
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {MLPModel, parseSafetensors} from '../model.js';

// {name: {shape, data: number[]}} -> safetensors bytes (F32 unless dtype says otherwise), as safetensors writes them
export function safetensorsBytes(tensors, dtype = 'F32') {
  const header = {}, parts = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = new Uint8Array(new Float32Array(t.data).buffer);
    header[name] = {dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length]};
    parts.push(bytes); offset += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const head = new TextEncoder().encode(json), out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out.buffer;
}

function rng(seed) {  // a small deterministic generator (mulberry32) for weights in [-1, 1)
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0;
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 2147483648 - 1;
  };
}

// a random MLP of the project's shape, smaller: data D, hidden H, latent 2, n classes C
function randomTensors({D = 6, H = 5, C = 0, vae = true, seed = 1} = {}) {
  const r = rng(seed), lin = (out, inp) => ({w: {shape: [out, inp], data: Array.from({length: out * inp}, r)},
                                             b: {shape: [out], data: Array.from({length: out}, r)}});
  const layers = {fc1: lin(H, D + C), fc_mu: lin(2, H), fc3: lin(H, 2 + C), fc4: lin(D, H)};
  if (vae) layers.fc_logvar = lin(2, H);
  const t = {};
  for (const [k, l] of Object.entries(layers)) { t[k + '.weight'] = l.w; t[k + '.bias'] = l.b; }
  return t;
}

// the maths written out densely, as in vae_models/mlp.py: W (out, in) row-major, y = W x + b
function dense(l, x) {
  const [out, inp] = l.w.shape, y = [];
  for (let o = 0; o < out; o++) { let s = l.b.data[o]; for (let i = 0; i < inp; i++) s += l.w.data[o * inp + i] * x[i]; y.push(s); }
  return y;
}
const relu = v => v.map(a => Math.max(a, 0)), lay = (t, n) => ({w: t[n + '.weight'], b: t[n + '.bias']});
const f32 = t => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, {...v, data: Array.from(new Float32Array(v.data))}]));

test('parseSafetensors reads every tensor with its shape and float32 values', () => {
  const t = randomTensors(), parsed = parseSafetensors(safetensorsBytes(t));
  assert.deepEqual(Object.keys(parsed).sort(), Object.keys(t).sort());
  for (const [k, v] of Object.entries(t)) {
    assert.deepEqual(parsed[k].shape, v.shape);
    assert.equal(parsed[k].dtype, 'F32');
    assert.deepEqual(Array.from(parsed[k].data), Array.from(new Float32Array(v.data)));
  }
});

test('a file that is not float32 safetensors is refused in one sentence', () => {
  assert.throws(() => parseSafetensors(safetensorsBytes(randomTensors(), 'F16')), /float32 \(F32\) weights only\.$/);
  assert.throws(() => parseSafetensors(new ArrayBuffer(3)), /too short/);
  const cut = safetensorsBytes(randomTensors()).slice(0, 100);
  assert.throws(() => parseSafetensors(cut), /cut short|does not fit/);
  const junk = new Uint8Array(40); new DataView(junk.buffer).setBigUint64(0, 16n, true);
  assert.throws(() => parseSafetensors(junk.buffer), /header is not JSON/);
});

for (const [kind, C, vae] of [['ae', 0, false], ['vae', 0, true], ['cvae', 3, true]]) {
  test(`the ${kind}'s encode and decode are the layers' maths (skipped zero inputs and units included)`, () => {
    const t = randomTensors({C, vae, seed: 7}), ref = f32(t);
    const model = new MLPModel(parseSafetensors(safetensorsBytes(t)), {kind, n_classes: C});
    const label = C ? 2 : undefined, onehot = C ? [0, 0, 1] : [];
    const x = [1, 0, 0.5, 0, 1, 0];
    const h = relu(dense(lay(ref, 'fc1'), [...x, ...onehot]));
    const {mu, logvar} = model.encode(Float32Array.from(x), label);
    dense(lay(ref, 'fc_mu'), h).forEach((v, i) => assert.ok(Math.abs(mu[i] - v) < 1e-12));
    if (vae) dense(lay(ref, 'fc_logvar'), h).forEach((v, i) => assert.ok(Math.abs(logvar[i] - v) < 1e-12));
    else assert.equal(logvar, null);
    const p = dense(lay(ref, 'fc4'), relu(dense(lay(ref, 'fc3'), [0.3, -1.2, ...onehot]))).map(a => 1 / (1 + Math.exp(-a)));
    const out = model.decode(0.3, -1.2, label);
    p.forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-6));
  });
}

test("the conditional VAE refuses a label that is not one of its digits", () => {
  const model = new MLPModel(parseSafetensors(safetensorsBytes(randomTensors({C: 3}))), {kind: 'cvae', n_classes: 3});
  assert.throws(() => model.decode(0, 0, 3), /digit from 0 to 2\.$/);
  assert.throws(() => model.encode(new Float32Array(6)), /digit from 0 to 2\.$/);
});

test('a file whose layers do not fit its kind is refused in one sentence', () => {
  assert.throws(() => new MLPModel(parseSafetensors(safetensorsBytes(randomTensors())), {kind: 'cvae', n_classes: 3}),
                /does not match its kind/);
  const t = randomTensors(); delete t['fc3.weight'];
  assert.throws(() => new MLPModel(parseSafetensors(safetensorsBytes(t)), {kind: 'vae'}), /no layer fc3\.$/);
});

test("the VAE's loss terms: KL in closed form, BCE the expectation under q, their sum the negative ELBO", () => {
  const model = new MLPModel(parseSafetensors(safetensorsBytes(randomTensors({seed: 3}))), {kind: 'vae'});
  const x = Float32Array.from([1, 0, 1, 1, 0, 0]), terms = model.lossTerms(x);
  const {mu, logvar} = terms;
  const kl = [0, 1].reduce((s, d) => s + 0.5 * (mu[d] ** 2 + Math.exp(logvar[d]) - 1 - logvar[d]), 0);
  assert.ok(Math.abs(terms.kl - kl) < 1e-12);
  // Monte Carlo with 200,000 draws of z ~ q(z|x) agrees with the 3 x 3 Gauss-Hermite expectation
  const r = rng(11), normal = () => Math.sqrt(-2 * Math.log((r() + 1) / 2 + 1e-300)) * Math.cos(Math.PI * (r() + 1));
  let mc = 0; const n = 200000;
  for (let i = 0; i < n; i++) mc += model.bceAt(x, mu[0] + Math.exp(logvar[0] / 2) * normal(), mu[1] + Math.exp(logvar[1] / 2) * normal());
  mc /= n;
  assert.ok(Math.abs(terms.bce - mc) < 0.01 * Math.abs(mc) + 0.01, `${terms.bce} vs ${mc}`);
  assert.equal(terms.negElbo, terms.bce + terms.kl);
  // BCE at a point is -log p(x|z) of the Bernoulli decoder
  const p = model.decode(mu[0], mu[1]);
  const bce = Array.from(x).reduce((s, v, i) => s - (v ? Math.log(p[i]) : Math.log(1 - p[i])), 0);
  assert.ok(Math.abs(model.bceAt(x, mu[0], mu[1]) - bce) < 1e-5);
});
