// node --test ui/static/tests/ : answers.js, which input the server's views belong to, through what a visitor does
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {Answers} from '../answers.js';

const X = 'f'.repeat(196);  // an answer's input (its value, as the server sends it)

function drawn(a) {  // a stroke drawn and ended: a new input, asked for; returns the number the request carries
  a.change(true);
  return a.ask('stroke');
}

test('the page opens empty and takes the answer for the example it opens with', () => {
  const a = new Answers();
  assert.equal(a.accept({seq: 0, x: null, message: 'Draw a digit, or upload one.'}), true);
  assert.equal(a.status, 'empty');
  assert.equal(a.accept({seq: 0, x: X}), true);
  assert.equal(a.status, 'current');
});

test('a stroke greys the views while it is drawn, and while its answer is on its way', () => {
  const a = new Answers();
  a.accept({seq: 0, x: X});
  a.change(true);
  assert.equal(a.status, 'drawing');
  const seq = a.ask('stroke');
  assert.equal(a.status, 'updating');
  assert.equal(a.accept({seq, x: X}), true);
  assert.equal(a.status, 'current');
});

test('after the bin or an undo to an empty canvas the views are empty, and the late answer is dropped', () => {
  for (const emptied of [a => a.change(false), a => { a.change(true); a.none(); }]) {
    const a = new Answers();
    const seq = drawn(a);
    emptied(a);
    assert.equal(a.status, 'empty');
    assert.equal(a.accept({seq, x: X}), false);
    assert.equal(a.status, 'empty');
    assert.equal(a.dropped, 1);
  }
});

test('a new stroke started before the answer to the last one: that answer is dropped, the views stay greyed', () => {
  const a = new Answers();
  const first = drawn(a);
  a.change(true);
  assert.equal(a.accept({seq: first, x: X}), false);
  assert.equal(a.status, 'drawing');
  const second = a.ask('stroke');
  assert.equal(a.accept({seq: second, x: X}), true);
  assert.equal(a.status, 'current');
});

test('an older answer arriving after the current one is dropped and the page is told to ask again', () => {
  const a = new Answers();
  const upload = a.upload();  // a slow upload ...
  const stroke = drawn(a);    // ... then a stroke, answered first
  assert.equal(a.accept({seq: stroke, x: X}), true);
  assert.equal(a.accept({seq: upload, x: X}), false);
  assert.equal(a.status, 'overwritten');  // gradio drew the older pictures: the page asks again
  assert.equal(a.ask('stroke'), stroke);
  assert.equal(a.accept({seq: stroke, x: X}), true);
  assert.equal(a.status, 'current');
});

test('an unreadable upload empties the views; a failure answers only the latest request, of its kind', () => {
  const a = new Answers();
  drawn(a);
  a.upload();
  assert.equal(a.accept({failed: 'upload', x: null, message: 'No results'}), true);
  assert.equal(a.status, 'empty');
  const b = new Answers();
  b.upload();
  const stroke = drawn(b);  // the upload fails after a stroke was asked for: the failure is not the stroke's
  assert.equal(b.accept({failed: 'upload', x: null}), false);
  assert.equal(b.accept({seq: stroke, x: X}), true);
});

test('each upload is a new input: the answer to an earlier upload is dropped', () => {
  const a = new Answers();
  const first = a.upload(), second = a.upload();
  assert.equal(second, first + 1);
  assert.equal(a.accept({seq: first, x: X}), false);
  assert.equal(a.status, 'updating');
  assert.equal(a.accept({seq: second, x: X}), true);
});
