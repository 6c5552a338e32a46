"""Test-set evaluation of a trained model: the negative ELBO with its parts, and log p(x).

    python -m train evaluate weights/mnist-vae [--n_samples 1000] [--grid 240]

For a 2-D latent, log p(x) is computed by quadrature (vae_models.posterior: p(x|z) p(z) summed over a grid), which is
exact up to the grid's resolution, and the importance-sampled estimate is printed beside it. For a larger latent a
grid needs n^d points, exponentially many: the importance-sampled number, a lower bound whose gap is not known, is
printed for several K instead.

For the conditional VAE every number is given the true label (log p(x|y), the ELBO of x given y), and, with a 2-D
latent, log p(x) = log sum_y p(x|y) p(y) with p(y) = 1/10 by quadrature for all ten labels; the same ten numbers
make it a classifier: y = argmax_y log p(x|y) (and, more cheaply, the argmax of the ELBO given y).

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


def _given(model, y, i, j):
    """The model to evaluate images i:j with: a conditional model bound to their labels, else the model."""
    return model if y is None else model.bind(y[i:j])


@torch.inference_mode()
def quadrature_log_px(model, x, n=240, lim=GRID_LIM, batch_size=500):
    """log p(x) per image (N,) on a shared n x n grid over [-lim, lim]^2; the images whose posterior reaches the
    border are computed again on a grid twice as wide (and with twice the points), until none does.
    -> (log p(x) (N,), the number of images that needed a wider grid, the widest lim used)."""
    lp = torch.empty(len(x), dtype=torch.float64, device=x.device)
    todo, widened, first = torch.arange(len(x), device=x.device), 0, True
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
def importance_log_px(model, x, n_samples, seed=0, batch_size=100, y=None):
    """Per-image importance-sampled log p(x) (N,) (log p(x|y) given labels y) and the ELBO from the same samples."""
    g = torch.Generator(x.device).manual_seed(seed)
    lps, elbos = [], []
    for i in range(0, len(x), batch_size):
        xb, m = x[i:i + batch_size], _given(model, y, i, i + batch_size)
        mu, logvar = m.encode(xb)
        lp, elbo = importance_log_likelihood(bernoulli_log_likelihood(m, xb), mu, logvar, n_samples, g)
        lps.append(lp)
        elbos.append(elbo)
    return torch.cat(lps), torch.cat(elbos)


def _mean_se(t):
    return t.mean().item(), (t.std() / math.sqrt(len(t))).item()


@torch.inference_mode()
def label_scores(model, x, grid=240, n_samples=10, seed=0, batch_size=100):
    """A conditional model's score of every label for every image: (log p(x|y) by quadrature (N, C) or None
    without a grid, the ELBO given y estimated with n_samples samples (N, C))."""
    g = torch.Generator(x.device).manual_seed(seed)
    quad, elbo = [], []
    for k in range(model.n_classes):
        bound = model.bind(k)
        if grid and model.latent_size == 2:
            quad.append(quadrature_log_px(bound, x, grid)[0])
        parts = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            mu, logvar = bound.encode(xb)
            z = reparameterize(mu, logvar, n_samples, g)
            parts.append(bernoulli_log_likelihood(bound, xb)(z).mean(0) - gaussian_kl(mu, logvar))
        elbo.append(torch.cat(parts))
    return (torch.stack(quad, 1) if quad else None), torch.stack(elbo, 1)


@torch.inference_mode()
def evaluate_model(model, x, n_samples=1000, seed=0, batch_size=100, grid=240, ks=(10, 100, 1000, 10_000),
                   per_image=False, y=None):
    """Per-image means over the data x (N, 784): a dict of bce, kld, neg_elbo; for a VAE also the importance-sampled
    log_px with its standard error over the images (and the same-sample ELBO, iw_elbo), and then
    - with a 2-D latent: quad_log_px by quadrature on a grid x grid grid (0 to skip), with its error and time;
    - with a larger latent: log_px for each K in ks (is_by_k), since nothing tells how far below log p(x) they are.
    per_image: also return the per-image tensors under "images".
    y: the labels, for a conditional model (which is then evaluated given them, and as a classifier).
    """
    model.eval()
    conditional = getattr(model, "n_classes", 0) > 0
    if conditional and y is None:
        raise ValueError("a conditional model is evaluated with the labels y")
    y = y if conditional else None
    g = torch.Generator(x.device).manual_seed(seed)
    bce, kld = [], []
    for i in range(0, len(x), batch_size):
        xb, m = x[i:i + batch_size], _given(model, y, i, i + batch_size)
        mu, logvar = m.encode(xb)
        log_lik = bernoulli_log_likelihood(m, xb)
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
    lp, elbo = importance_log_px(model, x, n_samples, seed + 1, batch_size, y)
    out.update(log_px=lp.mean().item(), log_px_se=_mean_se(lp)[1], iw_elbo=elbo.mean().item(),
               is_seconds=time.perf_counter() - t)
    images["is_log_px"] = lp
    if conditional:
        t = time.perf_counter()
        by_label, elbo_by_label = label_scores(model, x, grid, seed=seed + 3, batch_size=batch_size)
        out.update(elbo_accuracy=(elbo_by_label.argmax(1) == y).float().mean().item(), n_classes=model.n_classes)
        if by_label is not None:
            quad = by_label.gather(1, y.long().view(-1, 1)).squeeze(1)
            marginal = torch.logsumexp(by_label, 1) - math.log(model.n_classes)
            out.update(quad_log_px=quad.mean().item(), quad_se=_mean_se(quad)[1], grid=grid, grid_lim=GRID_LIM,
                       widened=0, widest_lim=GRID_LIM, marginal_log_px=marginal.mean().item(),
                       marginal_se=_mean_se(marginal)[1], accuracy=(by_label.argmax(1) == y).float().mean().item())
            images.update(quad_log_px=quad, marginal_log_px=marginal)
        out["quad_seconds"] = time.perf_counter() - t
    elif model.latent_size == 2 and grid:
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
    given = " given the true label" if "n_classes" in r else ""
    lines = [f"{name}: {r['n_images']} test images, per image{given}: negative ELBO {r['neg_elbo']:.2f} nats "
             f"= BCE {r['bce']:.2f} + KL {r['kld']:.2f}"]
    what = "log p(x|y)" if given else "log p(x)"
    if "quad_log_px" in r:
        wider = (f"; {r['widened']} images whose posterior reached the border on [-{r['widest_lim']:g}, "
                 f"{r['widest_lim']:g}]^2 with proportionally more points" if r["widened"] else "")
        lines.append(f"  {what} by quadrature ({r['grid']}x{r['grid']} grid on [-{r['grid_lim']:g}, "
                     f"{r['grid_lim']:g}]^2{wider}): {r['quad_log_px']:.2f} +- {r['quad_se']:.2f} "
                     f"({r['quad_seconds']:.0f} s)")
    if "marginal_log_px" in r:
        lines.append(f"  log p(x) = log sum_y p(x|y) / {r['n_classes']}, by quadrature for every label: "
                     f"{r['marginal_log_px']:.2f} +- {r['marginal_se']:.2f}")
    lines.append(f"  importance-sampled {what}, K = {r['n_samples']} samples from q(z|x{', y' if given else ''}): "
                 f"{r['log_px']:.2f} +- {r['log_px_se']:.2f} ({r['is_seconds']:.0f} s; the ELBO from the same "
                 f"samples {r['iw_elbo']:.2f})")
    if "quad_log_px" in r:
        lines.append(f"  the importance-sampled estimate is {r['quad_log_px'] - r['log_px']:.2f} nats below the "
                     f"quadrature, which is {r['quad_log_px'] + r['neg_elbo']:.2f} nats above the ELBO "
                     "(that gap is KL(q || p(z|x)), averaged)")
    if "n_classes" in r:
        by_quad = f"argmax_y log p(x|y) {100 * r['accuracy']:.2f}%, " if "accuracy" in r else ""
        lines.append(f"  as a classifier of the test digits: {by_quad}argmax_y of the ELBO given y (10 samples) "
                     f"{100 * r['elbo_accuracy']:.2f}% correct")
    if "is_by_k" in r:
        by_k = ", ".join(f"K = {k}: {v:.2f}" for k, v in r["is_by_k"].items())
        lines.append(f"  a {r['latent_size']}-D latent is not integrated on a grid (n^d points): the "
                     f"importance-sampled numbers are lower bounds on log p(x) whose gap is not known ({by_k})")
    lines.append("  (+- is the standard error of the mean over the images)")
    return "\n".join(lines)


def inference_gaps(model, x, steps=50, n_opt=4, n_eval=20, grid=480, batch_size=100):
    """Cremer et al. (2018)'s split of the ELBO's gap for a VAE with a 2-D latent, per image of x (N, 784):
        log p(x) - ELBO(q_phi) = [log p(x) - ELBO(q*)] + [ELBO(q*) - ELBO(q_phi)]
                                  approximation gap       amortisation gap
    q_phi is the encoder's q(z|x); q* the best diagonal Gaussian for the image alone (vae_models.posterior.
    best_gaussian, `steps` Adam steps on an n_opt-point rule, from the best of three starts: q_phi, the Gaussian
    with the posterior's mean and variance on a 240x240 grid, and that grid's highest point with q_phi's variance).
    Both ELBOs by n_eval-point Gauss-Hermite quadrature in float64 (no sampling); log p(x) by quadrature_log_px on
    a grid x grid grid (480: cells of 0.025, half those of the evaluation's grid, so that the sharpest posteriors
    are resolved too). q* is a local optimum, so its approximation gap is an upper bound on the best diagonal
    Gaussian's (and its amortisation gap a lower bound).
    -> dict of (N,) float64 tensors: log_px, elbo_phi, elbo_star, approximation, amortisation."""
    import copy

    from vae_models.posterior import DecodedGrid, best_gaussian, gauss_hermite_elbo

    model = copy.deepcopy(model).eval().requires_grad_(False)  # gradients only for q's parameters
    exact = copy.deepcopy(model).double()
    scan = DecodedGrid(model, n=240, lim=GRID_LIM)
    elbo_phi, elbo_star = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        with torch.no_grad():
            mu, logvar = model.encode(xb)
            lj = scan.log_joint(xb)  # (B, G) on the shared grid: where the posterior's mass is
            w = torch.softmax(lj, 1)
            post_mean = w @ scan.z
            post_var = (w @ scan.z.pow(2) - post_mean.pow(2)).clamp_min(1e-8)
            highest = scan.z[lj.argmax(1)]
        starts = [(mu, logvar), (post_mean.float(), post_var.log().float()), (highest.float(), logvar)]
        mu_star, logvar_star, _ = best_gaussian(bernoulli_log_likelihood(model, xb), starts, n=n_opt, steps=steps)
        with torch.no_grad():
            log_lik = bernoulli_log_likelihood(exact, xb.double())
            elbo_phi.append(gauss_hermite_elbo(log_lik, mu.double(), logvar.double(), n_eval))
            elbo_star.append(gauss_hermite_elbo(log_lik, mu_star.double(), logvar_star.double(), n_eval))
    out = {"log_px": quadrature_log_px(model, x, grid)[0], "elbo_phi": torch.cat(elbo_phi),
           "elbo_star": torch.cat(elbo_star)}
    # q* can end below q_phi only through the cheaper rule used while optimising: then q_phi is the best found
    out["elbo_star"] = torch.maximum(out["elbo_star"], out["elbo_phi"])
    out["approximation"] = out["log_px"] - out["elbo_star"]
    out["amortisation"] = out["elbo_star"] - out["elbo_phi"]
    return out


def format_gaps(name, g, what, seconds):
    """The lines `evaluate --gaps` prints for inference_gaps' result g."""
    def ms(t):
        mean, se = _mean_se(t)
        return f"{mean:.2f} +- {se:.2f} (median {t.median():.2f})"
    total = g["log_px"] - g["elbo_phi"]
    return "\n".join([
        f"{name}: the ELBO's gap split (Cremer et al. 2018) on {what}, per image ({seconds:.0f} s):",
        f"  log p(x) by quadrature {ms(g['log_px'])}; ELBO of the encoder's q {ms(g['elbo_phi'])}; ELBO "
        f"of the best Gaussian q* for each image {ms(g['elbo_star'])} (ELBOs by Gauss-Hermite quadrature)",
        f"  gap log p(x) - ELBO(q_phi) {ms(total)} = approximation gap log p(x) - ELBO(q*) {ms(g['approximation'])} "
        f"+ amortisation gap ELBO(q*) - ELBO(q_phi) {ms(g['amortisation'])}",
        f"  approximation gap above 1 nat for {(g['approximation'] > 1).float().mean():.1%} of the images, "
        f"amortisation gap above 1 nat for {(g['amortisation'] > 1).float().mean():.1%}",
        "  (+- is the standard error of the mean over the images; q* is a local optimum, so the approximation gap is "
        "an upper bound on the best Gaussian's)"])


