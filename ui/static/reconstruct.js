// Reconstruct (and the Conditional VAE's canvas): while a stroke is drawn, the page computes in every animation frame,
// with no request, the models' 28x28 input (preprocess.js), both reconstructions, the VAE's q(z|x) and the AE's code
// on both maps and the loss terms (model.js). When the stroke ends, ONE request carries the 28x28 input (196 hex
// digits) to the server for its heavier views (the true posterior, every model's row, the CVAE's p(y|x), the
// "not a digit" judgement), while the page says they are updating. Uploads are read by the server (photo cleaning)
// and come back as that same 28x28 input, drawn here by the same code. The server's views show only while they
// describe the input now shown: greyed while a stroke is drawn or their answer is on its way, hidden when nothing is
// to come (the canvas emptied by undo or the bin, a mark too small, an unreadable upload), and an answer to an older
// input is dropped (answers.js).
//
// gr.HTML parts mount here (mount(element, props, trigger, watch)): the part named by its template's data-part
// ("input", "numbers" or "maps"; "cvae" for the Conditional VAE tab) joins its tab's view; the "input" part (or
// "cvae") holds the value the server sets and fires "stroke".
import {Answers} from './answers.js';
import {loadModel, onOwnModel, pageUrl} from './model.js';
import {NoDigit, preprocessDrawing} from './preprocess.js';
import {followSketch} from './sketch.js';
import {paint, toPixel} from './explorer.js';

export const toHex = x => { let s = ''; for (let i = 0; i < 784; i += 4) s += ((x[i] << 3) | (x[i + 1] << 2) | (x[i + 2] << 1) | x[i + 3]).toString(16); return s; };
export const fromHex = h => { const x = new Float32Array(784); for (let i = 0; i < 196; i++) { const v = parseInt(h[i], 16); for (let b = 0; b < 4; b++) x[4 * i + b] = (v >> (3 - b)) & 1; } return x; };

const views = new Map();  // tab ("reconstruct", "cvae") -> its view
const TOO_SMALL = 'That is too small to read as a digit: draw a stroke across a good part of the canvas.';

// The visitor's own model, trained in the page (the Train tab): a row of the table and a reconstruction beside the others
let own = null;
onOwnModel(o => { own = o; for (const v of views.values()) v.ownChanged(); });

function canvasPicture(canvas, x) {  // 28 x 28 values in [0, 1] onto a 28 x 28 canvas (CSS makes it large)
  const img = new ImageData(28, 28);
  paint(img, 28, x);
  canvas.getContext('2d').putImageData(img, 0, 0);
}
const f1 = v => v.toFixed(1), f2 = v => v.toFixed(2);

function normals(n, seed) {  // fixed standard normal draws (Box-Muller on a small generator): the same 8 every time
  let s = seed >>> 0;
  const u = () => { s = (s + 0x6D2B79F5) >>> 0; let t = Math.imul(s ^ (s >>> 15), 1 | s); t ^= t + Math.imul(t ^ (t >>> 7), 61 | t); return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; };
  return Array.from({length: n}, () => { const r = Math.sqrt(-2 * Math.log(u())), a = 2 * Math.PI * u(); return [r * Math.cos(a), r * Math.sin(a)]; });
}
const EPS = normals(8, 1);

// The server's pictures (the true posterior, every model's row) are fetched when their answer comes, once. Gradio's
// gr.Image shows its picture with loading="lazy", and has no setting for it: one below the screen (every model's row
// on a phone) was fetched only when the page came near it, which the page's own views, changing height while a
// stroke is drawn, could bring about in the middle of the stroke. Each picture gradio puts in a server view is
// made eager as it comes (a MutationObserver's callback runs before the next layout, the lazy loader's first look).
function fetchOnArrival(ids, root = document.body) {
  if (!ids.length) return null;
  const lazy = ids.map(id => `#${CSS.escape(id)} img[loading="lazy"]`).join(', ');
  const eager = () => { for (const img of root.querySelectorAll(lazy)) img.loading = 'eager'; };
  const watcher = new MutationObserver(eager);
  watcher.observe(root, {childList: true, subtree: true, attributes: true, attributeFilter: ['loading', 'src']});
  eager();
  return watcher;
}

