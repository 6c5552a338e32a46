// The Train tab (ui/training.py's component): an AE or a VAE trained in the visitor's browser with TensorFlow.js
// (trainer.js; the library vendored in vendor/tfjs/), on the packed MNIST subset the server exports. Live: the loss
// curves and the map of the 1,000 test codes at least once a second, the decoded grid, reconstructions and samples at
// each epoch's end. After every epoch the model is handed to the other tabs' in-page views:
//     window.dispatchEvent(new CustomEvent("vae-explorer:own-model", {detail: {name, config, bytes, codes, labels}}))
// and kept at window.vaeExplorerOwnModel. The server does no work for a run.
import {fetchBytes, pageUrl} from './model.js';
import {codeRange, drawMap} from './explorer.js';
import {Trainer, readSubset, runEpochs, safetensors, LATENT_SIZE, normal, random} from './trainer.js';
import {strToU8, zipSync} from './vendor/fflate/browser.js';

const BETAS = ['0.1', '0.5', '1', '2', '4'];
// during an epoch the map and the curves are redrawn at a mini-batch's end when the next one would end past this
// long after the last drawing (so at least once a second where a mini-batch takes less), and no more often
const GRID = 15, DRAW_EVERY_MS = 1000;

const TEMPLATE = `
  <div class="tv-controls">
    <label>model <select class="tv-kind"><option value="vae">VAE</option><option value="ae">AE</option></select></label>
    <label class="tv-beta-box">beta, the KL term's weight <select class="tv-beta">${BETAS.map(b => `<option${b === '1' ? ' selected' : ''}>${b}</option>`).join('')}</select></label>
    <label>seed <input class="tv-seed" type="number" min="0" step="1" value="0"></label>
    <label>epochs <input class="tv-epochs" type="number" min="1" max="20" step="1" value="5"></label>
    <label>training digits <input class="tv-digits" type="number" min="1000" step="1000" value="2000"></label>
    <button class="tv-train tv-primary">Train</button>
    <button class="tv-stop" disabled>Stop</button>
    <button class="tv-download" disabled>Download</button>
  </div>
  <div class="tv-status" aria-live="polite">Loading TensorFlow.js...</div>
  <div class="tv-backend"></div>
  <div class="tv-row">
    <figure><canvas class="tv-curves" width="640" height="240"></canvas><figcaption>loss per epoch (nats per image; the dot: this epoch so far)</figcaption></figure>
    <figure><canvas class="tv-map" width="360" height="360"></canvas><figcaption class="tv-map-caption">the 1,000 test digits' codes, coloured by digit</figcaption></figure>
  </div>
  <div class="tv-row">
    <figure><canvas class="tv-grid" width="${GRID * 28}" height="${GRID * 28}"></canvas><figcaption class="tv-grid-caption">decoded grid</figcaption></figure>
    <figure><canvas class="tv-recon" width="${8 * 28}" height="${2 * 28}"></canvas><figcaption>8 test digits (top) and their reconstructions</figcaption></figure>
    <figure><canvas class="tv-samples" width="${8 * 28}" height="${4 * 28}"></canvas><figcaption class="tv-samples-caption">samples, z ~ N(0, I) (the same z every epoch)</figcaption></figure>
  </div>`;

// The library, once a visit: tf.min.js (core, CPU and WebGL backends) and the WASM backend, both UMD builds that set
// globalThis.tf. -> {tf, backend}: WebGL where the browser draws with a hardware GPU, else WASM, else the CPU backend.
let library = null;
export function loadLibrary() {
  if (!library) library = (async () => {
    await import(pageUrl('vae/static/vendor/tfjs/tf.min.js'));
    await import(pageUrl('vae/static/vendor/tfjs/tf-backend-wasm.min.js'));
    const tf = globalThis.tf;
    if (!tf || !tf.wasm) throw new Error('TensorFlow.js did not load');
    if (hardwareWebgl() && await tf.setBackend('webgl').catch(() => false)) return {tf, backend: 'webgl'};
    // threads would need a cross-origin isolated page, which a Space's page in huggingface.co's iframe is not
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    tf.wasm.setWasmPaths(pageUrl('vae/static/vendor/tfjs/'));
    if (await tf.setBackend('wasm').catch(() => false)) return {tf, backend: 'wasm'};
    await tf.setBackend('cpu');
    return {tf, backend: 'cpu'};
  })();
  library.catch(() => { library = null; });
  return library;
}

// WebGL drawn by a GPU, not by a software renderer (SwiftShader, llvmpipe), on which the WASM backend is faster
function hardwareWebgl() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
    if (!gl) return false;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    return !/swiftshader|llvmpipe|software|basic render/i.test(renderer);
  } catch (e) {
    return false;
  }
}