def gap_split(model, x, n_images, seed=0, grid=480):
    """inference_gaps (log p(x) on a grid x grid grid) on a seeded random n_images of x (all of them when
    n_images >= len(x)), timed.
    -> (its result, the printable lines' description of the images, seconds)."""
    if n_images >= len(x):
        chosen, what = torch.arange(len(x)), f"all {len(x)} test images"
    else:
        chosen = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_images].sort().values
        what = f"{n_images} test images drawn at random (seed {seed}) from {len(x)}"
    t = time.perf_counter()
    g = inference_gaps(model, x[chosen.to(x.device)], grid=grid)
    return {**g, "index": chosen}, what, time.perf_counter() - t


def format_paired(results):
    """Each VAE's quadrature log p(x) minus the first one's, on the same test images, with the paired standard error
    (the standard error of the per-image differences: the images' own spread, shared by both models, cancels)."""
    scored = [(name, r["images"]["quad_log_px"]) for name, r in results.items()
              if "quad_log_px" in r.get("images", {}) and "n_classes" not in r]
    lines = []
    for name, lp in scored[1:]:
        mean, se = _mean_se(lp - scored[0][1])
        lines.append(f"log p(x) by quadrature, {name} minus {scored[0][0]}, on the same {len(lp)} images: "
                     f"{mean:+.2f} +- {se:.2f} (paired standard error; unpaired it would be "
                     f"{math.hypot(_mean_se(lp)[1], _mean_se(scored[0][1])[1]):.2f})")
    return "\n".join(lines)
