// The row of every model (Reconstruct, ui/reconstruct.every_model) on a narrow screen. The server sends one picture
// of n square cells, a digit and its caption each (ui/pictures.labelled_strip). Drawn at the width of a phone, the
// whole row would shrink its captions below 11 px; there it is cut here into its cells, laid out in as few rows as
// keep every caption readable (7 cells: 4 + 3). Where the row fits, the picture is shown as it is.

// the smallest scale a cell is drawn at: labelled_strip's 22 px captions at 11 px
export const MIN_SCALE = 0.5;

// A picture of square cells, w x h pixels, in a box `box` CSS pixels wide -> {n: its cells, perRow: cells a row}
// (perRow === n: one row, the picture as it is).
export function layout(w, h, box, minScale = MIN_SCALE) {
  const n = Math.max(1, Math.round(w / h));
  const fit = Math.max(1, Math.floor(box / (h * minScale)));
  if (fit >= n) return {n, perRow: n};
  const rows = Math.ceil(n / fit);
  return {n, perRow: Math.ceil(n / rows)};  // the rows as even as they go: 4 + 3, not 5 + 2
}

function uncut(block) {
  const cells = block.querySelector('.strip-cells');
  if (cells) cells.remove();
  block.classList.remove('strip-cut');
}

// The block of a gr.Image showing such a picture: cut it into rows when its width asks for it, else show it whole.
export function cutStrip(block) {
  const img = block.querySelector('.image-frame img'), box = block.clientWidth;
  if (!box) return;  // in a hidden tab: decided when it is shown
  if (!img || !img.complete || !img.naturalWidth) return uncut(block);
  const {n, perRow} = layout(img.naturalWidth, img.naturalHeight, box);
  if (perRow >= n) return uncut(block);
  const key = `${perRow} ${img.currentSrc || img.src}`;
  let cells = block.querySelector('.strip-cells');
  if (cells && cells.dataset.key === key && cells.parentElement === img.parentElement) return;
  if (cells) cells.remove();
  cells = document.createElement('div');
  cells.className = 'strip-cells';
  cells.dataset.key = key;
  cells.setAttribute('role', 'img');
  cells.setAttribute('aria-label', img.alt || 'every model\u2019s reconstruction');
  cells.style.gridTemplateColumns = `repeat(${perRow}, minmax(0, 1fr))`;
  const side = img.naturalHeight;
  for (let i = 0; i < n; i++) {
    const c = Object.assign(document.createElement('canvas'), {width: side, height: side});
    c.getContext('2d').drawImage(img, i * side, 0, side, side, 0, 0, side, side);
    cells.appendChild(c);
  }
  img.after(cells);
  block.classList.add('strip-cut');
}

// Keep the block found by `selector` cut to its width: when its picture loads or changes, and when it is resized
// (a turned phone, a tab shown).
export function watchStrip(selector) {
  let queued = false, watched = null;
  const resized = new ResizeObserver(() => soon());
  function update() {
    queued = false;
    const block = document.querySelector(selector);
    if (!block) return;
    if (block !== watched) { resized.disconnect(); resized.observe(block); watched = block; }
    cutStrip(block);
  }
  function soon() { if (!queued) { queued = true; requestAnimationFrame(update); } }
  document.addEventListener('load', e => { if (e.target.closest && e.target.closest(selector)) soon(); }, true);
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ['src']});
  soon();
}