class ReconstructView {
  constructor(tab) {
    this.tab = tab; this.parts = {}; this.models = {}; this.failed = {}; this.value = null;
    this.x = null; this.answers = new Answers(); this.frames = 0; this.requests = 0; this.timings = [];
    this.inFlight = null; this.askAgain = false;  // the number of the stroke request on its way; another to send after it
    this.label = null;  // the CVAE's digit: the server's reading p(y|x), or the page's best ELBO while drawing
  }

  attach(part, element, props, trigger, watch) {
    this.parts[part] = element;
    if (part === 'input' || part === 'cvae') {
      this.props = props; this.trigger = trigger;
      watch('value', () => this.fromServer(props.value));
      this.fromServer(props.value);
      this.follow();
      fetchOnArrival(this.value.server_views || []);
    }
    this.render();
  }

  $(part, selector) { return this.parts[part] && this.parts[part].querySelector(selector); }

  follow() {  // the sketchpad of this tab: its strokes followed in the page
    const pad = document.querySelector(this.value.sketch);
    if (!pad || this.following) { if (!pad) setTimeout(() => this.follow(), 300); return; }
    this.following = followSketch(pad, {
      onStart: () => { this.answers.change(true); this.render(); },
      onFrame: img => this.drawn(img, false),
      onEnd: img => this.drawn(img, true),
      onClear: () => { this.answers.change(false); this.x = null; this.message = 'Draw a digit, or upload one.'; this.source = null; this.render(); },
    });
    window.vaeExplorerViews = window.vaeExplorerViews || {};
    window.vaeExplorerViews[this.tab] = this;  // for tests and the bench
  }

  // An upload starts (the upload event's one line of glue, ui/reconstruct.py): a new input, asked for at once; its
  // number goes to the server with the file.
  uploading() {
    const seq = this.answers.upload();
    this.render();
    return {seq};
  }

  fromServer(v) {  // the server's value: the models' files, and the input it read (an upload) or was sent (a stroke)
    if (!v) return;
    this.value = v;
    if (this.inFlight !== null && (v.seq === this.inFlight || v.failed === 'stroke')) this.landed();
    for (const [name, d] of Object.entries(v.models || {})) {
      if (this.models[name] || this.failed[name]) continue;
      this.models[name] = null;
      loadModel(d.weights, d).then(m => { this.models[name] = m; this.render(); })
        .catch(e => { this.failed[name] = `The ${name} could not be loaded in your browser (${e.message}); the server answers instead.`; this.render(); });
    }
    if (!this.answers.accept(v)) {  // an answer to an older input: the page's views stay as they are
      if (this.answers.status === 'overwritten') this.ask();  // gradio drew it into the server's views: ask again
      return this.render();
    }
    if (v.x) {
      this.x = fromHex(v.x); this.message = null;
      if (v.source && this.answers.askedBy !== 'stroke') this.source = v.source;  // an upload's, not a stroke's
      this.draws = null;
    } else {
      this.x = null; this.message = v.message || 'Draw a digit, or upload one.';
    }
    this.label = v.label !== undefined && v.label !== null && v.x ? v.label : null;
    this.serverNumbers = v.computed || null;
    this.verdict = v.verdict || '';
    this.logLik = v.log_lik != null ? v.log_lik : null;
    this.render();
  }

  drawn(img, ended) {  // a frame of a stroke (or its end): the input and everything the page computes from it
    const t0 = performance.now();
    try {
      const x = preprocessDrawing(img.data, img.width, img.height);
      if (x.reduce((a, b) => a + b, 0) < 3) throw new NoDigit(TOO_SMALL);
      this.x = x; this.message = null; this.source = 'your drawing';
    } catch (e) {
      if (!(e instanceof NoDigit)) throw e;
      // the first frames of a stroke on an empty canvas are a dot, too small to read: the page keeps what it shows
      // until the stroke reads as a digit or ends, rather than fold the table into a sentence and back (the page
      // below it jumped by its height at the start of every such stroke)
      if (!ended) return;
      this.x = null; this.message = e.message;
    }
    this.frames++;
    this.draws = null;
    this.render(ended);
    this.timings.push(performance.now() - t0);
    if (ended && this.x) this.ask();
    else if (ended) { this.answers.none(); this.render(); }
  }

