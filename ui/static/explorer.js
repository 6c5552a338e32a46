// The latent explorer (ui/explorer.py's component): a model's map of test codes; the digit under the pointer (or a
// finger) is decoded in the page at every frame, with no request. A click, or a finger lifted, pins the point and
// fires "pin" to the server (the z1, z2 sliders follow). The sliders call explorer.pin / setGrid / setLabel.
// The visitor's own model (trained in the page, model.js's onOwnModel) is shown here too, on its own map of its
// test codes drawn in the page (drawMap), over the range of those codes.
import {loadModel, onOwnModel, pageUrl} from './model.js';

const TEMPLATE = `
  <div class="lx-map">
    <img class="lx-map-img" alt="">
    <canvas class="lx-over" aria-label="move the pointer over the map to decode the point under it; click to pin it"></canvas>
  </div>
  <div class="lx-side">
    <div class="lx-which" role="group" aria-label="the model shown in this view" hidden>
      <span class="lx-which-label">shown here:</span>
      <button type="button" class="lx-shipped" aria-pressed="true"></button>
      <button type="button" class="lx-own" aria-pressed="false"></button>
    </div>
    <div class="lx-title lx-digit-title">decoded in your browser</div>
    <canvas class="lx-digit" width="28" height="28" aria-label="the decoded digit"></canvas>
    <div class="lx-z" aria-live="off">z = (0.00, 0.00)</div>
    <div class="lx-pin">pinned: (0.00, 0.00)</div>
    <div class="lx-note">Hover or drag a finger over the map; click to pin the point.</div>
  </div>
  <div class="lx-grid-box">
    <div class="lx-title lx-grid-title">decoded grid</div>
    <canvas class="lx-grid" width="602" height="602" aria-label="the decoded grid"></canvas>
  </div>`;

const HOVER_NOTE = 'Hover or drag a finger over the map; click to pin the point.';
const TAB10 = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

// A 28x28 picture of probabilities (or grey levels in [0, 1]) into an ImageData's pixels at (left, top)
export function paint(img, width, p, left = 0, top = 0) {
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const q = 4 * ((top + y) * width + left + x), v = Math.round(255 * p[y * 28 + x]);
    img.data[q] = img.data[q + 1] = img.data[q + 2] = v; img.data[q + 3] = 255;
  }
}

// The map's picture pixel <-> z, as pictures.LatentMap (to_latent clamps to the axes)
export function toLatent(d, px, py) {
  const [l, t, r, b] = d.box;
  const z1 = d.xlim[0] + (px - l) / (r - l) * (d.xlim[1] - d.xlim[0]);
  const z2 = d.ylim[0] + (b - py) / (b - t) * (d.ylim[1] - d.ylim[0]);
  return [Math.min(Math.max(z1, d.xlim[0]), d.xlim[1]), Math.min(Math.max(z2, d.ylim[0]), d.ylim[1])];
}
export function toPixel(d, z1, z2) {
  const [l, t, r, b] = d.box;
  return [l + (z1 - d.xlim[0]) / (d.xlim[1] - d.xlim[0]) * (r - l), b - (z2 - d.ylim[0]) / (d.ylim[1] - d.ylim[0]) * (b - t)];
}

// codes: Float32Array(N * 2) of (z1, z2) -> [[lo, hi] of z1, [lo, hi] of z2] over the 0.5th to 99.5th percentile,
// padded: the axes of a map drawn in the page, and the range of the visitor's model's grid
export function codeRange(codes) {
  const out = [];
  for (let d = 0; d < 2; d++) {
    const v = Array.from({length: codes.length / 2}, (_, i) => codes[i * 2 + d]).sort((a, b) => a - b);
    const lo = v[Math.floor(0.005 * (v.length - 1))], hi = v[Math.ceil(0.995 * (v.length - 1))], pad = 0.08 * (hi - lo) + 0.1;
    out.push([lo - pad, hi + pad]);
  }
  return out;
}

