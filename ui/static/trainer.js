// Training an AE or a VAE in the visitor's page, on TensorFlow.js: the same model and loss as vae_models/mlp.py and
// vae_models/elbo.py, the same settings as `python -m train` (Adam, lr 1e-3, batch 128), on the packed MNIST subset
// (weights/mnist-subset.safetensors, train/mnist.pack_subset). This module knows nothing of the page: it takes `tf`
// (any backend) and runs in node as in a browser; tests/test_js.py checks its loss and its Adam steps against PyTorch.
//
//   encoder  h = relu(fc1(x)),  mu = fc_mu(h),  logvar = fc_logvar(h)        (q(z|x) = N(mu, exp(logvar)); AE: z = mu)
//   z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)                         (Kingma and Welling 2014, sec. 2.4)
//   decoder  logits = fc4(relu(fc3(z)))                                     (Bernoulli means sigmoid(logits))
//   loss = BCE + beta * KLD, summed over the batch; the step follows loss / batch (as train/loop.train_epoch)
//   BCE = sum softplus(l) - x l = relu(l) - x l + log(1 + exp(-|l|));  KLD = 1/2 sum (mu^2 + exp(logvar) - logvar - 1)
//
// The variables are kept in torch's nn.Linear layout (weight (out, in), y = x W^T + b) under torch's names, so
// `safetensorsBytes` is a file `load_pretrained` reads as it is.

export const DATA_SIZE = 784, HIDDEN_SIZE = 512, LATENT_SIZE = 2, BATCH_SIZE = 128, LR = 1e-3;
const LAYERS = {fc1: [HIDDEN_SIZE, DATA_SIZE], fc_mu: [LATENT_SIZE, HIDDEN_SIZE], fc_logvar: [LATENT_SIZE, HIDDEN_SIZE],
                fc3: [HIDDEN_SIZE, LATENT_SIZE], fc4: [DATA_SIZE, HIDDEN_SIZE]};

// A seeded generator of uniform numbers in [0, 1) (mulberry32): the page's runs repeat for a seed. Its numbers are
// not torch's; the tests hand both sides the same weights and noise instead.
export function random(seed) {
  let a = (Number(seed) >>> 0) || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// n standard normal numbers (Box-Muller) from `uniform`
export function normal(uniform, n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - uniform())), t = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

// the safetensors header: 8 bytes little-endian length n, then n bytes of JSON
function header(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 8) throw new Error('The training digits file is too short to be safetensors.');
  const n = Number(new DataView(buffer).getBigUint64(0, true));
  if (n > buffer.byteLength - 8) throw new Error('The training digits file is cut short.');
  try {
    return {n, tensors: JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, n)))};
  } catch (e) {
    throw new Error('The training digits file is not safetensors: its header is not JSON.');
  }
}

// weights/mnist-subset.safetensors (train_bits, train_labels, test_bits, test_labels; U8, 8 pixels a byte as
// np.packbits) -> {train: {x: Float32Array(N * 784) of 0s and 1s, y: Uint8Array(N), n}, test: {...}}
export function readSubset(buffer) {
  const {n, tensors} = header(buffer);
  const out = {};
  for (const split of ['train', 'test']) {
    const bits = tensors[`${split}_bits`], labels = tensors[`${split}_labels`];
    if (!bits || !labels || bits.dtype !== 'U8' || labels.dtype !== 'U8' || bits.shape[1] !== 98 || bits.shape[0] !== labels.shape[0])
      throw new Error(`The training digits file has no packed ${split} digits.`);
    const count = bits.shape[0], packed = new Uint8Array(buffer, 8 + n + bits.data_offsets[0], count * 98);
    const x = new Float32Array(count * DATA_SIZE);
    for (let i = 0; i < count; i++)
      for (let p = 0; p < DATA_SIZE; p++) x[i * DATA_SIZE + p] = (packed[i * 98 + (p >> 3)] >> (7 - (p & 7))) & 1;
    out[split] = {x, y: new Uint8Array(buffer.slice(8 + n + labels.data_offsets[0], 8 + n + labels.data_offsets[1])), n: count};
  }
  return out;
}

// nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5))
function initialWeights(kind, uniform) {
  const weights = {};
  for (const [name, [out, inp]] of Object.entries(LAYERS)) {
    if (name === 'fc_logvar' && kind !== 'vae') continue;
    const bound = 1 / Math.sqrt(inp);
    for (const [part, shape] of [['weight', [out, inp]], ['bias', [out]]]) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = (2 * uniform() - 1) * bound;
      weights[`${name}.${part}`] = {shape, data};
    }
  }
  return weights;
}

