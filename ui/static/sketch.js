// The strokes drawn on a gradio sketchpad (ImageEditor), followed in the page: gradio draws them with WebGL, whose
// pixels the page cannot read back while a stroke goes on, so this draws the same strokes (the brush's width, round
// ends, black; the eraser clears) into its own canvas of the editor's size, and hands that picture to `onFrame` once
// an animation frame during a stroke, to `onEnd` when the stroke ends, and `onClear` when the bin empties the canvas;
// `onStart` is told first whenever the picture begins to change (a stroke starts, undo, redo).
// The editor shows its canvas_size picture centred, at one screen pixel a pixel unless its box less 30 px a side is
// smaller (gradio 6.31's ImageEditor: border_padding, calculate_min_zoom); the brush's size is its radius; the
// picture is black ink on white, as the composite gradio sends. Measured against the composite gradio sends: the same 28x28 input (the browser tests).

const PADDING = 30;  // gradio's ImageEditor border_padding

export function followSketch(pad, {size = 280, brush = 14, onStart, onFrame, onEnd, onClear}) {
  const picture = document.createElement('canvas');
  picture.width = picture.height = size;
  const g = picture.getContext('2d', {willReadFrequently: true});
  const blank = () => { g.globalCompositeOperation = 'source-over'; g.fillStyle = '#fff'; g.fillRect(0, 0, size, size); };
  blank();
  const state = {strokes: 0, moves: 0, frames: 0, drawing: false, inked: false, picture};
  let last = null, pending = null, target = null;

  const tool = () => {
    const eraser = pad.querySelector('button[aria-label="Erase"]');
    return eraser && eraser.classList.contains('highlight') ? 'eraser' : 'brush';
  };
  function toPicture(e) {  // the pointer -> the picture's pixel (the editor fits the picture in its canvas, centred)
    const box = target.getBoundingClientRect(), scale = Math.min(1, (box.width - 2 * PADDING) / size, (box.height - 2 * PADDING) / size);
    return [(e.clientX - box.left - (box.width - size * scale) / 2) / scale,
            (e.clientY - box.top - (box.height - size * scale) / 2) / scale];
  }
  function segment(a, b) {
    g.strokeStyle = g.fillStyle = tool() === 'eraser' ? '#fff' : '#000'; g.lineWidth = 2 * brush - 1; g.lineCap = g.lineJoin = 'round';
    g.beginPath();
    if (a[0] === b[0] && a[1] === b[1]) { g.arc(a[0], a[1], brush - 0.5, 0, 2 * Math.PI); g.fill(); }  // a click: a line of no length draws nothing
    else { g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke(); }
    if (tool() !== 'eraser') state.inked = true;
  }
  const pixels = () => g.getImageData(0, 0, size, size);
  function frame() {
    pending = null;
    state.frames++;
    onFrame && onFrame(pixels(), state);
  }

  // the editor's undo and redo go back and forth by whole strokes: the picture before each stroke is kept
  const undo = [], redo = [];
  pad.addEventListener('pointerdown', e => {
    if (e.button !== 0 || !(e.target instanceof HTMLCanvasElement)) return;
    target = e.target;
    undo.push(pixels()); redo.length = 0;
    if (undo.length > 50) undo.shift();
    state.drawing = true; state.strokes++;
    onStart && onStart(state);
    last = toPicture(e);
    segment(last, last);
    if (pending === null) pending = requestAnimationFrame(frame);
  }, true);
  window.addEventListener('pointermove', e => {
    if (!state.drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of events.length ? events : [e]) { const p = toPicture(c); segment(last, p); last = p; }
    state.moves++;
    if (pending === null) pending = requestAnimationFrame(frame);
  }, true);
  const end = () => {
    if (!state.drawing) return;
    state.drawing = false;
    if (pending !== null) { cancelAnimationFrame(pending); pending = null; }
    onFrame && onFrame(pixels(), state);
    onEnd && onEnd(pixels(), state);
  };
  window.addEventListener('pointerup', end, true);
  window.addEventListener('pointercancel', end, true);
  pad.addEventListener('click', e => {  // the bin, undo and redo: gradio changes its canvas, and so does this
    const button = e.target.closest && e.target.closest('button');
    const name = button ? (button.getAttribute('aria-label') || button.title || '') : '';
    if (/clear/i.test(name)) {
      undo.push(pixels()); redo.length = 0;
      blank(); state.inked = false;
      onClear && onClear(state);
    } else if (/^undo/i.test(name) || /^redo/i.test(name)) {
      const [from, to] = /^undo/i.test(name) ? [undo, redo] : [redo, undo];
      if (!from.length) return;
      to.push(pixels());
      g.putImageData(from.pop(), 0, 0);
      onStart && onStart(state);
      onFrame && onFrame(pixels(), state);
      onEnd && onEnd(pixels(), state);
    }
  }, true);
  return state;
}
