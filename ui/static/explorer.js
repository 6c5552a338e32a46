// The latent explorer (ui/explorer.py's component): a model's map of test codes; the digit under the pointer (or a
// finger) is decoded in the page at every frame, with no request. A click, or a finger lifted, pins the point and
// fires "pin" to the server (the z1, z2 sliders follow). The sliders call explorer.pin / setGrid / setLabel.
import {loadModel, onOwnModel, pageUrl} from './model.js';

const TEMPLATE = `
  <div class="lx-map">
    <img class="lx-map-img" alt="">
    <canvas class="lx-over" aria-label="move the pointer over the map to decode the point under it; click to pin it"></canvas>
  </div>
  <div class="lx-side">
    <div class="lx-title">decoded in your browser</div>
    <canvas class="lx-digit" width="28" height="28" aria-label="the decoded digit"></canvas>
    <div class="lx-z" aria-live="off">z = (0.00, 0.00)</div>
    <div class="lx-pin">pinned: (0.00, 0.00)</div>
    <div class="lx-note">Hover or drag a finger over the map; click to pin the point.</div>
    <button type="button" class="lx-own" hidden aria-pressed="false"></button>
  </div>
  <div class="lx-grid-box">
    <div class="lx-title lx-grid-title">decoded grid</div>
    <canvas class="lx-grid" width="602" height="602" aria-label="the decoded grid"></canvas>
  </div>`;

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
    const s = state.grid[1], [x0, y0] = toPixel(d, Math.max(-s, d.xlim[0]), Math.min(s, d.ylim[1]));
    const [x1, y1] = toPixel(d, Math.min(s, d.xlim[1]), Math.max(-s, d.ylim[0]));
    g.strokeStyle = 'rgb(60,60,60)'; g.lineWidth = 2; g.strokeRect(x0, y0, x1 - x0, y1 - y0);
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
    const [n, r] = state.grid, pad = 2, side = n * (28 + pad) + pad, c = $('.lx-grid');
    if (c.width !== side) { c.width = side; c.height = side; }
    const image = new ImageData(side, side);
    image.data.fill(128);  // grey padding, as pictures.to_picture
    for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
    for (let row = 0; row < n; row++) for (let col = 0; col < n; col++) {
      // vae_models.latent_grid: z1 grows to the right, z2 upwards, over linspace(-r, r, n)
      const z1 = n > 1 ? -r + col * 2 * r / (n - 1) : 0, z2 = n > 1 ? r - row * 2 * r / (n - 1) : 0;
      state.model.decode(z1, z2, label(), probs);
      paint(image, side, probs, pad + col * (28 + pad), pad + row * (28 + pad));
    }
    c.getContext('2d').putImageData(image, 0, 0);
    $('.lx-grid-title').textContent = 'decoded grid: ' + n + ' x ' + n + ' over [-' + r + ', ' + r + ']\u00b2' +
      (label() !== undefined ? ' as the digit ' + label() : '') + ' (z1 to the right, z2 upwards)';
  }
  const scheduleGrid = () => { if (!state.gridPending) { state.gridPending = true; requestAnimationFrame(drawGrid); } };

  state.pin = (z1, z2) => {  // the sliders moved: the pinned point follows
    z1 = Number(z1); z2 = Number(z2);
    if (!Number.isFinite(z1) || !Number.isFinite(z2)) return;
    state.pinned = [z1, z2];
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
      trigger('pin', {z1: state.pinned[0], z2: state.pinned[1]});
    }
  });
  // the pointer off the map (the canvas itself, not the whole component): the digit and z return to the pinned point
  const leave = () => { down = null; state.hover = null; schedule(); };
  over.addEventListener('pointerleave', leave);
  over.addEventListener('pointercancel', leave);

  function show() {  // a new value from the server: the model (its files), the pinned point, the grid
    const v = props.value;
    if (!v || !v.weights) return;
    state.desc = v; state.pinned = v.z.slice(); state.grid = v.grid.slice(); state.hover = null;
    useOwn(false);
    $('.lx-map').style.aspectRatio = v.width + ' / ' + v.height;
    if (over.width !== v.width) { over.width = v.width; over.height = v.height; }
    img.alt = v.model + ': the test set\u2019s codes, coloured by digit';
    const src = pageUrl(v.map);
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
    const weights = v.weights;
    loadModel(weights, v).then(model => {
      if (state.desc.weights !== weights) return;  // another model was chosen meanwhile
      state.model = model;
      root.dataset.ready = v.model;
      schedule(); scheduleGrid();
    }).catch(err => { $('.lx-note').textContent = 'Could not load the model in your browser: ' + err.message + '.'; });
    delete root.dataset.ready;
    state.model = null;
    drawOverlay(); showText();
  }
  // The visitor's own model (trained in the page): offered here at once, decoded over the same axes. It has no map of
  // test codes on the server, so the chosen model's map is dimmed while it decodes.
  let own = null, ownButton = $('.lx-own');
  function useOwn(on) {
    if (!ownButton) return;
    const active = on && own && own.model;
    ownButton.setAttribute('aria-pressed', active ? 'true' : 'false');
    img.classList.toggle('lx-dim', !!active);
    if (active) { state.model = own.model; root.dataset.ready = own.name; schedule(); scheduleGrid(); }
    return active;
  }
  ownButton.addEventListener('click', () => {
    if (ownButton.getAttribute('aria-pressed') === 'true') show();  // back to the chosen model
    else useOwn(true);
  });
  if (!(props.value && props.value.n_classes)) onOwnModel(o => {
    own = o;
    ownButton.hidden = false;
    ownButton.textContent = o.model ? `Decode with ${o.name}` : o.error;
    ownButton.disabled = !o.model;
    if (ownButton.getAttribute('aria-pressed') === 'true') useOwn(true);  // a newer epoch of it
  });
  watch('value', show);
  show();
  return state;
}
