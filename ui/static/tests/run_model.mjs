// The page's model on inputs PyTorch also sees (tests/test_js.py): node run_model.mjs WEIGHTS KIND N_CLASSES INPUTS LABELS
// INPUTS: float32 little-endian (n, 784); LABELS: int32 (n,) (ignored unless N_CLASSES > 0). Prints JSON
// {mu: [[2]...], logvar: [[2]...] | null, recon: [[784]...]}: the same file read as in the page (model.js).
import {readFileSync} from 'node:fs';
import {MLPModel, parseSafetensors} from '../model.js';

const [weights, kind, nClasses, inputs, labels] = process.argv.slice(2);
const buffer = b => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
const model = new MLPModel(parseSafetensors(buffer(readFileSync(weights))), {kind, n_classes: Number(nClasses)});
const x = new Float32Array(buffer(readFileSync(inputs))), y = new Int32Array(buffer(readFileSync(labels)));
const out = {mu: [], logvar: [], recon: []};
for (let i = 0; i < x.length / 784; i++) {
  const label = model.nClasses ? y[i] : undefined, {mu, logvar} = model.encode(x.subarray(784 * i, 784 * (i + 1)), label);
  out.mu.push(Array.from(mu));
  out.logvar.push(logvar && Array.from(logvar));
  out.recon.push(Array.from(model.decode(mu[0], mu[1], label)));
}
process.stdout.write(JSON.stringify(out));