// About `count` round values (1, 2 or 5 times a power of ten apart) in [lo, hi]: an axis's ticks
export function ticks(lo, hi, count = 5) {
  const raw = (hi - lo) / count, power = 10 ** Math.floor(Math.log10(raw)), f = raw / power;
  const step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power, out = [];
  for (let k = Math.ceil(lo / step); k * step <= hi; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

// A map of codes drawn in the page (width x height pixels, text `font` px): the plot's pixel box [left, top, right,
// bottom] and its axes' limits (codeRange), which toLatent and toPixel read, as the server's maps' descriptions
export function codesMap(codes, width, height, font = 12) {
  const [xlim, ylim] = codeRange(codes), margin = Math.round(3.2 * font);
  return {width, height, font, box: [margin, Math.round(1.8 * font), width - 8, height - margin], xlim, ylim};
}

// The codes (N * 2) coloured by their digits' labels (N) on `canvas`, with axes, ticks, a legend and a title
// -> the layout drawn (codesMap)
export function drawMap(canvas, codes, labels, title, d = codesMap(codes, canvas.width, canvas.height)) {
  const g = canvas.getContext('2d'), [l, t, r, b] = d.box, font = d.font, dot = Math.max(3, Math.round(font / 4));
  g.fillStyle = '#fff'; g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = `${font}px sans-serif`; g.fillStyle = '#333'; g.strokeStyle = '#999'; g.lineWidth = 1;
  g.strokeRect(l, t, r - l, b - t);
  g.textAlign = 'center'; g.textBaseline = 'top';
  for (const v of ticks(...d.xlim)) {
    const x = toPixel(d, v, d.ylim[0])[0];
    g.beginPath(); g.moveTo(x, b); g.lineTo(x, b + 4); g.stroke(); g.fillText(String(v), x, b + 5);
  }
  g.textAlign = 'right'; g.fillText('z1', r, b + 7 + font);
  g.textBaseline = 'middle';
  for (const v of ticks(...d.ylim)) {
    const y = toPixel(d, d.xlim[0], v)[1];
    g.beginPath(); g.moveTo(l - 4, y); g.lineTo(l, y); g.stroke(); g.fillText(String(v), l - 6, y);
  }
  g.save(); g.translate(0, (t + b) / 2); g.rotate(-Math.PI / 2); g.textAlign = 'center'; g.textBaseline = 'top';
  g.fillText('z2', 0, 1); g.restore();
  g.save(); g.beginPath(); g.rect(l, t, r - l, b - t); g.clip();
  for (let i = 0; i < labels.length; i++) {
    const [x, y] = toPixel(d, codes[2 * i], codes[2 * i + 1]);
    g.fillStyle = TAB10[labels[i]]; g.fillRect(x - dot / 2, y - dot / 2, dot, dot);
  }
  g.restore();
  g.textAlign = 'left'; g.textBaseline = 'bottom'; g.fillStyle = '#333'; g.fillText(title, l, t - 3);
  g.textBaseline = 'middle';
  g.fillStyle = 'rgba(255,255,255,0.8)'; g.fillRect(r - 2.4 * font, t + 2, 2.4 * font - 1, 10 * (font + 2) + 8);
  TAB10.forEach((c, k) => {
    const y = t + 6 + (k + 0.5) * (font + 2);
    g.fillStyle = c; g.fillRect(r - 2 * font, y - font / 3, 2 * font / 3, 2 * font / 3);
    g.fillStyle = '#333'; g.fillText(String(k), r - font, y);
  });
  return d;
}

// The decoded grid's span: [-r, r]^2 for a shipped model, the axes of its map (its codes' range) for the visitor's own
export function gridSpan(desc, grid) {
  if (desc && desc.own) return [desc.xlim, desc.ylim];
  const r = grid[1];
  return [[-r, r], [-r, r]];
}
export function gridTitle(desc, grid, label) {
  const n = grid[0], f = v => v.toFixed(1);
  if (desc && desc.own) {
    const [[x0, x1], [y0, y1]] = gridSpan(desc, grid);
    return `${desc.model}: decoded grid, ${n} x ${n} over its codes' range, z1 from ${f(x0)} to ${f(x1)} (to the right), ` +
      `z2 from ${f(y0)} to ${f(y1)} (upwards)`;
  }
  return (desc ? desc.model + ': ' : '') + 'decoded grid, ' + n + ' x ' + n + ' over [-' + grid[1] + ', ' + grid[1] + ']\u00b2' +
    (label !== undefined && label !== null ? ' as the digit ' + label : '') + ' (z1 to the right, z2 upwards)';
}

// The visitor's model's description, as export()'s for a shipped one: its name, and the map of its test codes drawn
// in the page (a data: URL) with that map's axes. own: onOwnModel's {name, model, codes, labels}.
export const OWN_MAP = {size: 400, font: 16};  // its text at least 11 px where the map is 280 px wide (a phone)
export function ownDescription(own, canvas) {
  const {size, font} = OWN_MAP;
  canvas.width = canvas.height = size;
  const n = own.labels.length;
  const title = `${own.name}: ${n.toLocaleString('en')} test codes`;
  const d = drawMap(canvas, own.codes, own.labels, title, codesMap(own.codes, size, size, font));
  return {...d, own: true, model: own.name, map: canvas.toDataURL('image/png'), label: null, n};
}

export function mount(element, props, trigger, watch) {
  const root = element.querySelector('.lx') || element;
  root.innerHTML = TEMPLATE;
  const $ = s => root.querySelector(s);
  const over = $('.lx-over'), digit = $('.lx-digit'), img = $('.lx-map-img');
  const state = {model: null, desc: null, hover: null, pinned: [0, 0], grid: [20, 2], frames: 0, pending: null,
                 drawnZ: null, gridPending: false};
  root.explorer = state;  // for the sliders' events and for tests: state.drawnZ is the z of the digit on screen
  const probs = new Float32Array(784), rgba = new ImageData(28, 28);
  const label = () => (state.desc.label === null || state.desc.label === undefined ? undefined : state.desc.label);

  function drawDigit(z) {
    if (!state.model) return;
    state.model.decode(z[0], z[1], label(), probs);
    paint(rgba, 28, probs);
    digit.getContext('2d').putImageData(rgba, 0, 0);
    state.drawnZ = z.slice();
    state.frames++;
  }

  function drawOverlay() {
    const g = over.getContext('2d'), d = state.desc;
    g.clearRect(0, 0, over.width, over.height);
    if (!d) return;
    if (!d.own) {  // the grid's square (the visitor's model's grid spans the whole map)
      const s = state.grid[1], [x0, y0] = toPixel(d, Math.max(-s, d.xlim[0]), Math.min(s, d.ylim[1]));
      const [x1, y1] = toPixel(d, Math.min(s, d.xlim[1]), Math.max(-s, d.ylim[0]));
      g.strokeStyle = 'rgb(60,60,60)'; g.lineWidth = 2; g.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    const mark = (z, colour, size) => {
      const [x, y] = toPixel(d, ...z);
      g.strokeStyle = colour; g.lineWidth = 3; g.beginPath();
      g.moveTo(x - size, y); g.lineTo(x + size, y); g.moveTo(x, y - size); g.lineTo(x, y + size); g.stroke();
    };
    mark(state.pinned, 'rgb(220,0,0)', 9);
    if (state.hover) mark(state.hover, 'rgba(0,0,0,0.6)', 6);
  }

  function showText() {
    const z = state.hover || state.pinned, f = v => (v >= 0 ? ' ' : '') + v.toFixed(2);
    $('.lx-z').textContent = 'z = (' + f(z[0]) + ', ' + f(z[1]) + ')';
    $('.lx-pin').textContent = 'pinned: (' + f(state.pinned[0]) + ', ' + f(state.pinned[1]) + ')';
  }

  function frame() {  // at most once a frame, whatever the rate of pointer events
    state.pending = null;
    drawDigit(state.hover || state.pinned);
    drawOverlay();
    showText();
  }
  const schedule = () => { if (state.pending === null) state.pending = requestAnimationFrame(frame); };

  function drawGrid() {
    state.gridPending = false;
    if (!state.model) return;
    const n = state.grid[0], [[x0, x1], [y0, y1]] = gridSpan(state.desc, state.grid);
    const pad = 2, side = n * (28 + pad) + pad, c = $('.lx-grid');
    if (c.width !== side) { c.width = side; c.height = side; }
    const image = new ImageData(side, side);
    image.data.fill(128);  // grey padding, as pictures.to_picture
    for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
    for (let row = 0; row < n; row++) for (let col = 0; col < n; col++) {
      // vae_models.latent_grid: z1 grows to the right, z2 upwards, over linspace(-r, r, n) (or the span's ends)
      const z1 = x0 + col * (x1 - x0) / (n - 1), z2 = y1 - row * (y1 - y0) / (n - 1);
      state.model.decode(z1, z2, label(), probs);
      paint(image, side, probs, pad + col * (28 + pad), pad + row * (28 + pad));
    }
    c.getContext('2d').putImageData(image, 0, 0);
    $('.lx-grid-title').textContent = gridTitle(state.desc, state.grid, label());
  }
  const scheduleGrid = () => { if (!state.gridPending) { state.gridPending = true; requestAnimationFrame(drawGrid); } };

  state.pin = (z1, z2) => {  // the sliders moved: the pinned point follows (on the visitor's map, within its axes)
    z1 = Number(z1); z2 = Number(z2);
    if (!Number.isFinite(z1) || !Number.isFinite(z2)) return;
    const d = state.desc;
    const clamp = (v, lim) => Math.min(Math.max(v, lim[0]), lim[1]);
    state.pinned = d && d.own ? [clamp(z1, d.xlim), clamp(z2, d.ylim)] : [z1, z2];
    schedule();
  };
  state.setLabel = k => {  // the conditional VAE: decode as digit k
    k = Math.round(Number(k));
    if (!state.desc || !(k >= 0 && k < state.desc.n_classes)) return;
    state.desc = {...state.desc, label: k};
    scheduleGrid(); schedule();
  };
  state.setGrid = (n, r) => {
    n = Math.round(Number(n)); r = Number(r);
    if (!(n >= 2 && n <= 40 && r > 0 && r <= 10)) return;
    state.grid = [n, r];
    scheduleGrid(); schedule();
  };

  function pointerZ(e) {
    const box = over.getBoundingClientRect();
    return toLatent(state.desc, (e.clientX - box.left) * over.width / box.width, (e.clientY - box.top) * over.height / box.height);
  }
  let down = null;
  over.addEventListener('pointermove', e => {
    if (!state.desc) return;
    state.hover = pointerZ(e);
    schedule();
  });
  over.addEventListener('pointerdown', e => {
    if (!state.desc) return;
    down = [e.clientX, e.clientY, e.pointerType];
    if (e.pointerType !== 'mouse') { over.setPointerCapture(e.pointerId); state.hover = pointerZ(e); schedule(); }
  });
  over.addEventListener('pointerup', e => {
    if (!down || !state.desc) return;
    const moved = Math.hypot(e.clientX - down[0], e.clientY - down[1]), touch = down[2] !== 'mouse';
    down = null;
    if (moved < 6 || touch) {  // a click, or a finger lifted at the end of a drag: pin that point
      const z = pointerZ(e);
      state.pinned = [Math.round(z[0] * 100) / 100, Math.round(z[1] * 100) / 100];
      if (touch) state.hover = null;
      schedule();
      // the server's sliders span the shipped model's map: a point on the visitor's map stays in the page
      if (!state.desc.own) trigger('pin', {z1: state.pinned[0], z2: state.pinned[1]});
    }
  });
  // the pointer off the map (the canvas itself, not the whole component): the digit and z return to the pinned point
  const leave = () => { down = null; state.hover = null; schedule(); };
  over.addEventListener('pointerleave', leave);
  over.addEventListener('pointercancel', leave);

  // the map's picture and axes: a shipped model's from the server, the visitor's drawn in the page
  function showMap(d) {
    $('.lx-map').style.aspectRatio = d.width + ' / ' + d.height;
    if (over.width !== d.width || over.height !== d.height) { over.width = d.width; over.height = d.height; }
    img.alt = d.own ? `${d.model}: its ${d.n.toLocaleString('en')} test codes, coloured by digit, drawn in your browser`
                    : d.model + ': the test set\u2019s codes, coloured by digit';
    const src = d.own ? d.map : pageUrl(d.map);
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
    $('.lx-digit-title').textContent = `${d.model}, decoded in your browser`;
    $('.lx-note').textContent = d.own
      ? `${HOVER_NOTE} The map, the grid and the point are your model's own, over its codes' range; the other ` +
        `choices of this tab apply to the shipped models.`
      : HOVER_NOTE;
  }

  function show() {  // a new value from the server: the model (its files), the pinned point, the grid
    const v = props.value;
    if (!v || !v.weights) return;
    state.desc = v; state.pinned = v.z.slice(); state.grid = v.grid.slice(); state.hover = null;
    pressed(false);
    showMap(v);
    const weights = v.weights;
    loadModel(weights, v).then(model => {
      if (state.desc.weights !== weights) return;  // another model was chosen meanwhile (or the visitor's)
      state.model = model;
      root.dataset.ready = v.model;
      schedule(); scheduleGrid();
    }).catch(err => { $('.lx-note').textContent = 'Could not load the model in your browser: ' + err.message + '.'; });
    delete root.dataset.ready;
    state.model = null;
    drawOverlay(); showText();
  }

  // The visitor's own model (trained in the page), offered beside the chosen one: "shown here: [VAE] [your AE, 1
  // epoch]". Chosen, the view shows its own map of its test codes, its grid over their range, and says so.
  let own = null;
  const which = $('.lx-which'), shippedButton = $('.lx-shipped'), ownButton = $('.lx-own'), mapCanvas = document.createElement('canvas');
  function pressed(mine) {
    ownButton.setAttribute('aria-pressed', mine ? 'true' : 'false');
    shippedButton.setAttribute('aria-pressed', mine ? 'false' : 'true');
    if (props.value && props.value.model) shippedButton.textContent = props.value.model;
  }
  function useOwn() {
    if (!own || !own.model) return;
    const was = state.desc && state.desc.own ? state.pinned : null, d = ownDescription(own, mapCanvas);
    state.desc = d; state.model = own.model; state.hover = null;
    // a newer epoch keeps the pinned point where it still lies on the map; a first look starts at the map's centre
    state.pinned = [(d.xlim[0] + d.xlim[1]) / 2, (d.ylim[0] + d.ylim[1]) / 2];
    if (was) state.pin(...was);
    pressed(true);
    showMap(d);
    root.dataset.ready = own.name;
    schedule(); scheduleGrid();
  }
  ownButton.addEventListener('click', () => { if (ownButton.getAttribute('aria-pressed') !== 'true') useOwn(); });
  shippedButton.addEventListener('click', () => { if (shippedButton.getAttribute('aria-pressed') !== 'true') show(); });
  if (!(props.value && props.value.n_classes)) onOwnModel(o => {
    own = o;
    which.hidden = false;
    ownButton.textContent = o.model ? o.name : o.error;
    ownButton.disabled = !o.model;
    if (state.desc && state.desc.own) { if (o.model) useOwn(); else show(); }  // a newer epoch of it
  });
  watch('value', show);
  show();
  return state;
}
