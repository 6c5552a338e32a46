// The models of VAE Explorer in the visitor's page: the same maths as vae_models/mlp.py (Autoencoder,
// ConditionalVAE) on float32 weights exported by ui/explorer.py, with no library and no server.
//
//   encoder  h = relu(fc1([x, onehot(y)])),  mu = fc_mu(h),  logvar = fc_logvar(h)   (the VAE's q(z|x) = N(mu, exp(logvar)))
//   decoder  p = sigmoid(fc4(relu(fc3([z, onehot(y)]))))                                (Bernoulli means, 784 pixels)
//
// Layers are torch's nn.Linear: weight (out, in), y = x W^T + b. Sums run in float64, so the page's numbers are
// PyTorch's float32 ones to about 1e-6 (tests/test_js.py checks mu, logvar and the reconstruction against PyTorch).
// This module knows nothing of the page: parseSafetensors and MLPModel run in node as in a browser.

// safetensors: 8 bytes little-endian header length n, a JSON header {name: {dtype, shape, data_offsets}}, the data.
export function parseSafetensors(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 8) throw new Error('The model file is too short to be safetensors.');
  const n = Number(new DataView(buffer).getBigUint64(0, true));
  if (n > buffer.byteLength - 8) throw new Error('The model file is cut short: its header says more than the file holds.');
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, n)));
  } catch (e) {
    throw new Error('The model file is not safetensors: its header is not JSON.');
  }
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`The tensor ${name} is ${t.dtype}; the page reads float32 (F32) weights only.`);
    const [start, end] = t.data_offsets, count = t.shape.reduce((a, b) => a * b, 1);
    if (end - start !== 4 * count || 8 + n + end > buffer.byteLength) throw new Error(`The tensor ${name} does not fit the file.`);
    tensors[name] = {dtype: t.dtype, shape: t.shape, data: new Float32Array(buffer.slice(8 + n + start, 8 + n + end))};
  }
  return tensors;
}

function layer(tensors, name) {
  const w = tensors[name + '.weight'], b = tensors[name + '.bias'];
  if (!w || !b || w.shape.length !== 2 || b.shape[0] !== w.shape[0]) throw new Error(`The model file has no layer ${name}.`);
  return {w: w.data, b: b.data, out: w.shape[0], in: w.shape[1]};
}

// weight (out, in) -> (in, out): each input then adds one contiguous row, and inputs (or hidden units) at zero are skipped
function transpose(w, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

const softplus = v => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));

// 3 x 3 Gauss-Hermite nodes for E over N(0, 1) (probabilists' form): the VAE's expected BCE under q(z|x) in 9 decodes.
const GH = [[-Math.sqrt(3), 1 / 6], [0, 2 / 3], [Math.sqrt(3), 1 / 6]];

export class MLPModel {
  // tensors: parseSafetensors' answer; config: {kind: "ae"|"vae"|"cvae", n_classes} (n_classes 10 for the CVAE, else 0)
  constructor(tensors, config = {}) {
    this.kind = config.kind || (tensors['fc_logvar.weight'] ? 'vae' : 'ae');
    this.nClasses = config.n_classes || (this.kind === 'cvae' ? 10 : 0);
    this.isVae = this.kind !== 'ae';
    const fc1 = layer(tensors, 'fc1'), fc3 = layer(tensors, 'fc3'), fc4 = layer(tensors, 'fc4');
    this.fcMu = layer(tensors, 'fc_mu');
    this.fcLogvar = this.isVae ? layer(tensors, 'fc_logvar') : null;
    this.dataSize = fc4.out;
    this.hidden = fc1.out;
    this.latent = this.fcMu.out;
    if (fc1.in !== this.dataSize + this.nClasses || fc3.in !== this.latent + this.nClasses)
      throw new Error('The model file does not match its kind: fc1 or fc3 has the wrong number of inputs.');
    this.w1t = transpose(fc1.w, fc1.out, fc1.in); this.b1 = fc1.b;   // (data + classes, hidden)
    this.w3 = fc3.w; this.b3 = fc3.b; this.in3 = fc3.in;            // (hidden, latent + classes)
    this.w4t = transpose(fc4.w, fc4.out, fc4.in); this.b4 = fc4.b;  // (hidden, data)
    this.h = new Float64Array(this.hidden);
    this.acc = new Float64Array(this.dataSize);
  }

