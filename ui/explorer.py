"""The latent explorer: a model's map of test codes with its decoder running in the visitor's page, so the decoded
digit follows the pointer (or a finger) at the speed of the screen, with no request to the server.

The server exports each model's decoder (fc3 and fc4, float32 safetensors) and its map (the PNG `pictures` draws) once,
into decoder_folder() under names that carry a hash of their bytes; the app serves that folder and no other (ui.launch). The
page fetches a model's two files when the visitor first chooses it and keeps them for the visit; a browser caches
them across visits. In the page, plain JavaScript (`js_on_load`, below) parses the safetensors header and computes
what `Autoencoder.decode` computes: sigmoid(fc4(relu(fc3(z)))), with the one-hot label appended to z for the
conditional VAE. `describe` gives the page what it needs to map the picture's pixels to z exactly: the axes' pixel
box and limits (pictures.LatentMap).

The component's value is that description plus the pinned point z and the grid's size and range; it fires "pin"
(with z1, z2) when the visitor clicks or lifts a finger. `pin_js` and `grid_js` are the page-side handlers the
sliders' events run (no server round trip).
"""
import functools
import hashlib
import io
import os
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image
from safetensors.torch import save

from vae_models import WeightsError

# The only folder of exported files the app serves: decoders and maps, nothing else is ever written there. The user's
# cache folder, or, where it cannot be written (a read-only home), one under the system's temporary folder.
CANDIDATES = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer" / "decoders",
              Path(tempfile.gettempdir()) / f"vae-explorer-{os.getuid() if hasattr(os, 'getuid') else 0}" / "decoders")


@functools.cache
def decoder_folder() -> Path:
    """The first of CANDIDATES this process can write to (made if missing), or WeightsError in one sentence."""
    for folder in CANDIDATES:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
            return folder
        except OSError:
            continue
    raise WeightsError(f"cannot write the decoders the page runs to {' or '.join(map(str, CANDIDATES))}; set "
                       "XDG_CACHE_HOME to a writable folder.")


def write_once(data: bytes, stem: str, suffix: str, folder: Path | None = None) -> Path:
    """bytes -> folder/stem-<hash>.suffix, written atomically unless a file of that name (so those bytes) is there."""
    folder = folder or decoder_folder()
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


def decoder_bytes(model) -> bytes:
    """The decoder's layers as float32 safetensors: fc3.weight (512, 2 + n_classes), fc3.bias (512,),
    fc4.weight (784, 512), fc4.bias (784,): torch's Linear layout, y = x W^T + b."""
    tensors = {f"{layer}.{p}": getattr(getattr(model, layer), p).detach().float().contiguous().cpu()
               for layer in ("fc3", "fc4") for p in ("weight", "bias")}
    # one metadata key: safetensors writes its metadata from a Rust HashMap, whose order (so the bytes, so the file's
    # name) changes from process to process once there are two
    return save(tensors, metadata={"format": "pt"})


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def export(explorer, folder: Path | None = None) -> dict:
    """An Explorer (ui.models) -> its decoder and map written into `folder`, and the page's description of them."""
    buffer = io.BytesIO()
    Image.fromarray(explorer.map.image).save(buffer, format="PNG")
    stem = slug(explorer.name)
    weights = write_once(decoder_bytes(explorer.model), stem, ".safetensors", folder)
    picture = write_once(buffer.getvalue(), stem + "-map", ".png", folder)
    m = explorer.map
    height, width = m.image.shape[:2]
    return {"model": explorer.name, "decoder": str(weights), "decoder_bytes": weights.stat().st_size,
            "map": str(picture), "width": width, "height": height, "box": [float(v) for v in m.box],
            "xlim": [float(v) for v in m.xlim], "ylim": [float(v) for v in m.ylim],
            "n_classes": explorer.model.n_classes}


def value(description, z, grid=(20, 2.0), label=None):
    """The component's value: a model's description, the pinned z = (z1, z2), the grid (n, r) and the CVAE's digit."""
    return {**description, "z": [float(z[0]), float(z[1])], "grid": [int(grid[0]), float(grid[1])], "label": label}


