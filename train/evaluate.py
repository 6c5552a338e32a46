"""Test-set evaluation of a trained model: the negative ELBO with its parts, and log p(x).

    python -m train evaluate weights/mnist-vae [--n_samples 1000] [--grid 240]

For a 2-D latent, log p(x) is computed by quadrature (vae_models.posterior: p(x|z) p(z) summed over a grid), which is
exact up to the grid's resolution, and the importance-sampled estimate is printed beside it. For a larger latent no
grid is possible: the importance-sampled number is a lower bound whose gap is not known, printed for several K.

For the VAE, log p(x) = log E_{q(z|x)}[p(x|z) p(z) / q(z|x)] is estimated with K samples from q(z|x) as
    log p(x) ~= logsumexp_k(log w_k) - log K,   log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),
which is the K-sample importance-weighted bound of Burda et al. (2016): below log p(x) on average, above the ELBO
(the K = 1 case), and tighter as K grows. The AE has no density, only its reconstruction BCE.
"""
import math
import time

import torch
import torch.nn.functional as F

from vae_models import gaussian_kl, reparameterize
from vae_models.posterior import bernoulli_log_joint, log_px_on_grid

GRID_LIM = 6.0  # the shared grid covers [-6, 6]^2, widened when a test image's posterior reaches its border
EDGE_TOL = 10.0  # nats below the peak that the grid's border must stay

LOG_2PI = math.log(2 * math.pi)


def log_normal(z, mu, logvar):
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + LOG_2PI).sum(-1)


def importance_log_likelihood(log_px_given_z, mu, logvar, n_samples, generator=None, chunk=100):
    """Importance-sampled log p(x) per row with q = N(mu, diag(exp(logvar))) as proposal and p(z) = N(0, I).

    log_px_given_z: (k, B, n) latents -> (k, B) log-likelihoods. Returns (log p(x) estimate, mean log w), each (B,);
    the second is the ELBO estimated from the same samples."""
    log_w = []
    for start in range(0, n_samples, chunk):
        z = reparameterize(mu, logvar, min(chunk, n_samples - start), generator)
        prior = log_normal(z, torch.zeros_like(mu), torch.zeros_like(logvar))
        log_w.append(log_px_given_z(z) + prior - log_normal(z, mu, logvar))
    log_w = torch.cat(log_w)
    return torch.logsumexp(log_w, 0) - math.log(n_samples), log_w.mean(0)


def bernoulli_log_likelihood(model, x):
    """-> a function of z (k, B, n) giving log p(x|z) = -BCE, summed over pixels: (k, B)."""
    def log_px_given_z(z):
        logits = model.decode_logits(z)
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    return log_px_given_z


@torch.inference_mode()
def quadrature_log_px(model, x, n=240, lim=GRID_LIM, batch_size=500):
    """log p(x) per image (N,) on a shared n x n grid over [-lim, lim]^2; the images whose posterior reaches the
    border are computed again on a grid twice as wide (and with twice the points), until none does.
    -> (log p(x) (N,), the number of images that needed a wider grid, the widest lim used)."""
    lp = torch.empty(len(x), dtype=torch.float64)
    todo, widened, first = torch.arange(len(x)), 0, True
    while len(todo):
        parts = [log_px_on_grid(bernoulli_log_joint(model, x[todo[i:i + batch_size]]), n=n, lim=lim)
                 for i in range(0, len(todo), batch_size)]
        values, edge = (torch.cat(t) for t in zip(*parts))
        lp[todo] = values
        todo = todo[edge >= -EDGE_TOL]
        if len(todo):
            widened += len(todo) if first else 0
            lim, n, first = 2 * lim, 2 * n, False
    return lp, widened, lim


@torch.inference_mode()
def importance_log_px(model, x, n_samples, seed=0, batch_size=100):
    """Per-image importance-sampled log p(x) (N,) and the ELBO from the same samples (N,)."""
    g = torch.Generator().manual_seed(seed)
    lps, elbos = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        mu, logvar = model.encode(xb)
        lp, elbo = importance_log_likelihood(bernoulli_log_likelihood(model, xb), mu, logvar, n_samples, g)
        lps.append(lp)
        elbos.append(elbo)
    return torch.cat(lps), torch.cat(elbos)


def _mean_se(t):
    return t.mean().item(), (t.std() / math.sqrt(len(t))).item()


