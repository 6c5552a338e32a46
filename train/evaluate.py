"""Test-set evaluation of a trained model: the negative ELBO with its parts, and an importance-sampled log p(x).

    python -m train evaluate weights/mnist-vae [--n_samples 1000]

For the VAE, log p(x) = log E_{q(z|x)}[p(x|z) p(z) / q(z|x)] is estimated with K samples from q(z|x) as
    log p(x) ~= logsumexp_k(log w_k) - log K,   log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),
which is the K-sample importance-weighted bound of Burda et al. (2016): below log p(x) on average, above the ELBO
(the K = 1 case), and tighter as K grows. The AE has no density, only its reconstruction BCE.
"""
import math

import torch
import torch.nn.functional as F

from vae_models import gaussian_kl, reparameterize

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
def evaluate_model(model, x, n_samples=1000, seed=0, batch_size=100):
    """Per-image means over the data x (N, 784): a dict of bce, kld, neg_elbo, and for the VAE log_px with its
    standard error over the images (and the same-sample ELBO, iw_elbo)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    bce, kld, log_px, iw_elbo = [], [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        mu, logvar = model.encode(xb)
        log_lik = bernoulli_log_likelihood(model, xb)
        if logvar is None:  # the AE: its one code
            bce.append(-log_lik(mu.unsqueeze(0))[0])
            continue
        lp, elbo = importance_log_likelihood(log_lik, mu, logvar, n_samples, g)
        log_px.append(lp)
        iw_elbo.append(elbo)
        # the assignment's estimator (eq. 4): closed-form KL, reconstruction averaged over the samples (L = K here)
        z = reparameterize(mu, logvar, min(n_samples, 100), g)
        bce.append(-log_lik(z).mean(0))
        kld.append(gaussian_kl(mu, logvar))
    out = {"n_images": len(x), "bce": torch.cat(bce).mean().item()}
    if log_px:
        lp = torch.cat(log_px)
        out.update(kld=torch.cat(kld).mean().item(), log_px=lp.mean().item(),
                   log_px_se=(lp.std() / math.sqrt(len(lp))).item(), iw_elbo=torch.cat(iw_elbo).mean().item(),
                   n_samples=n_samples)
        out["neg_elbo"] = out["bce"] + out["kld"]
    else:
        out["neg_elbo"] = out["bce"]
    return out


def format_result(name, r):
    if "log_px" not in r:
        return f"{name}: {r['n_images']} test images, reconstruction BCE {r['bce']:.2f} nats per image (no KL: an AE)"
    return (f"{name}: {r['n_images']} test images, per image: negative ELBO {r['neg_elbo']:.2f} nats "
            f"= BCE {r['bce']:.2f} + KL {r['kld']:.2f}; importance-sampled log p(x) {r['log_px']:.2f} "
            f"+- {r['log_px_se']:.2f} (K = {r['n_samples']}; the ELBO from the same samples {r['iw_elbo']:.2f})")