HTML = """
<div class="lx">
  <div class="lx-map" style="aspect-ratio: ${value.width} / ${value.height}">
    <img class="lx-map-img" alt="${value.model}: the test set's codes, coloured by digit"
         width="${value.width}" height="${value.height}">
    <canvas class="lx-over" width="${value.width}" height="${value.height}"
            aria-label="move the pointer over the map to decode the point under it; click to pin it"></canvas>
  </div>
  <div class="lx-side">
    <div class="lx-title">decoded in your browser</div>
    <canvas class="lx-digit" width="28" height="28" aria-label="the decoded digit"></canvas>
    <div class="lx-z" aria-live="off">z = (0.00, 0.00)</div>
    <div class="lx-pin">pinned: (0.00, 0.00)</div>
    <div class="lx-note">Hover or drag a finger over the map; click to pin the point.</div>
  </div>
  <div class="lx-grid-box">
    <div class="lx-title lx-grid-title">decoded grid</div>
    <canvas class="lx-grid" width="602" height="602" aria-label="the decoded grid"></canvas>
  </div>
</div>
"""

CSS = """
.lx { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: flex-start; }
.lx-map { position: relative; flex: 0 1 520px; min-width: 0; max-width: 100%; }
.lx-map img, .lx-map canvas { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
.lx-over { touch-action: none; cursor: crosshair; }
.lx-side { flex: 0 0 180px; display: flex; flex-direction: column; gap: 4px; }
.lx-digit { width: 168px; height: 168px; image-rendering: pixelated; border: 1px solid #888; background: #000; }
.lx-z, .lx-pin { font-family: ui-monospace, monospace; font-size: 0.9em; white-space: nowrap; }
.lx-note { font-size: 0.85em; opacity: 0.75; }
.lx-title { font-weight: 600; font-size: 0.9em; }
.lx-grid-box { flex: 1 1 300px; min-width: 0; max-width: 560px; }
.lx-grid { width: 100%; height: auto; image-rendering: pixelated; display: block; }
"""

