// A drawing -> the models' 28x28 input, by the rules of ui/preprocess.py (to_ink, center_digit, then rounding), so
// that the page and the server give the models the same digit (tests/test_js.py and the browser tests check it):
//   1. ink: the alpha channel where the picture is transparent, else the luminance, inverted on a light background;
//   2. the ink stretched between the border's median (background) and its maximum; nothing: "no digit";
//   3. cropped to the pixels above 0.2 (a crop whose longer side is under 1/8 of the picture's shorter side: "too
//      small to be a digit"), scaled so the longer side is 20 px with PIL's Lanczos (a = 3, widened by the scale
//      when reducing, horizontal pass then vertical, float32 between the passes), clipped to [0, 1];
//   4. placed in 28x28 so that its centre of mass is at (14, 14) (rounded half to even, as Python's round);
//   5. binarised by rounding (0.5 goes to 0, as numpy's round).
// Where it differs from the server: PIL sums the Lanczos products in double precision as this does, so the two agree
// to float32 rounding; a pixel within about 1e-6 of 0.5 may round the other way (none did in the tests' 20 drawings,
// which match in 100% of pixels when both read the same picture). Uploads and photos stay on the server (their
// cleaning uses scikit-image).

export class NoDigit extends Error {}

// a mark whose longer side spans less than this part of the picture's shorter side is no digit (ui/preprocess.py)
export const MIN_INK_SPAN = 1 / 8;
const tooSmall = (span, side) => `That mark is too small to be a digit: it spans ${span} of the picture's ${side} pixels; ` +
  'draw the digit larger, or crop the image closer to it.';

const roundHalfEven = v => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

function median(values) {  // numpy's median: the mean of the two middle values for an even count
  const s = Float64Array.from(values).sort(), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// RGBA pixels (ImageData's data, width, height) -> ink (Float64Array, H*W) in [0, 1], as ui.preprocess.to_ink
export function toInk(rgba, width, height) {
  const n = width * height, ink = new Float64Array(n);
  let minAlpha = 255;
  for (let i = 0; i < n; i++) minAlpha = Math.min(minAlpha, rgba[4 * i + 3]);
  if (minAlpha / 255 < 0.99) {
    for (let i = 0; i < n; i++) ink[i] = rgba[4 * i + 3] / 255;
    return ink;
  }
  // PIL's convert("L"): L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16
  for (let i = 0; i < n; i++) ink[i] = ((rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 0x8000) >> 16) / 255;
  if (median(border(ink, width, height)) > 0.5) for (let i = 0; i < n; i++) ink[i] = 1 - ink[i];
  return ink;
}

function border(a, w, h) {  // first row, last row, first column, last column, as numpy's concatenate in to_ink
  const out = [];
  for (let x = 0; x < w; x++) out.push(a[x]);
  for (let x = 0; x < w; x++) out.push(a[(h - 1) * w + x]);
  for (let y = 0; y < h; y++) out.push(a[y * w]);
  for (let y = 0; y < h; y++) out.push(a[y * w + w - 1]);
  return out;
}

const sinc = x => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const lanczos = x => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

// PIL's precompute_coeffs (libImaging/Resample.c) for inSize -> outSize over the whole input
function coefficients(inSize, outSize) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = 3 * filterscale, ss = 1 / filterscale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0), xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let total = 0;
    for (let x = 0; x < xmax; x++) { k[x] = lanczos((x + xmin - center + 0.5) * ss); total += k[x]; }
    if (total !== 0) for (let x = 0; x < xmax; x++) k[x] /= total;
    out.push({xmin, k});
  }
  return out;
}

// a float32 image (w, h) -> (W, H) with PIL's LANCZOS, as Image.fromarray(float32, "F").resize((W, H), LANCZOS)
export function resizeLanczos(src, w, h, W, H) {
  let img = Float32Array.from(src), cw = w;
  if (W !== w) {
    const cs = coefficients(w, W), mid = new Float32Array(W * h);
    for (let y = 0; y < h; y++) for (let xx = 0; xx < W; xx++) {
      const {xmin, k} = cs[xx];
      let s = 0;
      for (let x = 0; x < k.length; x++) s += img[y * w + xmin + x] * k[x];
      mid[y * W + xx] = s;
    }
    img = mid; cw = W;
  }
  if (H !== h) {
    const cs = coefficients(h, H), out = new Float32Array(cw * H);
    for (let yy = 0; yy < H; yy++) {
      const {xmin, k} = cs[yy];
      for (let x = 0; x < cw; x++) {
        let s = 0;
        for (let y = 0; y < k.length; y++) s += img[(xmin + y) * cw + x] * k[y];
        out[yy * cw + x] = s;
      }
    }
    img = out;
  }
  return img;
}

// ink (H*W) -> 28x28 Float32Array in [0, 1], as ui.preprocess.center_digit; NoDigit when there is no ink to speak of,
// or too little of it to be a digit
export function centerDigit(ink, width, height, threshold = 0.2) {
  const background = median(border(ink, width, height));
  let max = -Infinity;
  for (let i = 0; i < ink.length; i++) max = Math.max(max, ink[i]);
  const contrast = max - background;
  if (contrast < 0.1) throw new NoDigit('No digit found: the canvas is empty. Draw a digit.');
  const stretched = new Float64Array(ink.length);
  let r0 = Infinity, r1 = -1, c0 = Infinity, c1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const v = Math.min(Math.max((ink[y * width + x] - background) / contrast, 0), 1);
    stretched[y * width + x] = v;
    if (v > threshold) { r0 = Math.min(r0, y); r1 = Math.max(r1, y); c0 = Math.min(c0, x); c1 = Math.max(c1, x); }
  }
  const ch = r1 - r0 + 1, cw = c1 - c0 + 1, crop = new Float32Array(ch * cw);
  if (Math.max(ch, cw) < MIN_INK_SPAN * Math.min(height, width)) throw new NoDigit(tooSmall(Math.max(ch, cw), Math.min(height, width)));
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) crop[y * cw + x] = stretched[(r0 + y) * width + c0 + x];
  const scale = 20 / Math.max(ch, cw);
  const W = Math.max(1, roundHalfEven(cw * scale)), H = Math.max(1, roundHalfEven(ch * scale));
  const patch = resizeLanczos(crop, cw, ch, W, H);
  let total = 0, sy = 0, sx = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const v = Math.min(Math.max(patch[y * W + x], 0), 1);
    patch[y * W + x] = v; total += v; sy += y * v; sx += x * v;
  }
  const top = Math.min(Math.max(roundHalfEven(14 - sy / total), 0), 28 - H);
  const left = Math.min(Math.max(roundHalfEven(14 - sx / total), 0), 28 - W);
  const out = new Float32Array(784);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(top + y) * 28 + left + x] = patch[y * W + x];
  return out;
}

// RGBA pixels of a drawing -> the models' input: Float32Array(784) of 0s and 1s (ui.preprocess.preprocess_digit for a
// drawing, which is never read as a photo: its background is one flat colour). Throws NoDigit for an empty canvas.
export function preprocessDrawing(rgba, width, height) {
  const x = centerDigit(toInk(rgba, width, height), width, height);
  for (let i = 0; i < 784; i++) x[i] = x[i] > 0.5 ? 1 : 0;
  return x;
}
