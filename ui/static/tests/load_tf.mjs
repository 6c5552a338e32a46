// TensorFlow.js for node tests: the vendored UMD build (ui/static/vendor/tfjs/tf.min.js) on its CPU backend.
import {createRequire} from 'node:module';

export async function loadTf() {
  const tf = createRequire(import.meta.url)('../vendor/tfjs/tf.min.js');
  await tf.setBackend('cpu');
  return tf;
}