# Runs once in the page when the component appears. `element` is the component, `props.value` its value, `trigger`
# fires an event to the server. Nothing here talks to the server but `trigger('pin')` and the two file fetches.
JS = r"""
const root = element.querySelector('.lx');
const over = () => element.querySelector('.lx-over');
const digit = () => element.querySelector('.lx-digit');
const decoders = window.vaeExplorerDecoders = window.vaeExplorerDecoders || new Map();  // path -> Promise of a decoder

function fileUrl(path) {
  const base = (window.gradio_config && window.gradio_config.root) || location.href.split(/[?#]/)[0].replace(/\/[^/]*$/, '');
  return base.replace(/\/$/, '') + '/gradio_api/file=' + encodeURI(path);
}

// safetensors: 8 bytes little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, the data
function parseSafetensors(buf) {
  const n = Number(new DataView(buf).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(name + ' is ' + t.dtype + ', not F32');
    tensors[name] = {shape: t.shape, data: new Float32Array(buf.slice(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]))};
  }
  return tensors;
}

// Autoencoder.decode: x = sigmoid(fc4(relu(fc3([z1, z2, onehot(y)])))). fc4's weight is transposed once so that each
// hidden unit adds one contiguous row, and units at zero after the ReLU (about half) are skipped.
function makeDecoder(t) {
  const w3 = t['fc3.weight'].data, b3 = t['fc3.bias'].data, w4 = t['fc4.weight'].data, b4 = t['fc4.bias'].data;
  const [H, I] = t['fc3.weight'].shape, O = t['fc4.weight'].shape[0];
  const w4t = new Float32Array(H * O);
  for (let o = 0; o < O; o++) for (let j = 0; j < H; j++) w4t[j * O + o] = w4[o * H + j];
  const acc = new Float64Array(O);
  return function decode(z1, z2, label, out, stride, offset) {  // writes O grey levels 0..255 into out
    acc.set(b4);
    for (let j = 0; j < H; j++) {
      let h = b3[j] + w3[j * I] * z1 + w3[j * I + 1] * z2;
      if (label !== null && label !== undefined && I > 2) h += w3[j * I + 2 + label];
      if (h <= 0) continue;
      const row = j * O;
      for (let o = 0; o < O; o++) acc[o] += h * w4t[row + o];
    }
    for (let o = 0; o < O; o++) out[offset + o * stride] = Math.round(255 / (1 + Math.exp(-acc[o])));
  };
}

// A decoder's file name carries a hash of its bytes, so a stored copy is never stale: the page keeps it in the Cache
// API (where the page's origin allows one: https or localhost) for later visits, and drops the copies of a model's
// older files; gradio serves files with no Cache-Control and answers no If-None-Match with 304.
async function fetchBytes(path) {
  const url = fileUrl(path), store = window.caches ? await caches.open('vae-explorer-decoders').catch(() => null) : null;
  const kept = store && await store.match(url);
  if (kept) return kept.arrayBuffer();
  const r = await fetch(url);
  if (!r.ok) throw new Error('decoder ' + r.status);
  const buf = await r.arrayBuffer();
  if (store) {
    const stem = u => u.replace(/-[0-9a-f]{16}\.safetensors$/, '');
    for (const old of await store.keys()) if (stem(old.url) === stem(url) && old.url !== url) store.delete(old);
    store.put(url, new Response(buf.slice(0))).catch(() => {});
  }
  return buf;
}

function loadDecoder(path) {  // one fetch a model a visit, shared by every explorer on the page
  if (!decoders.has(path)) {
    decoders.set(path, fetchBytes(path).then(buf => makeDecoder(parseSafetensors(buf))));
    decoders.get(path).catch(() => decoders.delete(path));  // a failed fetch is tried again next time
  }
  return decoders.get(path);
}

const state = {decode: null, desc: null, hover: null, pinned: [0, 0], grid: [20, 2], frames: 0, pending: null,
               drawnZ: null, gridPending: false};
root.explorer = state;  // for the sliders' events and for tests: state.drawnZ is the z of the digit on screen
const grey = new Uint8ClampedArray(784), rgba = new ImageData(28, 28);

function drawDigit(z) {
  if (!state.decode) return;
  state.decode(z[0], z[1], state.desc.label, grey, 1, 0);
  for (let i = 0; i < 784; i++) { rgba.data[4 * i] = rgba.data[4 * i + 1] = rgba.data[4 * i + 2] = grey[i]; rgba.data[4 * i + 3] = 255; }
  digit().getContext('2d').putImageData(rgba, 0, 0);
  state.drawnZ = z.slice();
  state.frames++;
}

function toLatent(px, py) {  // the picture's pixel -> z, as pictures.LatentMap.to_latent, clamped to the axes
  const d = state.desc, [l, t, r, b] = d.box;
  const z1 = d.xlim[0] + (px - l) / (r - l) * (d.xlim[1] - d.xlim[0]);
  const z2 = d.ylim[0] + (b - py) / (b - t) * (d.ylim[1] - d.ylim[0]);
  return [Math.min(Math.max(z1, d.xlim[0]), d.xlim[1]), Math.min(Math.max(z2, d.ylim[0]), d.ylim[1])];
}
function toPixel(z1, z2) {
  const d = state.desc, [l, t, r, b] = d.box;
  return [l + (z1 - d.xlim[0]) / (d.xlim[1] - d.xlim[0]) * (r - l), b - (z2 - d.ylim[0]) / (d.ylim[1] - d.ylim[0]) * (b - t)];
}

function drawOverlay() {
  const c = over(), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (!state.desc) return;
  const s = state.grid[1], [x0, y0] = toPixel(Math.max(-s, state.desc.xlim[0]), Math.min(s, state.desc.ylim[1]));
  const [x1, y1] = toPixel(Math.min(s, state.desc.xlim[1]), Math.max(-s, state.desc.ylim[0]));
  g.strokeStyle = 'rgb(60,60,60)'; g.lineWidth = 2; g.strokeRect(x0, y0, x1 - x0, y1 - y0);
  const mark = (z, colour, size) => {
    const [x, y] = toPixel(...z);
    g.strokeStyle = colour; g.lineWidth = 3; g.beginPath();
    g.moveTo(x - size, y); g.lineTo(x + size, y); g.moveTo(x, y - size); g.lineTo(x, y + size); g.stroke();
  };
  mark(state.pinned, 'rgb(220,0,0)', 9);
  if (state.hover) mark(state.hover, 'rgba(0,0,0,0.6)', 6);
}

function showText() {
  const z = state.hover || state.pinned, f = v => (v >= 0 ? ' ' : '') + v.toFixed(2);
  element.querySelector('.lx-z').textContent = (state.hover ? 'z = (' : 'z = (') + f(z[0]) + ', ' + f(z[1]) + ')';
  element.querySelector('.lx-pin').textContent = 'pinned: (' + f(state.pinned[0]) + ', ' + f(state.pinned[1]) + ')';
}

function frame() {  // at most once a frame, whatever the rate of pointer events
  state.pending = null;
  drawDigit(state.hover || state.pinned);
  drawOverlay();
  showText();
}
function schedule() { if (state.pending === null) state.pending = requestAnimationFrame(frame); }

function drawGrid() {
  state.gridPending = false;
  if (!state.decode) return;
  const [n, r] = state.grid, pad = 2, side = n * (28 + pad) + pad, c = element.querySelector('.lx-grid');
  if (c.width !== side) { c.width = side; c.height = side; }
  const img = new ImageData(side, side);
  img.data.fill(128);  // grey padding, as pictures.to_picture
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  const tile = new Uint8ClampedArray(784);
  for (let row = 0; row < n; row++) for (let col = 0; col < n; col++) {
    // vae_models.latent_grid: z1 grows to the right, z2 upwards, over linspace(-r, r, n)
    const z1 = n > 1 ? -r + col * 2 * r / (n - 1) : 0, z2 = n > 1 ? r - row * 2 * r / (n - 1) : 0;
    state.decode(z1, z2, state.desc.label, tile, 1, 0);
    const top = pad + row * (28 + pad), left = pad + col * (28 + pad);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const p = 4 * ((top + y) * side + left + x), v = tile[y * 28 + x];
      img.data[p] = img.data[p + 1] = img.data[p + 2] = v;
    }
  }
  c.getContext('2d').putImageData(img, 0, 0);
  element.querySelector('.lx-grid-title').textContent =
    'decoded grid: ' + n + ' x ' + n + ' over [-' + r + ', ' + r + ']\u00b2' +
    (state.desc.label !== null && state.desc.label !== undefined ? ' as the digit ' + state.desc.label : '') +
    ' (z1 to the right, z2 upwards)';
}
function scheduleGrid() { if (!state.gridPending) { state.gridPending = true; requestAnimationFrame(drawGrid); } }

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
  const c = over(), box = c.getBoundingClientRect();
  return toLatent((e.clientX - box.left) * c.width / box.width, (e.clientY - box.top) * c.height / box.height);
}
let down = null;
root.addEventListener('pointermove', e => {
  if (!state.desc || !e.target.classList.contains('lx-over')) return;
  state.hover = pointerZ(e);
  schedule();
});
root.addEventListener('pointerdown', e => {
  if (!state.desc || !e.target.classList.contains('lx-over')) return;
  down = [e.clientX, e.clientY, e.pointerType];
  if (e.pointerType !== 'mouse') { e.target.setPointerCapture(e.pointerId); state.hover = pointerZ(e); schedule(); }
});
root.addEventListener('pointerup', e => {
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
root.addEventListener('pointerleave', e => {
  if (e.pointerType === 'mouse') { state.hover = null; schedule(); }
});

function show() {  // a new value from the server: the model (its files), the pinned point, the grid
  const v = props.value;
  if (!v || !v.decoder) return;
  state.desc = v; state.pinned = v.z.slice(); state.grid = v.grid.slice(); state.hover = null;
  const path = v.decoder, img = element.querySelector('.lx-map-img'), src = fileUrl(v.map);
  if (img.getAttribute('src') !== src) img.setAttribute('src', src);
  loadDecoder(path).then(decode => {
    if (state.desc.decoder !== path) return;  // another model was chosen meanwhile
    state.decode = decode;
    root.dataset.ready = v.model;
    schedule(); scheduleGrid();
  }).catch(err => { element.querySelector('.lx-note').textContent = 'Could not load the decoder: ' + err.message; });
  delete root.dataset.ready;
  state.decode = null;
  drawOverlay(); showText();
}
watch('value', show);
show();
"""