export class Trainer {
  // tf: TensorFlow.js with a backend set; kind: "vae" | "ae"; beta: the KL term's weight (the VAE's);
  // seed: the initial weights, the order of the digits and the noise; weights: {name: {shape, data}} to start from
  // (torch's names and layout) instead of the seeded initialisation
  constructor(tf, {kind = 'vae', beta = 1, seed = 0, weights = null} = {}) {
    if (kind !== 'vae' && kind !== 'ae') throw new Error('The model is a "vae" or an "ae".');
    this.tf = tf;
    this.kind = kind;
    this.beta = kind === 'vae' ? Number(beta) : 1;
    this.uniform = random(seed);
    this.params = {};
    for (const [name, t] of Object.entries(weights || initialWeights(kind, this.uniform)))
      this.params[name] = tf.variable(tf.tensor(t.data, t.shape, 'float32'), true, name);
    this.optimizer = tf.train.adam(LR, 0.9, 0.999, 1e-8);  // torch.optim.Adam's defaults
    this.steps = 0;
  }

  linear(x, name) {
    return this.tf.matMul(x, this.params[`${name}.weight`], false, true).add(this.params[`${name}.bias`]);
  }

  encode(x) {
    const h = this.tf.relu(this.linear(x, 'fc1'));
    return {mu: this.linear(h, 'fc_mu'), logvar: this.kind === 'vae' ? this.linear(h, 'fc_logvar') : null};
  }

  decodeLogits(z) {
    return this.linear(this.tf.relu(this.linear(z, 'fc3')), 'fc4');
  }

  // x: (B, 784) tensor, eps: (B, 2) tensor (the VAE's noise) -> {loss, bce, kld}, scalars summed over the batch
  losses(x, eps) {
    const tf = this.tf, {mu, logvar} = this.encode(x);
    const z = logvar ? mu.add(tf.exp(logvar.mul(0.5)).mul(eps)) : mu;
    const l = this.decodeLogits(z);
    const bce = tf.sum(tf.relu(l).sub(x.mul(l)).add(tf.log1p(tf.exp(tf.neg(tf.abs(l))))));
    const kld = logvar ? tf.sum(mu.square().add(tf.exp(logvar)).sub(logvar).sub(1)).mul(0.5) : tf.scalar(0);
    return {loss: bce.add(kld.mul(this.beta)), bce, kld, mu};
  }

  noise(n) {
    return normal(this.uniform, n * LATENT_SIZE);
  }

  // One Adam step on the batch x (Float32Array(B * 784)); eps: Float32Array(B * 2), else drawn from the seed.
  // -> {loss, bce, kld} summed over the batch (numbers)
  async step(x, eps = null) {
    const tf = this.tf, b = x.length / DATA_SIZE;
    let sums;
    tf.tidy(() => {
      const xt = tf.tensor2d(x, [b, DATA_SIZE]), et = tf.tensor2d(eps || this.noise(b), [b, LATENT_SIZE]);
      this.optimizer.minimize(() => {
        const parts = this.losses(xt, et);
        sums = tf.keep(tf.stack([parts.loss, parts.bce, parts.kld]));  // minimize disposes what its function made
        return parts.loss.div(b);  // the mean over the batch, as train/loop.train_epoch
      }, false, Object.values(this.params));
    });
    const [loss, bce, kld] = await sums.data();
    sums.dispose();
    this.steps += 1;
    return {loss, bce, kld};
  }

  // the losses per image over x (Float32Array(N * 784)), z sampled as in training (train/loop.evaluate), and the
  // codes mu of x (Float32Array(N * 2)) from the same pass
  async evaluate(x) {
    const tf = this.tf, n = x.length / DATA_SIZE;
    const [sums, mu] = tf.tidy(() => {
      const p = this.losses(tf.tensor2d(x, [n, DATA_SIZE]), tf.tensor2d(this.noise(n), [n, LATENT_SIZE]));
      return [tf.stack([p.loss, p.bce, p.kld]).div(n), p.mu];
    });
    const [loss, bce, kld] = await sums.data(), codes = await mu.data();
    tf.dispose([sums, mu]);
    return {loss, bce, kld, codes};
  }

  // x: Float32Array(N * 784) -> the codes mu, Float32Array(N * 2)
  async codes(x) {
    const tf = this.tf, n = x.length / DATA_SIZE;
    const mu = tf.tidy(() => this.encode(tf.tensor2d(x, [n, DATA_SIZE])).mu);
    const out = await mu.data();
    mu.dispose();
    return out;
  }

  // z: Float32Array(N * 2) -> pixel probabilities, Float32Array(N * 784)
  async decode(z) {
    const tf = this.tf, n = z.length / LATENT_SIZE;
    const p = tf.tidy(() => tf.sigmoid(this.decodeLogits(tf.tensor2d(z, [n, LATENT_SIZE]))));
    const out = await p.data();
    p.dispose();
    return out;
  }

