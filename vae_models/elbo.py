"""The negative ELBO of a VAE with a diagonal Gaussian posterior and a Bernoulli decoder.

Loss = KL(q(z|x) || N(0, I)) - (1/L) sum_l log p(x | z_l),   z_l ~ q(z|x)   (Kingma and Welling 2014, eq. 10)

With q(z|x) = N(mu, diag(sigma^2)) the KL between two Gaussians,
    KL(N(mu1, S1) || N(mu2, S2)) = 1/2 [(mu2 - mu1)^T S2^-1 (mu2 - mu1) + tr(S2^-1 S1) - log(|S1| / |S2|) - n],
with mu2 = 0, S2 = I has the closed form
    KL = 1/2 * sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)
and for a Bernoulli decoder log p(x|z) = sum_i x_i log lambda_i + (1 - x_i) log(1 - lambda_i) = -BCE(lambda, x).
"""
from typing import NamedTuple

import torch


class Losses(NamedTuple):
    """The negative ELBO and its two named parts (scalars, or whatever the caller reduced them to): read them by
    name (losses.bce), or unpack them as loss, bce, kld."""
    loss: torch.Tensor
    bce: torch.Tensor
    kld: torch.Tensor


def reparameterize(mu, logvar, n_samples=1, generator=None):
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (Kingma & Welling 2014, sec. 2.4): (B, n) -> (L, B, n).

    The noise is outside the network, so gradients flow to mu and logvar. With logvar None (the plain
    autoencoder) z is mu itself and L is 1.
    """
    if logvar is None:
        return mu.unsqueeze(0)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row: (B, n) -> (B,)."""
    # mu^T mu + tr(Sigma) - log|Sigma| - n, with tr(Sigma) = sum exp(logvar) and log|Sigma| = sum logvar
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1, dim=-1)


class BCEWithLogitsSum(torch.autograd.Function):
    """sum BCE(sigmoid(logits), x) = sum softplus(logits) - x * logits, from the logits, never log(0); its gradient
    is (sigmoid(logits) - x) * grad, computed as F.binary_cross_entropy_with_logits computes it, bit for bit.

    The sum is sum log(1 + exp(-|l|)) + sum max(l, 0) - x . l: PyTorch's own forward calls log1p, which on the CPU
    runs one element at a time and took 1 of the 1.1 ms of BCE and its gradient for a batch of 128 digits (log on
    1 + z is vectorised; where z = exp(-|l|) is below 2^-24 it drops a term of at most 6e-8 nats). The tail is
    computed in place in one buffer and x . l is one dot product: three passes over the logits instead of nine. The
    forward's value is only reported (the gradient does not read it), so its form changes no trained weight."""

    generate_vmap_rule = True  # train/ensemble.py trains many members at once under torch.func.vmap

    @staticmethod
    def forward(logits, x):
        softplus_tail = logits.abs().neg_().exp_().add_(1).log_()
        return softplus_tail.sum() + torch.relu(logits).sum() - torch.dot(x.reshape(-1), logits.reshape(-1))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        logits, x = ctx.saved_tensors
        return (torch.sigmoid(logits) - x) * grad, None


def loss_function(logits, x, mu, logvar, beta=1.0):
    """Negative ELBO summed over a batch, and its two parts: loss = BCE + beta * KLD.

    logits: (L, B, ...) decoder logits for L Monte Carlo samples of z; x: (B, ...) targets in [0, 1];
    mu, logvar: (B, n), or logvar None for the plain autoencoder (no KL term). beta weights the KL term (Higgins et
    al. 2017): 1 is the ELBO itself (x * 1.0 is exact, so beta = 1 changes no bit); below 1 the model leans towards
    the autoencoder, above 1 towards the prior.
    Returns Losses(loss, bce, kld), each a scalar summed over the batch; BCE is averaged over the L samples.
    """
    n_samples = logits.shape[0]
    # BCE on logits never sees log(0): a decoder output of exactly 0 or 1 is no NaN.
    BCE = BCEWithLogitsSum.apply(logits, x.expand_as(logits)) / n_samples
    if logvar is None:
        KLD = torch.zeros((), device=x.device)
    else:
        KLD = gaussian_kl(mu, logvar).sum()
    return Losses(BCE + beta * KLD, BCE, KLD)