def explorer(description, z=(0.0, 0.0), grid=(20, 2.0), label=None, **kwargs) -> gr.HTML:
    """The component, showing the model `description` (from `export`) with z pinned (and the CVAE's digit `label`)."""
    return gr.HTML(value(description, z, grid, label), html_template=HTML, css_template=CSS, js_on_load=JS, **kwargs)


def pin_js(elem_id):
    """A page-side event handler (a gradio event's `js`) that pins the explorer `elem_id` at the sliders' (z1, z2)."""
    return (f"(z1, z2) => {{ const e = document.querySelector('#{elem_id} .lx'); "
            f"if (e && e.explorer) e.explorer.pin(z1, z2); return [z1, z2]; }}")


def label_js(elem_id):
    """A page-side event handler that decodes the conditional VAE's map and grid as the chosen digit."""
    return (f"(k) => {{ const e = document.querySelector('#{elem_id} .lx'); "
            f"if (e && e.explorer) e.explorer.setLabel(k); return [k]; }}")


def grid_js(elem_id):
    """A page-side event handler that redraws the explorer's grid for the sliders' (n, r)."""
    return (f"(n, r) => {{ const e = document.querySelector('#{elem_id} .lx'); "
            f"if (e && e.explorer) e.explorer.setGrid(n, r); return [n, r]; }}")
