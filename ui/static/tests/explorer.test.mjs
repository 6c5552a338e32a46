// node --test ui/static/tests/ : the latent explorer's maths without a page (explorer.js), and how the visitor's own
// model reaches it (model.js's ownOf). What needs a page (the map drawn, the buttons): tests/test_training.py.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {codeRange, codesMap, gridSpan, gridTitle, ticks, toLatent, toPixel} from '../explorer.js';
import {ownOf} from '../model.js';
import {safetensors} from '../trainer.js';

// the codes of a page-trained AE after one epoch: an arm reaching z2 = -10, far outside the VAE's [-2, 2]^2
const AE_CODES = Float32Array.from(Array.from({length: 200}, (_, i) => [0.02 * i - 1, -0.05 * i]).flat());

test("the map's range holds the codes, with a margin", () => {
  const codes = Float32Array.from([-5, 4, 11, -12, 0, 0, 3, 2]);
  const [[x0, x1], [y0, y1]] = codeRange(codes);
  assert.ok(x0 < -5 && x1 > 11 && y0 < -12 && y1 > 4);
});

test('ticks are round values inside the axis, 1, 2 or 5 times a power of ten apart', () => {
  assert.deepEqual(ticks(-2.3, 2.3), [-2, -1, 0, 1, 2]);
  assert.deepEqual(ticks(-10.9, 0.2), [-10, -8, -6, -4, -2, 0]);
  assert.deepEqual(ticks(0.01, 0.26), [0.05, 0.1, 0.15, 0.2, 0.25]);
});

test("a map drawn in the page maps its box's corners to its axes' limits, and back", () => {
  const d = codesMap(AE_CODES, 440, 440, 15), [l, t, r, b] = d.box;
  assert.ok(l > 0 && t > 0 && r < 440 && b < 440 && l < r && t < b);
  assert.deepEqual(toLatent(d, l, b), [d.xlim[0], d.ylim[0]]);
  assert.deepEqual(toLatent(d, r, t), [d.xlim[1], d.ylim[1]]);
  for (const z of [[0, -5], [0.5, -9.5], [-0.9, 0]]) {
    const back = toLatent(d, ...toPixel(d, ...z));
    assert.ok(Math.abs(back[0] - z[0]) < 1e-9 && Math.abs(back[1] - z[1]) < 1e-9);
  }
  assert.deepEqual(toLatent(d, -100, 1e4), [d.xlim[0], d.ylim[0]]);  // off the map: clamped to the axes
});

test("the visitor's model's grid spans its own codes, a shipped model's [-r, r]^2", () => {
  const own = {...codesMap(AE_CODES, 440, 440, 15), own: true, model: 'your AE, 1 epoch'};
  const [[x0, x1], [y0, y1]] = gridSpan(own, [20, 2]);
  assert.ok(y0 < -9.9 && y1 > 0 && x0 < -1 && x1 > 2.9);  // z2 = -10 is on its grid, not [-2, 2]
  assert.deepEqual(gridSpan({model: 'VAE', xlim: [-3, 3], ylim: [-3, 3]}, [20, 2]), [[-2, 2], [-2, 2]]);
  const title = gridTitle(own, [20, 2]);
  assert.match(title, /^your AE, 1 epoch: decoded grid, 20 x 20 over its codes' range, z1 from -1\.\d to 3\.\d .*z2 from -10\.\d to 0\.\d/);
  assert.equal(gridTitle({model: 'VAE'}, [20, 2]), 'VAE: decoded grid, 20 x 20 over [-2, 2]\u00b2 (z1 to the right, z2 upwards)');
  assert.match(gridTitle({model: 'CVAE'}, [15, 2], 7), /as the digit 7/);
});

function tinyAe() {  // an AE of the project's layers, smaller (data 4, hidden 3, latent 2)
  const t = (shape, v) => ({shape, data: Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, (_, i) => v * ((i % 3) - 1))});
  return safetensors({'fc1.weight': t([3, 4], 0.5), 'fc1.bias': t([3], 0.1), 'fc_mu.weight': t([2, 3], 0.3),
                      'fc_mu.bias': t([2], 0.2), 'fc3.weight': t([3, 2], 0.4), 'fc3.bias': t([3], 0.1),
                      'fc4.weight': t([4, 3], 0.6), 'fc4.bias': t([4], 0.2)});
}

test("the visitor's model comes with its test codes and labels, which its map is drawn from", () => {
  const bytes = tinyAe(), labels = Uint8Array.from({length: 200}, (_, i) => i % 10);
  const own = ownOf({name: 'your AE, 1 epoch', config: {kind: 'ae'}, bytes, codes: AE_CODES, labels});
  assert.equal(own.error, undefined);
  assert.equal(own.model.kind, 'ae');
  assert.equal(own.codes, AE_CODES);
  assert.equal(own.labels, labels);
  // without its codes it cannot be mapped: one sentence, no model
  const bare = ownOf({name: 'your AE, 1 epoch', config: {kind: 'ae'}, bytes: tinyAe()});
  assert.equal(bare.model, undefined);
  assert.equal(bare.error, 'Your model could not be read in the page: its test codes did not come with it.');
});