  checkLabel(label) {
    if (!this.nClasses) return null;
    const k = Math.round(Number(label));
    if (!(k >= 0 && k < this.nClasses)) throw new Error(`The conditional VAE needs a digit from 0 to ${this.nClasses - 1}.`);
    return k;
  }

  // x: 784 pixels in [0, 1] -> {mu, logvar} (Float64Array(latent) each; logvar null for the AE)
  encode(x, label) {
    const H = this.hidden, h = this.h, w = this.w1t, k = this.checkLabel(label);
    h.set(this.b1);
    for (let i = 0; i < this.dataSize; i++) {
      const v = x[i];
      if (v === 0) continue;
      const row = i * H;
      for (let j = 0; j < H; j++) h[j] += v * w[row + j];
    }
    if (k !== null) { const row = (this.dataSize + k) * H; for (let j = 0; j < H; j++) h[j] += w[row + j]; }
    for (let j = 0; j < H; j++) if (h[j] < 0) h[j] = 0;
    const head = fc => {
      const out = new Float64Array(fc.out);
      for (let o = 0; o < fc.out; o++) {
        let s = fc.b[o];
        const row = o * fc.in;
        for (let j = 0; j < H; j++) s += fc.w[row + j] * h[j];
        out[o] = s;
      }
      return out;
    };
    return {mu: head(this.fcMu), logvar: this.fcLogvar ? head(this.fcLogvar) : null};
  }

  // z (latent numbers, here z1, z2) -> the decoder's logits, Float64Array(784), in this.acc (overwritten next call)
  logits(z1, z2, label) {
    const H = this.hidden, O = this.dataSize, I = this.in3, acc = this.acc, k = this.checkLabel(label);
    acc.set(this.b4);
    for (let j = 0; j < H; j++) {
      let h = this.b3[j] + this.w3[j * I] * z1 + this.w3[j * I + 1] * z2;
      if (k !== null) h += this.w3[j * I + this.latent + k];
      if (h <= 0) continue;  // ReLU: about half the hidden units add nothing
      const row = j * O;
      for (let o = 0; o < O; o++) acc[o] += h * this.w4t[row + o];
    }
    return acc;
  }

  // z -> Float32Array(784) of probabilities (sigmoid of the logits)
  decode(z1, z2, label, out = new Float32Array(this.dataSize)) {
    const acc = this.logits(z1, z2, label);
    for (let o = 0; o < this.dataSize; o++) out[o] = 1 / (1 + Math.exp(-acc[o]));
    return out;
  }

  // sum_i BCE(sigmoid(logits_i), x_i) for the decoder at z, on logits as torch's binary_cross_entropy_with_logits
  bceAt(x, z1, z2, label) {
    const acc = this.logits(z1, z2, label);
    let s = 0;
    for (let i = 0; i < this.dataSize; i++) s += softplus(acc[i]) - x[i] * acc[i];
    return s;
  }

  // One input's loss terms (vae_models.elbo.loss_function): the AE's BCE at its code; the VAE's expected BCE under
  // q(z|x) (3 x 3 Gauss-Hermite: the server averages 100 random draws, so the two differ by its Monte Carlo noise),
  // KL(q(z|x) || N(0, I)) in closed form, and their sum, the negative ELBO. Also the reconstruction at the mean.
  lossTerms(x, label) {
    const {mu, logvar} = this.encode(x, label);
    const recon = this.decode(mu[0], mu[1], label);
    if (!this.isVae) return {mu, logvar, recon, bce: this.bceAt(x, mu[0], mu[1], label), kl: null, negElbo: null};
    const s1 = Math.exp(0.5 * logvar[0]), s2 = Math.exp(0.5 * logvar[1]);
    let bce = 0;
    for (const [e1, w1] of GH) for (const [e2, w2] of GH) bce += w1 * w2 * this.bceAt(x, mu[0] + s1 * e1, mu[1] + s2 * e2, label);
    let kl = 0;
    for (let d = 0; d < mu.length; d++) kl += -0.5 * (1 + logvar[d] - mu[d] * mu[d] - Math.exp(logvar[d]));
    return {mu, logvar, recon, bce, kl, negElbo: bce + kl};
  }
}