  // ONE request for the server's heavier views of this input. One at a time: a stroke that ends while the last one's
  // answer is on its way is sent when that answer lands (the latest input only). Gradio's trigger_mode "always_last"
  // would send the first stroke's data again instead (gradio 6.31 replays the deferred event as first triggered).
  ask() {
    this.answers.ask('stroke');
    this.verdict = ''; this.serverNumbers = null;
    if (this.inFlight !== null) this.askAgain = true;
    else this.send();
    this.render();
  }

  send() {  // with full: the server's numbers too, for a model whose file failed or is still on its way (a slow link)
    const seq = this.answers.seq;
    const full = Object.values(this.failed).length > 0 || Object.values(this.models).some(m => m === null);
    this.inFlight = seq; this.requests++;
    this.trigger('stroke', {x: toHex(this.x), seq, full});
  }

  landed() {  // the stroke request on its way was answered (or failed): send the one waiting, if still wanted
    this.inFlight = null;
    if (!this.askAgain) return;
    this.askAgain = false;
    if (this.x && this.answers.status === 'updating' && this.answers.askedBy === 'stroke') this.send();
  }

  get waiting() { return this.answers.status !== 'current'; }

  showServerViews() {  // the server's pictures and notes: shown, greyed (an answer is to come) or hidden (none is)
    const status = this.answers.status;
    for (const id of this.value.server_views || []) {
      const el = document.getElementById(id);
      if (!el) continue;
      el.classList.toggle('vae-updating', status === 'drawing' || status === 'updating');
      el.classList.toggle('vae-empty', status === 'empty');
    }
  }

  ownChanged() { this.render(); }

  // every number the page shows, for this input and each loaded model: {name: lossTerms}
  compute() {
    const out = {};
    if (!this.x) return out;
    for (const [name, m] of Object.entries(this.models)) {
      if (!m) continue;
      if (m.nClasses) {  // the CVAE: its code under the digit the server read (or the best ELBO while drawing)
        if (this.waiting || this.label === null) {
          let best = null;
          for (let k = 0; k < m.nClasses; k++) { const t = m.lossTerms(this.x, k); if (!best || t.negElbo < best.negElbo) best = {...t, k}; }
          this.label = best.k;
        }
        out[name] = {...m.lossTerms(this.x, this.label), label: this.label};
      } else out[name] = m.lossTerms(this.x);
    }
    if (own && own.model) out.yours = own.model.lossTerms(this.x);
    const server = this.serverNumbers;  // a model that could not load, or not yet: the server's numbers for it
    if (server) for (const [name, t] of Object.entries(server)) if (!out[name]) out[name] = {...t, recon: fromHex16(t.recon)};
    return out;
  }

  render(ended = false) {
    if (!this.value) return;
    this.showServerViews();
    const terms = this.compute();
    this.terms = terms;
    if (this.tab === 'cvae') return this.renderCvae(terms);
    const seen = this.$('input', '.rc-seen');
    if (seen) {
      canvasPicture(seen, this.x || new Float32Array(784));
      for (const name of ['AE', 'VAE']) {
        const c = this.$('input', `.rc-recon[data-model="${name}"]`);
        if (c) canvasPicture(c, terms[name] ? terms[name].recon : new Float32Array(784));
      }
      const yours = this.$('input', '.rc-yours');
      yours.hidden = !own;
      if (own) {
        yours.querySelector('.rc-label').textContent = own.name;
        canvasPicture(yours.querySelector('canvas'), terms.yours ? terms.yours.recon : new Float32Array(784));
      }
    }
    this.renderNumbers(terms);
    this.renderMaps(terms);
    if (ended || !this.draws) this.renderDraws(terms);
  }

