// The Sample tab's picture of the visitor's own model, trained in the page: n decodes of z ~ N(0, I), drawn here
// with the tab's "how many" and seed (the page's own generator: not the z the server draws for the AE and the VAE).
import {onOwnModel} from './model.js';
import {paint} from './explorer.js';

export function gaussians(n, seed) {  // n pairs of standard normals from a seeded generator (mulberry32, Box-Muller)
  let s = (Number(seed) >>> 0) ^ 0x9E3779B9;
  const u = () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Array.from({length: n}, () => { const r = Math.sqrt(-2 * Math.log(u())), a = 2 * Math.PI * u(); return [r * Math.cos(a), r * Math.sin(a)]; });
}

// a seed the server takes: a whole number from 0 to the seed box's maximum
export function validSeed(text, max) {
  const v = Number(text);
  return String(text).trim() !== '' && Number.isInteger(v) && v >= 0 && v <= Number(max);
}

export function mount(element) {
  const root = element.querySelector('.sm') || element;
  root.innerHTML = `<div class="sm-title">yours, in your browser</div><canvas class="sm-grid" width="1" height="1"
    aria-label="your model's samples"></canvas><p class="sm-note">Train a model on the Train tab, and it samples here.</p>`;
  const canvas = root.querySelector('canvas'), note = root.querySelector('.sm-note');
  let own = null;
  const box = id => document.querySelector(`#${id} input[type=number]`) || {};
  function draw() {
    if (!own || !own.model) { if (own) note.textContent = own.error; return; }
    const seed = Number(box('seed').value);
    // a seed outside the box's range (every seed field's, ui/inputs.MAX_SEED) draws nothing new: the server's
    // pictures stay too, and the sentence under the box says why
    if (!validSeed(box('seed').value, box('seed').max)) return;
    const n = Math.min(Math.max(Math.round(Number(box('sample-n').value)) || 64, 1), 400);
    const cols = Math.min(n, 8), rows = Math.ceil(n / cols), pad = 2;
    canvas.width = cols * 30 + pad; canvas.height = rows * 30 + pad;
    const img = new ImageData(canvas.width, canvas.height), p = new Float32Array(784);
    img.data.fill(128);
    gaussians(n, seed).forEach(([z1, z2], i) => {
      own.model.decode(z1, z2, undefined, p);
      paint(img, canvas.width, p, pad + (i % cols) * 30, pad + Math.floor(i / cols) * 30);
    });
    canvas.getContext('2d').putImageData(img, 0, 0);
    note.textContent = `${own.name}: ${n} decodes of z ~ N(0, I) drawn in your browser with seed ${seed}.`;
    root.dataset.drawn = String((Number(root.dataset.drawn) || 0) + 1);
  }
  onOwnModel(o => { own = o; draw(); });
  // the tab's controls: a new "how many" or seed draws again, in the page
  document.addEventListener('change', e => { if (e.target.closest && e.target.closest('#sample-n, #seed')) draw(); }, true);
  document.addEventListener('click', e => { if (e.target.closest && e.target.closest('button')) setTimeout(draw, 300); }, true);
}
