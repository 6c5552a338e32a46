"""The true posterior p(z|x) and log p(x) of a model with a 2-D latent, by quadrature on a grid.

With z in 2-D, p(x) = integral of p(x|z) p(z) dz can be computed, not only bounded: evaluate log p(x|z) + log p(z) on
a grid of points z_g with cell area h^2 and take
    log p(x) ~= logsumexp_g(log p(x|z_g) + log p(z_g)) + log h^2,
which converges quickly as the grid is refined, for a smooth integrand, once the grid covers where it has mass.
p(z|x) is the same grid normalised, and KL(q(z|x) || p(z|x)) = log p(x) - ELBO is the gap the encoder leaves.
"""
import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def square_grid(lo, hi, n):
    """n x n cell centres of the box [lo, hi] (each a (2,) tensor) -> points (n*n, 2) and the cell area."""
    step = (hi - lo) / n
    axes = [lo[i] + step[i] * (torch.arange(n, dtype=lo.dtype) + 0.5) for i in range(2)]
    z2, z1 = torch.meshgrid(axes[1], axes[0], indexing="ij")
    return torch.stack([z1, z2], -1).reshape(-1, 2), float(step[0] * step[1])


def log_prior(z):
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def bernoulli_log_joint(model, x, dtype=torch.float64):
    """x (B, D) in {0, 1} -> a function of grid points z (G, 2) giving log p(x|z) + log p(z), (B, G).

    One decoder pass over the points, then, with the logits l = log(lambda / (1 - lambda)),
        log p(x|z) = x log(lambda) + (1 - x) log(1 - lambda) = x @ l^T - sum_d softplus(l_d),
    one matrix product and one softplus per pixel (log(lambda) and log(1 - lambda) apart would take two of each), by
    default in float64 so that sums of 784 terms keep every digit (float32 keeps about 1e-5 nats)."""
    x = x.to(dtype)

    def log_joint(z):
        z = z.to(x.device)
        logits = model.decode_logits(z.to(next(model.parameters()).dtype)).to(dtype)
        return (x @ logits.T - F.softplus(logits).sum(-1)).double() + log_prior(z.double())
    return log_joint


@torch.inference_mode()
def log_px_on_grid(log_joint, n=240, lim=6.0, tol=20.0, chunk=4096):
    """log p(x) for a batch on one shared grid over [-lim, lim]^2 (the decoder runs once for the whole batch).

    log_joint: z (G, 2) -> (B, G). Returns (log p(x) (B,), edge (B,)): edge is the largest log-joint on the grid's
    border minus the largest inside, per row; above -tol, mass may lie outside the square and lim is too small."""
    lo, hi = torch.full((2,), -lim, dtype=torch.float64), torch.full((2,), lim, dtype=torch.float64)
    z, area = square_grid(lo, hi, n)
    on_edge = ((z.abs() > lim - (2 * lim / n)).any(-1))
    parts = [log_joint(z[i:i + chunk]) for i in range(0, len(z), chunk)]
    lj = torch.cat(parts, 1)
    edge = lj[:, on_edge.to(lj.device)].max(1).values - lj.max(1).values
    return torch.logsumexp(lj, 1) + math.log(area), edge


def _box(z, keep, step):
    """The bounding box of the kept points, padded by two grid steps."""
    kept = z[keep]
    return kept.min(0).values - 2 * step, kept.max(0).values + 2 * step


class DecodedGrid:
    """A model's decoder evaluated once on a fixed n x n grid over [-lim, lim]^2, kept as its logits l and
    sum_d softplus(l_d): the log-joint of any input on that grid is then one matrix product (the app's scan), as in
    bernoulli_log_joint."""

    @torch.inference_mode()
    def __init__(self, model, n=64, lim=6.0):
        s = torch.full((2,), lim, dtype=torch.float64)
        self.z, self.area = square_grid(-s, s, n)
        self.logits = model.decode_logits(self.z.float())
        # log p(x|z) + log p(z) = x @ l^T + (log p(z) - sum_d softplus(l_d)); the softplus in float64 (a sum of 784)
        self.offset = log_prior(self.z) - F.softplus(self.logits.double()).sum(-1)

    def log_joint(self, x):
        """x (B, D) in {0, 1} -> log p(x|z) + log p(z) on the grid, (B, G)."""
        return (x.float() @ self.logits.T).double() + self.offset


