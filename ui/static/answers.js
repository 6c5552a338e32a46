// Which input the server's views belong to (Reconstruct's true posterior and every-model row, the CVAE's p(y|x)).
// The page changes its input by itself (a stroke starts, undo, redo, the bin) and asks the server only when a stroke
// ends or a file is uploaded; the server's answers come back later, and not always in order (uploads and strokes run
// side by side). So every input the page shows gets a number, `seq`, sent with each request and echoed in the answer,
// and an answer is taken only when it carries the number of the input now shown: a slow answer to an older input is
// dropped, never drawn over a newer one. The server's views are then in one of four states:
//   'current'  they describe the input now shown;
//   'drawing'  a stroke is being drawn: they are greyed, and asked for when it ends;
//   'updating' they were asked for the input now shown: greyed until the answer comes;
//   'empty'    nothing is to come for this input (an empty canvas, a mark too small, an unreadable upload): hidden;
//   'overwritten' an older answer came after the current one, and gradio drew it into the views: the page asks again.
// This module knows nothing of the page (node --test ui/static/tests/answers.test.mjs).

export class Answers {
  constructor() {
    this.seq = 0;         // the input now shown (0: the one the page opened with)
    this.status = 'empty';
    this.asked = -1;      // the input of the latest request, and what kind of request it was
    this.askedBy = null;  // 'stroke' or 'upload'
    this.dropped = 0;     // answers to an older input, not shown (for tests and the bench)
  }

  // the page's input changes: drawing = a stroke has started (or undo, redo: a picture follows at once), else the
  // input is gone (the bin). Returns the new input's number.
  change(drawing) {
    this.seq++;
    this.status = drawing ? 'drawing' : 'empty';
    return this.seq;
  }

  // the input now shown will have no server views (the stroke left nothing readable)
  none() { this.status = 'empty'; }

  // a request for the server's views of the input now shown (by: 'stroke' or 'upload'); returns its number
  ask(by) {
    this.asked = this.seq; this.askedBy = by; this.status = 'updating';
    return this.seq;
  }

  // an upload starts: a new input, asked for at once
  upload() {
    this.change(false);
    return this.ask('upload');
  }

  // Is the server's value v the answer for the input now shown? v.seq: the number it answers; v.failed ('stroke' or
  // 'upload'): the request failed, and the server cannot say which one, so it answers the latest request if that
  // request was of that kind and for the input now shown. The status follows an answer taken.
  accept(v) {
    const taken = v.failed ? this.asked === this.seq && this.askedBy === v.failed : v.seq === this.seq;
    if (!taken) {
      this.dropped++;
      if (this.status === 'current') this.status = 'overwritten';
      return false;
    }
    this.status = v.x ? 'current' : 'empty';
    return true;
  }
}