const BACKENDS = {webgl: 'WebGL (your GPU)', wasm: 'WebAssembly (your CPU)', cpu: 'plain JavaScript (your CPU; slow)'};

// 28x28 pictures (probabilities) into a canvas, `columns` to a row
function paintDigits(canvas, pictures, columns) {
  const ctx = canvas.getContext('2d'), img = ctx.createImageData(canvas.width, canvas.height);
  pictures.forEach((p, k) => {
    const left = (k % columns) * 28, top = Math.floor(k / columns) * 28;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const q = 4 * ((top + y) * canvas.width + left + x), v = Math.round(255 * p[y * 28 + x]);
      img.data[q] = img.data[q + 1] = img.data[q + 2] = v; img.data[q + 3] = 255;
    }
  });
  ctx.putImageData(img, 0, 0);
}

function split(flat, size) {
  return Array.from({length: flat.length / size}, (_, i) => flat.subarray(i * size, (i + 1) * size));
}

// the train (solid) and test (dashed) curves, one panel a term: BCE, and the KL for a VAE only
function drawCurves(canvas, rows, running, isVae) {
  const panels = isVae ? [['bce', 'BCE (reconstruction)'], ['kld', 'KL(q(z|x) || N(0, I))']] : [['bce', 'BCE (reconstruction)']];
  if (canvas.width !== 320 * panels.length) canvas.width = 320 * panels.length;  // an AE's one panel: no wider
  const ctx = canvas.getContext('2d'), W = canvas.width, H = canvas.height, pw = W / panels.length;
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
  panels.forEach(([part, title], k) => {
    const left = k * pw + 44, right = (k + 1) * pw - 10, top = 22, bottom = H - 28;
    const points = {train: rows.map(r => [r.epoch + 1, r[`train_${part}`]]), test: rows.map(r => [r.epoch + 1, r[`test_${part}`]])};
    if (running) points.now = [[running.epoch + running.seen / running.total, running.running[part]]];
    const all = Object.values(points).flat();
    const xMax = Math.max(1, ...all.map(p => p[0])), ys = all.map(p => p[1]);
    let yLo = Math.min(...ys), yHi = Math.max(...ys);
    if (!ys.length) { yLo = 0; yHi = 1; }
    if (yHi - yLo < 1e-6) { yLo -= 1; yHi += 1; }
    const X = e => left + (e - 0.5) / (xMax) * (right - left), Y = v => bottom - (v - yLo) / (yHi - yLo) * (bottom - top);
    ctx.strokeStyle = '#999'; ctx.setLineDash([]); ctx.strokeRect(left, top, right - left, bottom - top);
    ctx.fillStyle = '#333'; ctx.font = '12px sans-serif';
    ctx.fillText(title, left, 14);
    ctx.fillText(yHi.toFixed(1), left - 42, top + 10); ctx.fillText(yLo.toFixed(1), left - 42, bottom);
    ctx.fillText(`epoch (1 to ${Math.max(1, rows.length)})`, left, H - 8);
    [['train', '#1f77b4', []], ['test', '#ff7f0e', [5, 4]]].forEach(([name, colour, dash]) => {
      ctx.strokeStyle = ctx.fillStyle = colour; ctx.setLineDash(dash); ctx.beginPath();
      points[name].forEach(([e, v], i) => (i ? ctx.lineTo(X(e), Y(v)) : ctx.moveTo(X(e), Y(v))));
      ctx.stroke();
      points[name].forEach(([e, v]) => ctx.fillRect(X(e) - 2, Y(v) - 2, 4, 4));
    });
    ctx.setLineDash([]);
    if (points.now) { ctx.fillStyle = '#1f77b4'; ctx.beginPath(); ctx.arc(X(points.now[0][0]), Y(points.now[0][1]), 4, 0, 7); ctx.fill(); }
    if (k === 0) {
      ctx.fillStyle = '#1f77b4'; ctx.fillText('train', right - 70, top + 14);
      ctx.fillStyle = '#ff7f0e'; ctx.fillText('test', right - 30, top + 14);
    }
  });
}

// "your VAE (beta 0.5), 3 epochs": the name the other tabs show
// A trained model as one .zip: `folder`/ holding config.json, model.safetensors and test_latents.safetensors, what
// `python -m train` writes into weights/mnist-vae/ (or mnist-ae/); unzipped into a folder F, `python app.py --weights F`
// serves it and load_pretrained reads it. Stored, not deflated: float weights hardly compress.
export function modelZip(folder, config, weights, latents) {
  return zipSync({[folder]: {'config.json': strToU8(JSON.stringify(config, null, 2) + '\n'),
                             'model.safetensors': new Uint8Array(weights),
                             'test_latents.safetensors': new Uint8Array(latents)}}, {level: 0});
}

