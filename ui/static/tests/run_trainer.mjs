// node run_trainer.mjs WEIGHTS.safetensors KIND BETA X.bin EPS.bin STEPS OUT.safetensors
// (for tests/test_js.py): the page's trainer started from WEIGHTS, the losses of the first batch, then STEPS Adam
// steps on the batch X (B x 784 float32) with the noise EPS (STEPS x B x 2 float32); prints the losses of every step as
// JSON and writes the weights after them to OUT.
// node run_trainer.mjs epoch SUBSET.safetensors N_TRAIN SEED: one epoch over N_TRAIN digits; prints the test loss
// before and after it as JSON.
import {readFileSync, writeFileSync} from 'node:fs';
import {parseSafetensors} from '../model.js';
import {Trainer, readSubset, runEpochs, DATA_SIZE} from '../trainer.js';
import {loadTf} from './load_tf.mjs';

const tf = await loadTf();
const bytes = p => { const b = readFileSync(p); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
const args = process.argv.slice(2);
if (args[0] === 'epoch') {
  const data = readSubset(bytes(args[1]));
  const trainer = new Trainer(tf, {kind: 'vae', seed: Number(args[3])});
  const before = await trainer.evaluate(data.test.x);
  let row = null;
  for await (const u of runEpochs(trainer, data, {epochs: 1, nTrain: Number(args[2])})) if (u.type === 'epoch') row = u;
  console.log(JSON.stringify({before, after: {loss: row.test_loss, bce: row.test_bce, kld: row.test_kld}, seconds: row.seconds}));
} else {
  const [weightsPath, kind, beta, xPath, epsPath, steps, out] = args;
  const weights = parseSafetensors(bytes(weightsPath));
  const trainer = new Trainer(tf, {kind, beta: Number(beta), weights});
  const x = new Float32Array(bytes(xPath)), eps = new Float32Array(bytes(epsPath)), b = x.length / DATA_SIZE;
  const losses = [];
  for (let s = 0; s < Number(steps); s++) losses.push(await trainer.step(x, eps.slice(s * b * 2, (s + 1) * b * 2)));
  writeFileSync(out, new Uint8Array(await trainer.safetensorsBytes()));
  console.log(JSON.stringify({losses}));
}