  async weights() {
    const out = {};
    for (const [name, v] of Object.entries(this.params)) out[name] = {shape: v.shape, data: await v.data()};
    return out;
  }

  // config.json of vae_models' Autoencoder (save_pretrained's keys)
  config() {
    return {data_size: DATA_SIZE, hidden_size: HIDDEN_SIZE, kind: this.kind, latent_size: LATENT_SIZE};
  }

  // the model as safetensors (F32, torch's names and layout): what load_pretrained and the page's model.js read
  async safetensorsBytes() {
    return safetensors(await this.weights());
  }

  dispose() {
    for (const v of Object.values(this.params)) v.dispose();
    this.optimizer.dispose();
  }
}

// {name: {shape, data: Float32Array | Uint8Array}} -> an ArrayBuffer in the safetensors format (F32 or U8; names
// sorted, header padded with spaces to 8 bytes, as the safetensors library writes it)
export function safetensors(tensors) {
  const names = Object.keys(tensors).sort(), head = {__metadata__: {format: 'pt'}};
  let offset = 0;
  for (const name of names) {
    const data = tensors[name].data, dtype = data instanceof Uint8Array ? 'U8' : 'F32';
    if (dtype === 'F32' && !(data instanceof Float32Array)) throw new Error(`The tensor ${name} is neither float32 nor uint8.`);
    head[name] = {dtype, shape: tensors[name].shape, data_offsets: [offset, offset + data.byteLength]};
    offset += data.byteLength;
  }
  let json = JSON.stringify(head);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const text = new TextEncoder().encode(json), out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  for (const name of names) {  // little-endian on every platform a browser runs on
    const data = tensors[name].data;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 8 + text.length + head[name].data_offsets[0]);
  }
  return out.buffer;
}

// Hands the event loop a turn (the page's drawing, Stop) between two mini-batches: setImmediate in node, a
// MessageChannel in a page (setTimeout(0) waits 4 ms after a few nestings, and a second in a hidden tab).
export function nextTurn() {
  if (typeof setImmediate === 'function') return new Promise(resolve => setImmediate(resolve));
  return new Promise(resolve => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(0);
  });
}

// The training loop, as train/loop.run_epochs: `epochs` passes over the first nTrain training digits in a seeded
// order, mini-batches of BATCH_SIZE, each epoch followed by the test pass. An async generator: yields
// {type: "progress", epoch, seen, total, running} after every mini-batch (after a turn of the event loop) and
// {type: "epoch", epoch, train_loss, train_bce, train_kld, test_loss, test_bce, test_kld, seconds, codes} at each
// epoch's end (losses per image, nats; codes: the test digits' mu, Float32Array(N * 2)). stop() is asked before every mini-batch: true ends the run there, with no row for the
// unfinished epoch. A loss that is no longer finite throws an Error in one sentence.
export async function* runEpochs(trainer, data, {epochs, nTrain, stop = () => false}) {
  const train = data.train, n = Math.min(nTrain, train.n);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const t0 = Date.now(), order = Array.from({length: n}, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {  // Fisher-Yates with the trainer's seeded generator
      const j = Math.floor(trainer.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const sums = {loss: 0, bce: 0, kld: 0};
    for (let i = 0; i < n; i += BATCH_SIZE) {
      await nextTurn();
      if (stop()) return;
      const index = order.slice(i, i + BATCH_SIZE), x = new Float32Array(index.length * DATA_SIZE);
      index.forEach((k, r) => x.set(train.x.subarray(k * DATA_SIZE, (k + 1) * DATA_SIZE), r * DATA_SIZE));
      const s = await trainer.step(x);
      for (const key in sums) sums[key] += s[key];
      const seen = i + index.length;
      if (!Number.isFinite(sums.loss)) throw new Error(`The training loss became ${sums.loss / seen} in epoch ${epoch + 1}; the run stopped.`);
      yield {type: 'progress', epoch, seen, total: n, running: {loss: sums.loss / seen, bce: sums.bce / seen, kld: sums.kld / seen}};
    }
    const test = await trainer.evaluate(data.test.x);
    if (!Number.isFinite(test.loss)) throw new Error(`The test loss became ${test.loss} in epoch ${epoch + 1}; the run stopped.`);
    yield {type: 'epoch', epoch, train_loss: sums.loss / n, train_bce: sums.bce / n, train_kld: sums.kld / n,
           test_loss: test.loss, test_bce: test.bce, test_kld: test.kld, seconds: (Date.now() - t0) / 1000,
           codes: test.codes};
  }
}