  renderNumbers(terms) {
    const box = this.$('numbers', '.rc-numbers');
    if (!box) return;
    const errors = Object.values(this.failed).join(' ') + (own && own.error ? ' ' + own.error : '');
    const drawsBox = this.$('numbers', '.rc-draws-box');
    if (drawsBox) drawsBox.hidden = !this.x;
    if (!this.x) {
      box.innerHTML = `<p class="rc-message"><strong>${this.message || 'Draw a digit, or upload one.'}</strong></p>` +
                      (errors ? `<p class="rc-error">${errors}</p>` : '');
      return;
    }
    const ae = terms.AE, vae = terms.VAE, row = (name, t) => t ? (t.kl === null
      ? `<tr><td>${name}</td><td>(${f2(t.mu[0])}, ${f2(t.mu[1])})</td><td>-</td><td>${f1(t.bce)}</td><td>-</td><td>-</td></tr>`
      : `<tr><td>${name}</td><td>(${f2(t.mu[0])}, ${f2(t.mu[1])})</td><td>(${f2(Math.exp(t.logvar[0] / 2))}, ${f2(Math.exp(t.logvar[1] / 2))})</td>` +
        `<td>${f1(t.bce)}</td><td>${f2(t.kl)}</td><td>${f1(t.negElbo)}</td></tr>`) : `<tr><td>${name}</td><td colspan="5">loading…</td></tr>`;
    const verdict = this.waiting ? '' : this.verdict;
    box.innerHTML = `<p><strong>Input: ${this.source || 'your drawing'}.</strong></p>` +
      (verdict ? `<p><strong>This does not look like a digit to the VAE</strong>: ${verdict}</p>` : '') +
      `<table><thead><tr><th></th><th>code z</th><th>sigma</th><th>BCE</th><th>KL</th><th>−ELBO</th></tr></thead><tbody>` +
      row('AE', ae) + row('VAE', vae) + (own && own.model ? row(own.name, terms.yours) : '') + `</tbody></table>` +
      `<p class="rc-foot">In nats, computed in your browser; −ELBO = BCE + KL; the VAE's BCE is its expectation under ` +
      `q(z|x) (3 x 3 Gauss-Hermite points; the server's API averages 100 random draws).` +
      ({drawing: ' <span class="rc-updating">The true posterior and every model\u2019s row follow when the stroke ends.</span>',
        updating: ' <span class="rc-updating">The true posterior and every model\u2019s row are updating…</span>'}[this.answers.status] || '') + `</p>` +
      (errors ? `<p class="rc-error">${errors}</p>` : '');
  }

  renderDraws(terms) {  // the VAE's answer is a distribution: 8 decodes of z ~ q(z|x) (the same 8 draws of N(0, I))
    const c = this.$('numbers', '.rc-draws'), m = this.models.VAE, t = terms.VAE;
    if (!c) return;
    const g = c.getContext('2d');
    if (!m || !t || !this.x) { g.clearRect(0, 0, c.width, c.height); return; }
    const img = new ImageData(c.width, c.height), p = new Float32Array(784);
    img.data.fill(128);
    EPS.forEach(([e1, e2], i) => {
      m.decode(t.mu[0] + Math.exp(t.logvar[0] / 2) * e1, t.mu[1] + Math.exp(t.logvar[1] / 2) * e2, undefined, p);
      paint(img, c.width, p, 2 + i * 30, 2);
    });
    g.putImageData(img, 0, 0);
    this.draws = true;
  }