@torch.inference_mode()
def true_posterior(log_joint, mu, sigma, n=64, scan_lim=6.0, tol=20.0, rounds=4, scan=None, max_refine=8,
                   max_cell=0.25):
    """p(z|x) for one input on an adaptive grid, and log p(x).

    log_joint: z (G, 2) -> (1, G) or (G,). mu, sigma: q(z|x)'s mean and standard deviation, (2,).
    Where the mass is: a scan over [-scan_lim, scan_lim]^2 (every mode the prior allows; `scan` = (points, log-joint)
    when already computed, as DecodedGrid does) together with a grid over
    q's own region (mu +- 8 sigma, so that a posterior much narrower than the scan's cells is found); then, a few
    times, an n x n grid over the box of the points within `tol` nats of the highest, until the box stops
    shrinking. A grid whose border is within `tol` nats of its peak is widened first.
    max_refine, max_cell: while one cell holds more than max_cell of the mass, the final grid is refined, up to
    max_refine times n points a side.
    Returns dict: z (n*n, 2), log_post (n*n,) normalised so that sum(exp(log_post)) * area = 1, area, log_px, box."""
    mu, sigma = mu.double().flatten(), sigma.double().flatten().clamp_min(1e-6)

    def joint(z):
        return log_joint(z).reshape(-1)

    if scan is None:  # (points, their log-joint) over [-scan_lim, scan_lim]^2
        s = torch.full((2,), scan_lim, dtype=torch.float64)
        scan_z, _ = square_grid(-s, s, n)
        scan = (scan_z, joint(scan_z))
    scan_step = (scan[0].max(0).values - scan[0].min(0).values) / (math.sqrt(len(scan[0])) - 1)
    local_lo, local_hi = mu - 8 * sigma, mu + 8 * sigma
    local, _ = square_grid(local_lo, local_hi, max(8, n // 2))
    z, lj = torch.cat([scan[0], local]), torch.cat([scan[1].reshape(-1), joint(local)])
    keep = lj > lj.max() - tol
    # pad by the finer grid's step when q's own grid holds all of the mass (a narrow posterior), else the scan's
    inside = ((z[keep] >= local_lo) & (z[keep] <= local_hi)).all()
    lo, hi = _box(z, keep, (local_hi - local_lo) / max(8, n // 2) if inside else scan_step)
    settled = False
    for _ in range(rounds):
        z, area = square_grid(lo, hi, n)
        lj = joint(z)
        step = (hi - lo) / n
        index = torch.arange(n * n)
        border = (index // n == 0) | (index // n == n - 1) | (index % n == 0) | (index % n == n - 1)
        if lj[border].max() > lj.max() - tol:  # mass reaches the border: widen
            lo, hi = lo - (hi - lo) / 2, hi + (hi - lo) / 2
            continue
        new_lo, new_hi = _box(z, lj > lj.max() - tol, step)
        if (new_hi - new_lo).prod() > 0.5 * (hi - lo).prod():
            settled = True  # the box has stopped shrinking: this grid resolves the posterior
            break
        lo, hi = new_lo, new_hi
    if not settled:
        z, area = square_grid(lo, hi, n)
        lj = joint(z)
    # A posterior of several sharp modes keeps a wide box; then its cells are too coarse for them. A resolved peak
    # puts under 20% of the mass in one cell (a Gaussian with cells of 1.05 sigma: 17.5%): refine while it does not.
    m = n
    while (lj - torch.logsumexp(lj, 0)).max().exp() > max_cell and m < max_refine * n:
        m *= 2
        z, area = square_grid(lo, hi, m)
        lj = joint(z)
    log_px = torch.logsumexp(lj, 0) + math.log(area)
    return {"z": z, "log_post": lj - log_px, "area": area, "log_px": log_px.item(), "box": (lo, hi), "n": m}


# One input's posterior as the app computes it, on every request: 16 points a side (the window is fitted to the
# posterior), refined at most twice. `python -m train.likelihood` uses the same settings for the test set's log p(x).
QUICK = dict(n=16, max_refine=2, max_cell=0.4)


@torch.inference_mode()
def class_log_likelihoods(model, x, scans=None, n=16):
    """A conditional model's log p(x|y) for every label y, for one input x (D,) in {0, 1}: (C,) float64.

    Each is true_posterior's log p(x) of the model bound to y (the adaptive grid, started from q(z|x, y)); scans, a
    DecodedGrid of each bound model, spare the scan's decoder passes. With a uniform p(y), p(y|x) is their softmax."""
    xt = x.reshape(1, -1).float()
    out = []
    for k in range(model.n_classes):
        bound = model.bind(k)
        mu, logvar = bound.encode(xt)
        scan = (scans[k].z, scans[k].log_joint(xt)[0]) if scans is not None else None
        post = true_posterior(bernoulli_log_joint(bound, xt, torch.float32), mu[0], torch.exp(0.5 * logvar[0]),
                              scan=scan, **{**QUICK, "n": n})
        out.append(post["log_px"])
    return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in out])


# The split of the ELBO's gap (Cremer, Li and Duvenaud 2018, "Inference Suboptimality in Variational Autoencoders"):
#     log p(x) - ELBO(q_phi) = [log p(x) - ELBO(q*)] + [ELBO(q*) - ELBO(q_phi)]
#                              the approximation gap   the amortisation gap
# where q* is the best member of the encoder's family (here a diagonal Gaussian) for this one x, found by optimising
# its mean and standard deviation for x alone, and q_phi is what the encoder gives.

def gauss_hermite_elbo(log_px_given_z, mu, logvar, n=20):
    """The ELBO of q = N(mu, diag(exp(logvar))) per row, with E_q[log p(x|z)] by Gauss-Hermite quadrature: (B,).

    log_px_given_z: z (K, B, d) -> (K, B). mu, logvar: (B, d). With the n-point rule (nodes t_k, weights w_k for
    the integral of exp(-t^2) f(t)), E_{N(m, s^2)}[f(z)] = pi^(-1/2) sum_k w_k f(m + sqrt(2) s t_k), exact for a
    polynomial f of degree up to 2n - 1; in d dimensions the product rule takes n^d points. No sampling: the same q
    always gets the same number, and no Monte Carlo noise enters a difference of two ELBOs. The KL to N(0, I) is the
    closed form (vae_models.elbo.gaussian_kl). Differentiable in mu and logvar."""
    import numpy as np

    from .elbo import gaussian_kl

    t, w = np.polynomial.hermite.hermgauss(n)
    d = mu.shape[-1]
    t, w = torch.as_tensor(t, dtype=mu.dtype), torch.as_tensor(w, dtype=mu.dtype) / math.sqrt(math.pi)
    nodes = torch.cartesian_prod(*[t] * d).reshape(-1, d)  # (n^d, d)
    weights = torch.cartesian_prod(*[w] * d).reshape(-1, d).prod(-1)  # (n^d,), summing to 1
    z = mu + math.sqrt(2) * torch.exp(0.5 * logvar) * nodes[:, None, :]  # (n^d, B, d)
    return (weights[:, None] * log_px_given_z(z)).sum(0) - gaussian_kl(mu, logvar)


def best_gaussian(log_px_given_z, starts, n=4, steps=100, lr=0.05):
    """Per row, the diagonal Gaussian q* = N(mu, diag(exp(logvar))) that maximises the ELBO: of several starting
    points the one with the highest ELBO, then Adam on its mean and log standard deviation.

    starts: a list of (mu, logvar) pairs, each (B, d). The objective is gauss_hermite_elbo with an n-point rule
    (cheap; evaluate the result again with more points). Rows are independent: the summed objective's gradient for a
    row is that row's own. The mean moves in units of the starting standard deviation, so that one learning rate
    suits a posterior 0.01 wide and one 1 wide. The start competes with the end point, so q* is never worse than
    the best start. A local search: on a posterior of several modes it finds the best Gaussian near the mode it
    starts on. Returns (mu, logvar, elbo under the n-point rule), each (B, ...)."""
    with torch.no_grad():
        scores = torch.stack([gauss_hermite_elbo(log_px_given_z, m, v, n) for m, v in starts])  # (S, B)
        pick = scores.argmax(0)
        mu0 = torch.stack([m for m, _ in starts])[pick, torch.arange(len(pick))]
        logvar0 = torch.stack([v for _, v in starts])[pick, torch.arange(len(pick))]
        start_elbo = scores.max(0).values
    sigma0 = torch.exp(0.5 * logvar0)
    u = torch.zeros_like(mu0, requires_grad=True)  # mu = mu0 + sigma0 * u
    log_sigma = (0.5 * logvar0).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([u, log_sigma], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        loss = -gauss_hermite_elbo(log_px_given_z, mu0 + sigma0 * u, 2 * log_sigma, n).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        mu, logvar = mu0 + sigma0 * u, 2 * log_sigma
        elbo = gauss_hermite_elbo(log_px_given_z, mu, logvar, n)
        keep = (start_elbo > elbo)[:, None]
        return torch.where(keep, mu0, mu), torch.where(keep, logvar0, logvar), torch.maximum(elbo, start_elbo)