export function modelName(kind, beta, epochs) {
  return `your ${kind.toUpperCase()}` + (kind === 'vae' && Number(beta) !== 1 ? ` (beta ${beta})` : '') +
    `, ${epochs} epoch${epochs === 1 ? '' : 's'}`;
}

// a whole number typed into a box, or the server's sentence for a bad one (ui/inputs.number): one sentence a field
export function whole(text, lo, hi, what) {
  const v = Number(text), shown = String(text).length <= 20 ? String(text) : String(text).slice(0, 19) + '\u2026';
  if (String(text).trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`${what} must be a whole number from ${lo} to ${hi}, not ${shown || 'nothing'}.`);
  }
  return v;
}

export function mount(element, props) {
  const root = element.querySelector('.tv') || element;
  root.innerHTML = TEMPLATE;
  const $ = s => root.querySelector(s);
  if (!document.querySelector('link[data-train-view]')) {
    const link = Object.assign(document.createElement('link'), {rel: 'stylesheet', href: pageUrl('vae/static/train_view.css')});
    link.dataset.trainView = '';
    document.head.appendChild(link);
  }
  const info = props.value || {};
  $('.tv-digits').max = info.max_digits;
  $('.tv-seed').max = info.max_seed;  // every seed field's range (ui/inputs.MAX_SEED)
  const status = text => { $('.tv-status').textContent = text; };
  const state = {running: false, stopAsked: false, last: null, backend: null, rows: []};
  root.trainView = state;  // for tests: state.backend, state.rows, state.last
  $('.tv-kind').onchange = () => { $('.tv-beta-box').style.display = $('.tv-kind').value === 'vae' ? '' : 'none'; };
  const ready = Promise.all([loadLibrary(), fetchBytes(pageUrl(info.subset)).then(readSubset)]);
  ready.then(([lib]) => {
    state.backend = lib.backend;
    $('.tv-backend').textContent = `Training runs in your browser, on ${BACKENDS[lib.backend]}; the server does no work for it.`;
    status('Press Train. The loss curves, the map of the test digits\' codes, the decoded grid, reconstructions and ' +
           'samples then appear here as your model learns.');
  }, e => status(`Training in your browser is not available here: ${String(e.message || e).replace(/\.$/, '')}.`));
  addEventListener('pagehide', () => { state.stopAsked = true; });
  $('.tv-stop').onclick = () => { state.stopAsked = true; };
  $('.tv-download').onclick = () => {
    // one file (a browser asks before a page downloads several, and may keep all but the first): the folder
    // `python -m train` writes for the app, zipped
    const folder = `mnist-${state.last.config.kind}`;
    const a = Object.assign(document.createElement('a'), {download: `${folder}.zip`, href: URL.createObjectURL(
      new Blob([modelZip(folder, state.last.config, state.last.bytes, state.latents)], {type: 'application/zip'}))});
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  $('.tv-train').onclick = async () => {
    if (state.running) return;
    let settings;
    try {
      settings = {kind: $('.tv-kind').value, beta: $('.tv-beta').value, seed: whole($('.tv-seed').value, 0, info.max_seed, 'The seed'),
                  epochs: whole($('.tv-epochs').value, 1, 20, 'The number of epochs'),
                  nTrain: whole($('.tv-digits').value, 1000, info.max_digits, 'The number of training digits')};
    } catch (e) {
      return status(e.message);
    }
    let lib, data;
    try {
      [lib, data] = await ready;
    } catch (e) {
      return;  // the status line already says why
    }
    state.running = true; state.stopAsked = false; state.rows = []; state.drawGaps = [];
    root.dataset.started = '';  // the figures, hidden until now (train_view.css): empty boxes before a run
    $('.tv-train').disabled = true; $('.tv-stop').disabled = false;
    try {
      await train(lib.tf, data, settings);
    } catch (e) {
      status(String(e.message || e));
    } finally {
      state.running = false;
      $('.tv-train').disabled = false; $('.tv-stop').disabled = true;
    }
  };

  async function train(tf, data, s) {
    const isVae = s.kind === 'vae', trainer = new Trainer(tf, {kind: s.kind, beta: Number(s.beta), seed: s.seed});
    const fixedZ = normal(random(s.seed + 1), 32 * LATENT_SIZE), rows = state.rows;
    const testY = data.test.y, first8 = data.test.x.subarray(0, 8 * 784);
    $('.tv-samples-caption').textContent = isVae ? 'samples, z ~ N(0, I) (the same z every epoch)' : 'decodes of z ~ N(0, I) (the same z every epoch; an AE has no prior)';
    drawCurves($('.tv-curves'), rows, null, isVae);
    let lastDraw = 0, lastStep = 0;
    try {
      for await (const u of runEpochs(trainer, data, {epochs: s.epochs, nTrain: s.nTrain, stop: () => state.stopAsked})) {
        if (u.type === 'progress') {
          status(`Epoch ${u.epoch + 1} of ${s.epochs}: ${u.seen.toLocaleString('en')} of ${u.total.toLocaleString('en')} digits...`);
          const now = Date.now(), stepMs = now - (lastStep || now);
          lastStep = now;
          if (now - lastDraw + 1.5 * stepMs >= DRAW_EVERY_MS) {  // the map and the curves during an epoch
            if (lastDraw) state.drawGaps.push(Date.now() - lastDraw);  // for bench/train_in_browser.py
            lastDraw = Date.now();
            drawMap($('.tv-map'), await trainer.codes(data.test.x), testY, `during epoch ${u.epoch + 1}`);
            drawCurves($('.tv-curves'), rows, u, isVae);
            lastStep = Date.now();  // the next mini-batch's time without this drawing's
          }
          continue;
        }
        const {codes, ...row} = u;
        rows.push(row);
        lastDraw = lastStep = 0;  // the next epoch draws at its first mini-batch
        drawMap($('.tv-map'), codes, testY, `after epoch ${u.epoch + 1}`);
        drawCurves($('.tv-curves'), rows, null, isVae);
        // the grid: [-2, 2]^2 for a VAE (the prior's 2 sigma), the codes' own range for an AE
        const [[x0, x1], [y0, y1]] = isVae ? [[-2, 2], [-2, 2]] : codeRange(codes);
        const z = new Float32Array(GRID * GRID * 2);
        for (let r = 0; r < GRID; r++) for (let c = 0; c < GRID; c++) {
          z[2 * (r * GRID + c)] = x0 + c * (x1 - x0) / (GRID - 1);
          z[2 * (r * GRID + c) + 1] = y1 - r * (y1 - y0) / (GRID - 1);
        }
        paintDigits($('.tv-grid'), split(await trainer.decode(z), 784), GRID);
        $('.tv-grid-caption').textContent = `decoded grid: z1 from ${x0.toFixed(1)} to ${x1.toFixed(1)}, z2 from ${y0.toFixed(1)} to ${y1.toFixed(1)}` +
          (isVae ? '' : ' (the codes\' range)');
        const recon = await trainer.decode(await trainer.codes(first8));
        paintDigits($('.tv-recon'), [...split(first8, 784), ...split(recon, 784)], 8);
        paintDigits($('.tv-samples'), split(await trainer.decode(fixedZ), 784), 8);
        const name = modelName(s.kind, s.beta, rows.length);
        // codes and labels: the 1,000 test digits' (the map the latent explorer shows of it)
        state.last = {name, config: trainer.config(), bytes: await trainer.safetensorsBytes(), codes, labels: testY};
        // the test digits' codes and labels, as train/ writes test_latents.safetensors (the app's map of a model)
        state.latents = safetensors({mu: {shape: [testY.length, LATENT_SIZE], data: codes}, labels: {shape: [testY.length], data: testY}});
        window.vaeExplorerOwnModel = state.last;
        window.dispatchEvent(new CustomEvent('vae-explorer:own-model', {detail: state.last}));
        $('.tv-download').disabled = false;
        status(`Epoch ${u.epoch + 1} of ${s.epochs} (${u.seconds.toFixed(1)} s): train BCE ${u.train_bce.toFixed(1)}` +
               (isVae ? ` + KL ${u.train_kld.toFixed(2)}` : '') + `; test BCE ${u.test_bce.toFixed(1)}` +
               (isVae ? ` + KL ${u.test_kld.toFixed(2)}` : '') + ' nats per image.');
      }
    } finally {
      trainer.dispose();
    }
    const kept = state.last && rows.length ? `${state.last.name} is yours for this visit: Reconstruct, Sample and the latent explorer show it.` : '';
    if (state.stopAsked) status(rows.length ? `Stopped; ${kept}` : 'Stopped before the first epoch ended: no model was kept. Press Train to start again.');
    else status(`Done (${rows.reduce((a, r) => a + r.seconds, 0).toFixed(1)} s): ${kept}`);
    root.dataset.done = String(rows.length);
  }
}