// The page's root URL (the app may sit under a path, as on a Space) + a relative URL the server gave ("vae/files/...").
export function pageUrl(relative) {
  const root = (globalThis.gradio_config && globalThis.gradio_config.root) ||
    globalThis.location.href.split(/[?#]/)[0].replace(/\/[^/]*$/, '');
  return root.replace(/\/$/, '') + '/' + relative.replace(/^\//, '');
}

// A file's bytes, once a visit: its name carries a hash of its bytes, so a stored copy is never stale; the page keeps
// it in the Cache API (where the origin allows one: https or localhost) for later visits and drops a model's older files.
const fetched = new Map();  // url -> Promise of an ArrayBuffer
export function fetchBytes(url) {
  if (!fetched.has(url)) {
    const p = (async () => {
      const store = globalThis.caches ? await caches.open('vae-explorer-files').catch(() => null) : null;
      const kept = store && await store.match(url);
      if (kept) return kept.arrayBuffer();
      const r = await fetch(url);
      if (!r.ok) throw new Error(`the server answered ${r.status} for ${url.split('/').pop()}`);
      const buffer = await r.arrayBuffer();
      if (store) {
        const stem = u => u.replace(/-[0-9a-f]{16}\.[a-z]+$/, '');
        for (const old of await store.keys()) if (stem(old.url) === stem(url) && old.url !== url) store.delete(old);
        store.put(url, new Response(buffer.slice(0))).catch(() => {});
      }
      return buffer;
    })();
    fetched.set(url, p);
    p.catch(() => fetched.delete(url));  // a failed fetch is tried again next time
  }
  return fetched.get(url);
}

// A model from its relative URL and config ({kind, n_classes}), built once a visit and shared by every view.
const models = new Map();
export function loadModel(relative, config) {
  const url = pageUrl(relative);
  if (!models.has(url)) {
    const p = fetchBytes(url).then(buffer => new MLPModel(parseSafetensors(buffer), config));
    models.set(url, p);
    p.catch(() => models.delete(url));
  }
  return models.get(url);
}

// The visitor's own model, trained in the page (the Train tab, trainer.js): it announces each new one with the event
// "vae-explorer:own-model" ({name, config, bytes, codes, labels}: codes the test digits' mu, Float32Array(N * 2),
// labels their digits, N) and keeps the latest at window.vaeExplorerOwnModel. Every view that shows it calls
// onOwnModel(callback): callback({name, model, codes, labels} or {name, error}) now if there is one, and at each new
// one. The bytes are parsed once per model, whichever views listen.
let ownCache = null;
export function ownOf(detail) {
  if (!detail || !detail.bytes) return null;
  if (!ownCache || ownCache.bytes !== detail.bytes) {
    let own;
    try {
      const {codes, labels} = detail;
      if (!(codes instanceof Float32Array) || !labels || !labels.length || codes.length !== 2 * labels.length ||
          !codes.every(Number.isFinite))
        throw new Error('its test codes did not come with it');
      own = {name: detail.name, codes, labels,
             model: new MLPModel(parseSafetensors(detail.bytes), {kind: detail.config && detail.config.kind})};
    } catch (e) {
      own = {name: detail.name, error: `Your model could not be read in the page: ${e.message}.`.replace(/\.\.$/, '.')};
    }
    ownCache = {bytes: detail.bytes, own};
  }
  return ownCache.own;
}
export function onOwnModel(callback) {
  const now = ownOf(globalThis.vaeExplorerOwnModel);
  if (now) callback(now);
  globalThis.addEventListener && globalThis.addEventListener('vae-explorer:own-model', e => {
    const own = ownOf(e.detail);
    if (own) callback(own);
  });
}