@torch.inference_mode()
def evaluate_model(model, x, n_samples=1000, seed=0, batch_size=100, grid=240, ks=(10, 100, 1000, 10_000),
                   per_image=False):
    """Per-image means over the data x (N, 784): a dict of bce, kld, neg_elbo; for a VAE also the importance-sampled
    log_px with its standard error over the images (and the same-sample ELBO, iw_elbo), and then
    - with a 2-D latent: quad_log_px by quadrature on a grid x grid grid (0 to skip), with its error and time;
    - with a larger latent: log_px for each K in ks (is_by_k), since nothing tells how far below log p(x) they are.
    per_image: also return the per-image tensors under "images"."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    bce, kld = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        mu, logvar = model.encode(xb)
        log_lik = bernoulli_log_likelihood(model, xb)
        if logvar is None:  # the AE: its one code
            bce.append(-log_lik(mu.unsqueeze(0))[0])
            continue
        # the ELBO's estimator: closed-form KL, reconstruction averaged over L = min(K, 100) samples of z
        z = reparameterize(mu, logvar, min(n_samples, 100), g)
        bce.append(-log_lik(z).mean(0))
        kld.append(gaussian_kl(mu, logvar))
    bce = torch.cat(bce)
    out = {"n_images": len(x), "bce": bce.mean().item(), "latent_size": model.latent_size}
    images = {"bce": bce}
    if not kld:
        out["neg_elbo"] = out["bce"]
        return {**out, "images": images} if per_image else out
    kld = torch.cat(kld)
    images["kld"] = kld
    out.update(kld=kld.mean().item(), neg_elbo=out["bce"] + kld.mean().item(), n_samples=n_samples)
    t = time.perf_counter()
    lp, elbo = importance_log_px(model, x, n_samples, seed + 1, batch_size)
    out.update(log_px=lp.mean().item(), log_px_se=_mean_se(lp)[1], iw_elbo=elbo.mean().item(),
               is_seconds=time.perf_counter() - t)
    images["is_log_px"] = lp
    if model.latent_size == 2 and grid:
        t = time.perf_counter()
        quad, widened, lim = quadrature_log_px(model, x, grid)
        out.update(quad_log_px=quad.mean().item(), quad_se=_mean_se(quad)[1], quad_seconds=time.perf_counter() - t,
                   grid=grid, grid_lim=GRID_LIM, widened=widened, widest_lim=lim)
        images["quad_log_px"] = quad
    elif model.latent_size != 2:
        out["is_by_k"] = {k: importance_log_px(model, x, k, seed + 2, batch_size)[0].mean().item() for k in ks}
    return {**out, "images": images} if per_image else out


def format_result(name, r):
    if "log_px" not in r:
        return f"{name}: {r['n_images']} test images, reconstruction BCE {r['bce']:.2f} nats per image (no KL: an AE)"
    lines = [f"{name}: {r['n_images']} test images, per image: negative ELBO {r['neg_elbo']:.2f} nats "
             f"= BCE {r['bce']:.2f} + KL {r['kld']:.2f}"]
    if "quad_log_px" in r:
        wider = (f"; {r['widened']} images whose posterior reached the border on [-{r['widest_lim']:g}, "
                 f"{r['widest_lim']:g}]^2 with proportionally more points" if r["widened"] else "")
        lines.append(f"  log p(x) by quadrature ({r['grid']}x{r['grid']} grid on [-{r['grid_lim']:g}, "
                     f"{r['grid_lim']:g}]^2{wider}): {r['quad_log_px']:.2f} +- {r['quad_se']:.2f} "
                     f"({r['quad_seconds']:.0f} s)")
    lines.append(f"  importance-sampled log p(x), K = {r['n_samples']} samples from q(z|x): {r['log_px']:.2f} "
                 f"+- {r['log_px_se']:.2f} ({r['is_seconds']:.0f} s; the ELBO from the same samples "
                 f"{r['iw_elbo']:.2f})")
    if "quad_log_px" in r:
        lines.append(f"  the importance-sampled estimate is {r['quad_log_px'] - r['log_px']:.2f} nats below the "
                     f"quadrature, which is {r['quad_log_px'] + r['neg_elbo']:.2f} nats above the ELBO "
                     "(that gap is KL(q(z|x) || p(z|x)), averaged)")
    if "is_by_k" in r:
        by_k = ", ".join(f"K = {k}: {v:.2f}" for k, v in r["is_by_k"].items())
        lines.append(f"  a {r['latent_size']}-D latent has no grid: the importance-sampled numbers are "
                     f"lower bounds on log p(x) whose gap is not known ({by_k})")
    lines.append("  (+- is the standard error of the mean over the images)")
    return "\n".join(lines)
