// node --test ui/static/tests/: the page's trainer (trainer.js) without a page, on TensorFlow.js's CPU backend.
// Its maths against PyTorch: tests/test_js.py.
import test from 'node:test';
import assert from 'node:assert/strict';
import {MLPModel, parseSafetensors} from '../model.js';
import {Trainer, readSubset, runEpochs, safetensors, random, BATCH_SIZE} from '../trainer.js';
import {modelName, modelZip} from '../train_view.js';
import {unzipSync} from '../vendor/fflate/browser.js';
import {loadTf} from './load_tf.mjs';

const tf = await loadTf();

// a packed subset as train/mnist.pack_subset writes it: U8 bits (N, 98), 8 pixels a byte, the first pixel the high bit
function packedSubset(images, labels) {
  const head = {}, parts = [];
  let offset = 0;
  for (const split of ['train', 'test']) {
    const bits = new Uint8Array(images.length * 98);
    images.forEach((img, i) => img.forEach((v, p) => { if (v) bits[i * 98 + (p >> 3)] |= 0x80 >> (p & 7); }));
    for (const [name, data, shape] of [[`${split}_bits`, bits, [images.length, 98]], [`${split}_labels`, Uint8Array.from(labels), [labels.length]]]) {
      head[name] = {dtype: 'U8', shape, data_offsets: [offset, offset + data.length]};
      parts.push(data);
      offset += data.length;
    }
  }
  const text = new TextEncoder().encode(JSON.stringify(head)), out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out.buffer;
}

const digits = n => Array.from({length: n}, (_, i) => Array.from({length: 784}, (_, p) => ((p * 7 + i * 13) % 5 === 0 ? 1 : 0)));

test('the packed subset unpacks pixel for pixel, in np.packbits order', () => {
  const images = digits(3);
  const data = readSubset(packedSubset(images, [4, 0, 9]));
  assert.equal(data.train.n, 3);
  assert.deepEqual(Array.from(data.train.x.subarray(784, 2 * 784)), images[1]);
  assert.deepEqual(Array.from(data.test.y), [4, 0, 9]);
  assert.throws(() => readSubset(new ArrayBuffer(4)), /too short/);
});

test("the trainer's safetensors are read by the page's model, which encodes as the trainer does", async () => {
  const trainer = new Trainer(tf, {kind: 'vae', seed: 5});
  const bytes = await trainer.safetensorsBytes();
  const tensors = parseSafetensors(bytes);
  assert.deepEqual(Object.keys(tensors).sort(), ['fc1.bias', 'fc1.weight', 'fc3.bias', 'fc3.weight', 'fc4.bias', 'fc4.weight',
                                                 'fc_logvar.bias', 'fc_logvar.weight', 'fc_mu.bias', 'fc_mu.weight']);
  assert.deepEqual(tensors['fc1.weight'].shape, [512, 784]);
  const model = new MLPModel(tensors, trainer.config());
  const x = Float32Array.from(digits(1)[0]), mu = await trainer.codes(x), page = model.encode(x).mu;
  for (let d = 0; d < 2; d++) assert.ok(Math.abs(mu[d] - page[d]) < 1e-4 * (1 + Math.abs(page[d])), `${mu[d]} vs ${page[d]}`);
  assert.equal(new DataView(bytes).getBigUint64(0, true) % 8n, 0n);  // the header padded as safetensors pads it
  trainer.dispose();
});

test('an AE has no fc_logvar, no KL, and its name says AE', async () => {
  const trainer = new Trainer(tf, {kind: 'ae', seed: 1});
  assert.ok(!('fc_logvar.weight' in parseSafetensors(await trainer.safetensorsBytes())));
  const s = await trainer.step(Float32Array.from(digits(4).flat()));
  assert.equal(s.kld, 0);
  assert.equal(s.loss, s.bce);
  assert.equal(modelName('ae', '1', 1), 'your AE, 1 epoch');
  assert.equal(modelName('vae', '0.5', 3), 'your VAE (beta 0.5), 3 epochs');
  assert.equal(modelName('vae', '1', 2), 'your VAE, 2 epochs');
  trainer.dispose();
});

test('the same seed gives the same weights; another seed others', async () => {
  const w = async seed => { const t = new Trainer(tf, {seed}); const b = new Float32Array(await t.safetensorsBytes()); t.dispose(); return b; };
  const [a, b, c] = [await w(3), await w(3), await w(4)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const u = random(0);
  assert.ok(Array.from({length: 1000}, u).every(v => v >= 0 && v < 1));
});

test('Stop ends the run before the next mini-batch, and no row is given for the unfinished epoch', async () => {
  const data = readSubset(packedSubset(digits(5 * BATCH_SIZE), Array(5 * BATCH_SIZE).fill(1)));
  const trainer = new Trainer(tf, {seed: 0});
  const seen = [];
  let stopAfter = 2;
  for await (const u of runEpochs(trainer, data, {epochs: 3, nTrain: 5 * BATCH_SIZE, stop: () => trainer.steps >= stopAfter})) seen.push(u);
  assert.equal(trainer.steps, 2);
  assert.deepEqual(seen.map(u => u.type), ['progress', 'progress']);
  assert.equal(seen[1].seen, 2 * BATCH_SIZE);
  trainer.dispose();
});


test("Download's zip holds the model's folder: config.json and the two safetensors, byte for byte", async () => {
  const trainer = new Trainer(tf, {kind: 'ae', seed: 5});
  const weights = await trainer.safetensorsBytes();
  const latents = safetensors({mu: {shape: [2, 2], data: new Float32Array([1, 2, 3, 4])},
                               labels: {shape: [2], data: new Uint8Array([7, 1])}});
  const files = unzipSync(modelZip('mnist-ae', trainer.config(), weights, latents));
  assert.deepEqual(Object.keys(files).filter(n => !n.endsWith('/')).sort(),
                   ['mnist-ae/config.json', 'mnist-ae/model.safetensors', 'mnist-ae/test_latents.safetensors']);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(files['mnist-ae/config.json'])), trainer.config());
  assert.deepEqual(files['mnist-ae/model.safetensors'], new Uint8Array(weights));
  assert.deepEqual(files['mnist-ae/test_latents.safetensors'], new Uint8Array(latents));
});
