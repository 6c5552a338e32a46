"""The MNIST AE's and VAE's training step on the CPU, its backward pass written out: the same numbers as autograd's.

Why by hand: on the CPU this model's step is 5 large matrix products (about 4.7 ms on one core) and about 100 small
operations around them. Autograd's engine, its graph and torch.optim's Python add about 1 ms a step to the 2.2 s an
epoch's large products take; written out, the step is the products, a few fused element-wise passes and one Adam
kernel (`python bench/train_speed.py --threads 1`: the epoch 1.21x its floor; on two threads 1.26x to 1.46x, with the
shared machine's load; docs/benchmarks.md).

What it computes is what loss_function's autograd graph computes, operation for operation and in autograd's order
(sums of three gradients are grouped as autograd's engine groups them), so a run gives the same weights to the last
bit: tests/test_mlp_step.py compares losses, gradients and weights with the autograd step, for the AE and the VAE,
L = 1 to 3, beta 0.5 to 4. The model's own forward (vae_models/mlp.py) stays the reference; this is its derivative:

    h   = relu(x W1^T + b1)                       (B, 512)
    mu  = h Wmu^T + bmu,  lv = h Wlv^T + blv      (B, 2)     the AE has no lv: z = mu
    std = exp(0.5 lv),    z = mu + std * eps      (L, B, 2)  eps ~ N(0, I), drawn as reparameterize draws it
    h3  = relu(z W3^T + b3),  l = h3 W4^T + b4    (L, B, 784)
    loss / B, with loss = sum BCE(sigmoid(l), x) / L + beta * 1/2 sum (mu^2 + exp(lv) - lv - 1)

Any other model, the conditional VAE included, trains through autograd (train/loop.py).
"""
import contextlib

import torch

from vae_models import Autoencoder

from .adam import Adam

# ReLU's gradient as autograd computes it (grad where out > 0, else +0), written into a given buffer
relu_backward = torch.ops.aten.threshold_backward.grad_input


@contextlib.contextmanager
def subnormals_flushed():
    """Within: the CPU flushes subnormal floats (below 1.2e-38) to zero. Enter it before torch's first parallel
    operation: the threads of its pool copy the setting from the thread that starts them (and keep it).

    Why: Adam's first moments of weights whose gradient is rarely nonzero (fc1's rows for the pixels at the edge of
    the digits) decay by 0.9 a step into subnormal numbers, 23% of fc1's after two epochs, and a subnormal operand
    makes the CPU's arithmetic slow: Adam's step took 0.43 ms instead of 0.28 ms on one thread
    (`python bench/subnormals.py`). The weights do not
    change (an update of lr * 1e-39 / sqrt(v) is far below half a unit in the last place of a weight): 2-epoch AE and
    VAE runs and a 6-epoch VAE run gave byte-identical weights with and without (docs/training.md); only the
    checkpoint's Adam moments hold 0 where they held a subnormal."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def transposed_product_is_exact(rows, wide, narrow):
    """Whether (z^T d)^T gives the bits of d^T z, for d (rows, wide) and z (rows, narrow), on this CPU.

    d^T z is autograd's form of the latent layer's weight gradient, (512, B) @ (B, 2); MKL computes it several times
    slower than (2, B) @ (B, 512), whose result transposed holds the same sums. Both sum the
    B products in one order here, so the bits agree; another CPU may take other kernels, so the step checks it once
    per batch shape on random data (another order of summation would differ in almost every element), without
    touching torch's global random state."""
    g = torch.Generator().manual_seed(0)
    d, z = torch.randn(rows, wide, generator=g).relu_(), torch.randn(rows, narrow, generator=g)
    return torch.equal(d.t().mm(z), z.t().mm(d).t())


