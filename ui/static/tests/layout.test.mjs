// node --test ui/static/tests/: the pure parts of the page's layout fixes (strip.js, tables.js) and of its checks of
// a typed seed (train_view.js, samples.js); the page itself: tests/test_page_layout.py in chromium.
import test from 'node:test';
import assert from 'node:assert/strict';
import {layout, MIN_SCALE} from '../strip.js';
import {scrolls} from '../tables.js';
import {whole} from '../train_view.js';
import {validSeed} from '../samples.js';

const CELL = 116;  // labelled_strip's square cell, in the picture's pixels

test('the row of every model stays one row where its captions read at 11 px or more', () => {
  assert.deepEqual(layout(7 * CELL, CELL, 600), {n: 7, perRow: 7});  // the Reconstruct column at 1400 px
  assert.deepEqual(layout(7 * CELL, CELL, 7 * CELL * MIN_SCALE), {n: 7, perRow: 7});
});

test('on a phone it wraps into as few rows as keep the captions readable, as even as they go', () => {
  assert.deepEqual(layout(7 * CELL, CELL, 300), {n: 7, perRow: 4});  // 4 + 3, each cell 75 px: captions at 14 px
  assert.deepEqual(layout(8 * CELL, CELL, 300), {n: 8, perRow: 4});
  assert.deepEqual(layout(7 * CELL, CELL, 150), {n: 7, perRow: 2});
  for (const box of [120, 200, 300, 400, 500]) {
    const {perRow} = layout(7 * CELL, CELL, box);
    assert.ok(box / perRow >= CELL * MIN_SCALE, `${box} px: ${perRow} a row`);  // each cell half its size or more
  }
  assert.deepEqual(layout(7 * CELL, CELL, 10), {n: 7, perRow: 1});  // never none a row
});

test('a table scrolls when its content is wider than its box, and a hidden one does not', () => {
  assert.equal(scrolls({clientWidth: 324, scrollWidth: 733}), true);
  assert.equal(scrolls({clientWidth: 324, scrollWidth: 325}), false);  // a rounding pixel
  assert.equal(scrolls({clientWidth: 0, scrollWidth: 0}), false);
});

test("the Train tab's seed box refuses with the server's sentence (ui/inputs.number)", () => {
  assert.equal(whole('7', 0, 4294967295, 'The seed'), 7);
  assert.equal(whole('4294967295', 0, 4294967295, 'The seed'), 4294967295);
  for (const [text, shown] of [['4294967296', '4294967296'], ['-1', '-1'], ['2.5', '2.5'], ['', 'nothing'],
                               ['1'.repeat(25), '1'.repeat(19) + '\u2026']]) {
    assert.throws(() => whole(text, 0, 4294967295, 'The seed'),
                  {message: `The seed must be a whole number from 0 to 4294967295, not ${shown}.`});
  }
});

test("the Sample tab draws the visitor's model only with a seed the server takes", () => {
  assert.ok(validSeed('0', '4294967295') && validSeed('4294967295', '4294967295'));
  for (const text of ['4294967296', '-1', '1e30', '2.5', '', 'x']) assert.ok(!validSeed(text, '4294967295'), text);
});
