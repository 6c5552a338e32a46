// The page's preprocessing on drawings Python also reads (tests/test_js.py): node run_preprocess.mjs RGBA N W H
// RGBA: N drawings of W x H RGBA bytes. Prints JSON: for each, 784 0/1 values, or the sentence for an empty canvas.
import {readFileSync} from 'node:fs';
import {preprocessDrawing} from '../preprocess.js';

const [file, n, w, h] = process.argv.slice(2), [N, W, H] = [n, w, h].map(Number), bytes = readFileSync(file);
const out = [];
for (let i = 0; i < N; i++) {
  try {
    out.push(Array.from(preprocessDrawing(bytes.subarray(i * W * H * 4, (i + 1) * W * H * 4), W, H)));
  } catch (e) {
    out.push(e.message);
  }
}
process.stdout.write(JSON.stringify(out));