class MLPStep:
    """One training step on train_x[index] (forward, backward, Adam) for an Autoencoder of kind "ae" or "vae";
    the interface of loop.CapturedStep: call it with each batch's index, read the epoch's (loss, bce, kld) sums in
    .sums."""

    @staticmethod
    def handles(model, cfg):
        return type(model) is Autoencoder and model.kind in ("ae", "vae") and cfg.device == "cpu"

    def __init__(self, model, optimizer, train_x, cfg):
        if not (self.handles(model, cfg) and isinstance(optimizer, Adam)):
            raise ValueError("MLPStep trains an Autoencoder (AE or VAE) on the CPU with train.adam.Adam")
        self.model, self.optimizer, self.train_x, self.cfg = model, optimizer, train_x, cfg
        layers = [model.fc1, model.fc_mu] + ([model.fc_logvar] if model.is_vae else []) + [model.fc3, model.fc4]
        self.params = [t for layer in layers for t in (layer.weight, layer.bias)]
        if [id(p) for p in self.params] != [id(p) for p in optimizer.params]:
            raise ValueError("the optimizer must hold the model's parameters in the model's order")
        self.sums = torch.zeros(3)
        self._workspace = {}

    @torch.no_grad()
    def __call__(self, index):
        L = self.cfg.n_mc_samples if self.model.is_vae else 1
        buf = self._buffers(len(index), L)
        if self.train_x.dtype == torch.uint8:
            x = torch.index_select(self.train_x, 0, index).float().div_(255)
        else:
            x = torch.index_select(self.train_x, 0, index, out=buf["x"])
        self.losses_and_grads(x.flatten(1))  # the step's (loss, bce, kld) in buf["losses"], its gradients in buf
        self.optimizer.apply(buf["grads"])
        self.sums += buf["losses"]

    def _buffers(self, B, L):
        """The step's arrays, made once per batch shape and reused: the large ones (freed, glibc hands arrays of this
        size back to the system and the next step faults them in again: the first epoch of a 3-epoch run was 0.6 s
        slower so), the gradients (one buffer per parameter, in the optimizer's order), the step's (loss, bce, kld),
        and the 0-d constants (an operation with a Python number first makes a tensor of it: ~3 us each)."""
        if (B, L) not in self._workspace:
            hidden, data = self.model.fc1.out_features, self.model.fc4.out_features
            shapes = {"x": (B, *self.train_x.shape[1:]), "h": (B, hidden), "d_h": (B, hidden), "d_a1": (B, hidden),
                      "eps": (L, B, self.model.fc_mu.out_features), "gW3_t": self.model.fc3.weight.shape[::-1],
                      "d_h_lv": (B, hidden), "h3": (L * B, hidden), "d_h3": (L * B, hidden), "d_a3": (L * B, hidden),
                      "logits": (L * B, data), "tail": (L * B, data), "d_logits": (L * B, data)}
            buf = self._workspace[B, L] = {k: torch.empty(shape) for k, shape in shapes.items()}
            buf["grads"] = [torch.empty_like(p) for p in self.params]
            buf["losses"] = torch.zeros(3)  # (loss, bce, kld); the AE's kld stays 0
            buf["loss_views"] = buf["losses"].unbind()
            # the backward's 0-d factors as autograd carries them: g = d(loss / B)/d(loss), then through the mean
            # over the L samples, and through beta * KLD and KLD's 0.5 *
            g = torch.ones(()) / B
            g_kl = (g * self.cfg.beta) * 0.5
            buf.update(g_L=g / L, g_kl=g_kl, minus_g_kl=-g_kl, gW3_transposed=(
                transposed_product_is_exact(L * B, hidden, self.model.fc3.in_features)))
            # the numbers the forward writes, as 0-d float32 tensors: torch rounds a Python number to the tensor's
            # float32 before it multiplies, so x * half is x * 0.5's bits
            buf.update({k: torch.tensor(float(v)) for k, v in
                        {"half": 0.5, "one": 1, "two": 2, "beta": self.cfg.beta, "L": L}.items()})
        return self._workspace[B, L]

    @torch.no_grad()
    def losses_and_grads(self, x):
        """(loss, bce, kld) summed over the batch x (B, 784), and the gradients of loss / B, one per parameter.
        Both live in buffers that the next call overwrites."""
        vae = self.model.is_vae
        if vae:
            W1, b1, Wm, bm, Wl, bl, W3, b3, W4, b4 = self.params
        else:
            W1, b1, Wm, bm, W3, b3, W4, b4 = self.params
        B, L = len(x), (self.cfg.n_mc_samples if vae else 1)
        buf = self._buffers(B, L)
        grads, (loss, bce, kld) = buf["grads"], buf["loss_views"]
        # forward, as Autoencoder.forward and loss_function compute it (relu in place: the same values)
        h = torch.addmm(b1, x, W1.t(), out=buf["h"]).relu_()
        mu = torch.addmm(bm, h, Wm.t())
        if vae:
            lv = torch.addmm(bl, h, Wl.t())
            eps = buf["eps"].normal_()  # torch.randn((L, B, 2)) is this: the same draws
            std = torch.exp(lv * buf["half"])
            z = mu + std * eps
        else:
            z = mu.unsqueeze(0)
        z2 = z.reshape(L * B, -1)
        h3 = torch.addmm(b3, z2, W3.t(), out=buf["h3"]).relu_()
        logits = torch.addmm(b4, h3, W4.t(), out=buf["logits"])  # (L B, 784)
        xs = x.expand(L, *x.shape).reshape(L * B, -1) if L > 1 else x
        # the BCE's value as BCEWithLogitsSum computes it (only reported: the gradient does not read it), with
        # -|l| as l - 2 relu(l) (exact) from relu(l), which the sum needs anyway, in a buffer used below
        positive = torch.clamp_min(logits, 0, out=buf["d_logits"])
        tail = torch.add(logits, positive, alpha=-2, out=buf["tail"]).exp_().add_(buf["one"]).log_().sum()
        torch.div(tail + positive.sum() - torch.dot(xs.reshape(-1), logits.reshape(-1)), buf["L"], out=bce)
        if vae:
            exp_lv = lv.exp()
            per_image = torch.sum(torch.mul(mu, mu).add_(exp_lv).sub_(lv).sub_(buf["one"]), dim=-1)  # mu^2: mu * mu
            torch.sum(per_image.mul_(buf["half"]), 0, out=kld)
        torch.add(bce, kld * buf["beta"], out=loss)

        # backward of loss / B
        if vae:
            gW1, gb1, gWm, gbm, gWl, gbl, gW3, gb3, gW4, gb4 = grads
        else:
            gW1, gb1, gWm, gbm, gW3, gb3, gW4, gb4 = grads
        d_logits = torch.sigmoid(logits, out=buf["d_logits"]).sub_(xs).mul_(buf["g_L"])
        torch.mm(d_logits.t(), h3, out=gW4), torch.sum(d_logits, 0, out=gb4)
        d_a3 = relu_backward(torch.mm(d_logits, W4, out=buf["d_h3"]), h3, 0, grad_input=buf["d_a3"])
        if buf["gW3_transposed"]:
            gW3.copy_(torch.mm(z2.t(), d_a3, out=buf["gW3_t"]).t())
        else:
            torch.mm(d_a3.t(), z2, out=gW3)
        torch.sum(d_a3, 0, out=gb3)
        d_z = d_a3.mm(W3).view(L, B, -1)
        if vae:
            g_kl = buf["g_kl"]
            d_mu = d_z.sum(0).add_((mu * buf["two"]).mul_(g_kl))  # z = mu + ..., and mu^2
            d_lv = (d_z * eps).sum(0).mul_(std).mul_(buf["half"])  # z = ... + exp(0.5 lv) * eps
            d_lv.add_(exp_lv.mul(g_kl).add_(buf["minus_g_kl"]))  # + exp(lv) - lv: autograd's grouping
            torch.mm(d_lv.t(), h, out=gWl), torch.sum(d_lv, 0, out=gbl)
            d_h = torch.mm(d_mu, Wm, out=buf["d_h"]).add_(torch.mm(d_lv, Wl, out=buf["d_h_lv"]))
        else:
            d_mu = d_z.sum(0)
            d_h = torch.mm(d_mu, Wm, out=buf["d_h"])
        torch.mm(d_mu.t(), h, out=gWm), torch.sum(d_mu, 0, out=gbm)
        d_a1 = relu_backward(d_h, h, 0, grad_input=buf["d_a1"])
        torch.mm(d_a1.t(), x, out=gW1), torch.sum(d_a1, 0, out=gb1)
        return (loss, bce, kld), grads