  renderMaps(terms) {
    for (const name of ['AE', 'VAE']) {
      const box = this.$('maps', `.rc-map[data-model="${name}"]`), d = this.value.models && this.value.models[name];
      if (!box || !d) continue;
      const img = box.querySelector('img'), over = box.querySelector('canvas');
      if (img.getAttribute('src') !== pageUrl(d.map)) {
        img.setAttribute('src', pageUrl(d.map)); over.width = d.width; over.height = d.height;
        box.style.aspectRatio = d.width + ' / ' + d.height;
      }
      const g = over.getContext('2d'), t = terms[name];
      g.clearRect(0, 0, over.width, over.height);
      if (!t || !this.x) continue;
      const clamp = (v, lim) => Math.min(Math.max(v, lim[0]), lim[1]);
      const [x, y] = toPixel(d, clamp(t.mu[0], d.xlim), clamp(t.mu[1], d.ylim));
      g.strokeStyle = 'rgb(220,0,0)'; g.lineWidth = 3;
      if (t.logvar) {  // q(z|x)'s 2-sigma ellipse, as pictures.draw_map
        const [x0, y0] = toPixel(d, t.mu[0] - 2 * Math.exp(t.logvar[0] / 2), t.mu[1] + 2 * Math.exp(t.logvar[1] / 2));
        const [x1, y1] = toPixel(d, t.mu[0] + 2 * Math.exp(t.logvar[0] / 2), t.mu[1] - 2 * Math.exp(t.logvar[1] / 2));
        g.save(); g.lineWidth = 2; g.beginPath();
        g.rect(d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]); g.clip();
        g.beginPath(); g.ellipse((x0 + x1) / 2, (y0 + y1) / 2, Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2, 0, 0, 2 * Math.PI); g.stroke();
        g.restore();
      }
      g.beginPath(); g.moveTo(x - 9, y); g.lineTo(x + 9, y); g.moveTo(x, y - 9); g.lineTo(x, y + 9); g.stroke();
      box.dataset.z = t.mu[0].toFixed(4) + ',' + t.mu[1].toFixed(4);  // for tests: the marker's place
    }
  }

  renderCvae(terms) {  // the CVAE's canvas: its input, and its code decoded as every digit (the row drawn here)
    const c = this.$('cvae', '.cv-row'), t = terms.CVAE, m = this.models.CVAE, note = this.$('cvae', '.cv-note');
    if (!c) return;
    const img = new ImageData(c.width, c.height), p = new Float32Array(784);
    img.data.fill(128);
    for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
    if (this.x) paint(img, c.width, this.x, 2, 2);
    if (m && t && this.x) for (let k = 0; k < 10; k++) { m.decode(t.mu[0], t.mu[1], k, p); paint(img, c.width, p, 2 + (k + 1) * 30, 2); }
    c.getContext('2d').putImageData(img, 0, 0);
    const errors = Object.values(this.failed).join(' ');
    note.textContent = !this.x ? (this.message || 'Draw a digit, or upload one.') :
      !t ? (errors || 'Loading the CVAE…') :
      `Input: ${this.source || 'your drawing'} (left in the row). ` + (this.waiting
        ? `While you draw: read as a ${t.label} (the best ELBO in your browser); the CVAE's p(y|x) is updating…`
        : `Read as ${String(t.label) === '8' ? 'an' : 'a'} ${t.label} (p(y|x), from the server): its code z = (${f2(t.mu[0])}, ${f2(t.mu[1])}) from q(z|x, y = ${t.label}), decoded with every label` + (this.logLik != null ? `; log p(x|y = ${t.label}) = ${f1(this.logLik)} nats.` : '.'));
    c.dataset.z = t ? t.mu[0].toFixed(4) + ',' + t.mu[1].toFixed(4) : '';
  }
}

function fromHex16(values) { return values ? Float32Array.from(values) : new Float32Array(784); }

const TEMPLATES = {
  input: `<div class="rc-row">
    <figure><figcaption>input</figcaption><canvas class="rc-seen" width="28" height="28" aria-label="what the models see"></canvas></figure>
    <figure><figcaption>AE</figcaption><canvas class="rc-recon" data-model="AE" width="28" height="28" aria-label="the AE's reconstruction"></canvas></figure>
    <figure><figcaption>VAE</figcaption><canvas class="rc-recon" data-model="VAE" width="28" height="28" aria-label="the VAE's reconstruction"></canvas></figure>
    <figure class="rc-yours" hidden><figcaption class="rc-label">yours</figcaption><canvas width="28" height="28" aria-label="your model's reconstruction"></canvas></figure>
  </div>`,
  numbers: `<div class="rc-numbers" id="numbers" aria-live="off"></div>
    <div class="rc-draws-box"><div class="rc-title">VAE: 8 decodes of z ~ q(z|x)</div><canvas class="rc-draws" width="242" height="32"></canvas></div>`,
  maps: `<div class="rc-maps">
    <figure><figcaption>AE latent space</figcaption><div class="rc-map" data-model="AE"><img alt="the AE's map of the test codes"><canvas></canvas></div></figure>
    <figure><figcaption>VAE latent space</figcaption><div class="rc-map" data-model="VAE"><img alt="the VAE's map of the test codes"><canvas></canvas></div></figure>
  </div>`,
  cvae: `<canvas class="cv-row" width="332" height="32" aria-label="your digit, then its code decoded as 0 to 9"></canvas><p class="cv-note"></p>`,
};

// The part and its tab are read from the template's data-part and data-tab: the value is the server's to replace, and
// its first answer (the example the page opens with) can land before this module is fetched.
export function mount(element, props, trigger, watch) {
  const root = element.querySelector('.rc') || element, {part, tab} = root.dataset;
  root.innerHTML = TEMPLATES[part];
  if (!views.has(tab)) views.set(tab, new ReconstructView(tab));
  views.get(tab).attach(part, root, props, trigger, watch);
}
