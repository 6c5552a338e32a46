import math

import pytest
import torch

from train.__main__ import main
from train.evaluate import evaluate_model, format_result, importance_log_likelihood, log_normal
from vae_models import Autoencoder


def linear_gaussian(d=3, sigma=0.5):
    """p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I) with orthogonal columns in W, so the exact posterior is a
    diagonal Gaussian and log p(x) = log N(x; b, W W^T + sigma^2 I) is known in closed form."""
    W = torch.tensor([[2.0, 0.0], [0.0, 1.5], [0.0, 0.0]], dtype=torch.float64)[:d]
    b = torch.tensor([0.5, -1.0, 0.3], dtype=torch.float64)[:d]

    def log_px_given_z(x):
        return lambda z: log_normal(x, z @ W.T + b, torch.full_like(x, 2 * math.log(sigma)))

    def exact_log_px(x):
        return torch.distributions.MultivariateNormal(b, W @ W.T + sigma ** 2 * torch.eye(d)).log_prob(x)

    def posterior(x):
        precision = 1 + (W ** 2).sum(0) / sigma ** 2  # diagonal, since W^T W is
        mu = ((x - b) @ W) / sigma ** 2 / precision
        return mu, -precision.log().expand_as(mu)

    return log_px_given_z, exact_log_px, posterior


def test_with_the_exact_posterior_as_proposal_every_sample_gives_log_px_exactly():
    log_lik, exact, posterior = linear_gaussian()
    x = torch.tensor([[1.0, 0.0, 0.5], [-2.0, 3.0, 0.0]], dtype=torch.float64)
    mu, logvar = posterior(x)
    estimate, elbo = importance_log_likelihood(log_lik(x), mu, logvar, 7, torch.Generator().manual_seed(0))
    assert torch.allclose(estimate, exact(x), atol=1e-9) and torch.allclose(elbo, exact(x), atol=1e-9)


def test_the_estimate_rises_towards_the_true_log_likelihood_with_k():
    log_lik, exact, posterior = linear_gaussian()
    x = torch.tensor([[1.0, 0.0, 0.5], [-2.0, 3.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    mu, logvar = posterior(x)
    mu, logvar = mu + 0.4, logvar + 0.7  # a worse proposal, as a trained encoder's is
    truth = exact(x).mean().item()
    means = []
    for k in (1, 10, 100, 10_000):
        runs = [importance_log_likelihood(log_lik(x), mu, logvar, k, torch.Generator().manual_seed(s))[0].mean()
                for s in range(20 if k < 10_000 else 2)]
        means.append(torch.stack(runs).mean().item())
    assert means[0] < means[1] < means[2] < means[3] <= truth + 0.01
    assert truth - means[3] < 0.01 and truth - means[0] > 0.1


def test_importance_sampled_log_px_is_above_the_elbo(trained_vae):
    model, x = trained_vae
    r = evaluate_model(model, x[:64], n_samples=200, seed=1, grid=60)
    assert r["log_px"] >= r["iw_elbo"]  # same samples: logsumexp - log K >= mean (Jensen)
    assert r["log_px"] >= -r["neg_elbo"] - 3 * r["log_px_se"]
    assert r["neg_elbo"] == pytest.approx(r["bce"] + r["kld"])
    again = evaluate_model(model, x[:64], n_samples=200, seed=1, grid=60)
    timings = ("is_seconds", "quad_seconds")
    assert {k: v for k, v in again.items() if k not in timings} == {k: v for k, v in r.items() if k not in timings}
    assert r["quad_log_px"] >= r["log_px"] - 3 * r["log_px_se"]  # the importance-sampled number is a lower bound


def test_the_ae_gets_its_bce_only(trained_vae):
    _, x = trained_vae
    r = evaluate_model(Autoencoder("ae", hidden_size=64), x[:32])
    assert "log_px" not in r and r["neg_elbo"] == r["bce"] > 0


def test_the_evaluate_command_prints_every_kind_of_model(trained_vae, trained_cvae, mnist_dir, tmp_path, capsys):
    Autoencoder("ae", hidden_size=32).save_pretrained(tmp_path / "ae")
    trained_vae[0].save_pretrained(tmp_path / "vae")
    trained_cvae[0].save_pretrained(tmp_path / "cvae")
    results = main(["evaluate", str(tmp_path / "vae"), str(tmp_path / "ae"), str(tmp_path / "cvae"),
                    "--n_samples", "50", "--grid", "30", "--data_dir", str(mnist_dir)])
    out = capsys.readouterr().out
    assert "importance-sampled log p(x)" in out and "no KL: an AE" in out
    assert "log p(x|y) by quadrature" in out and "as a classifier of the test digits" in out
    assert results[str(tmp_path / "vae")]["n_images"] == 96
    assert results[str(tmp_path / "cvae")]["accuracy"] > 0.5  # the test digits are new to it; chance is 0.1
    with pytest.raises(SystemExit, match="nothing: no such weights folder"):
        main(["evaluate", str(tmp_path / "nothing"), "--data_dir", str(mnist_dir)])


def linear_gaussian_joint(x, W, b, sigma):
    """log p(x|z) + log p(z) on grid points z (G, 2) for the linear-Gaussian model: (B, G)."""
    from vae_models.posterior import log_prior

    def log_joint(z):
        mean = z.double() @ W.T + b  # (G, d)
        return log_normal(x[:, None, :], mean[None], torch.full_like(mean[None], 2 * math.log(sigma))) + \
            log_prior(z.double())
    return log_joint


@pytest.mark.parametrize("shift, sigma", [(0.0, 0.5), (12.0, 0.5), (0.0, 0.01)])
def test_the_adaptive_grid_gives_the_exact_log_px_for_near_far_and_narrow_posteriors(shift, sigma):
    """A linear-Gaussian decoder has an exact log p(x): the grid matches it to 1e-3 nats, whether the posterior sits
    at the origin, 12 units away from it (beyond the scan) or is 50 times narrower than the scan's cells."""
    from vae_models.posterior import true_posterior

    W = torch.tensor([[2.0, 0.0], [0.0, 1.5], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([0.5, -1.0, 0.3], dtype=torch.float64)
    for point in ([1.0, 0.0, 0.5], [-2.0, 3.0, 0.0]):
        x = torch.tensor([point], dtype=torch.float64)
        x[0, :2] += torch.tensor([2.0 * shift, 0.0])
        exact = torch.distributions.MultivariateNormal(b, W @ W.T + sigma ** 2 * torch.eye(3)).log_prob(x)
        precision = 1 + (W ** 2).sum(0) / sigma ** 2
        mu = ((x - b) @ W)[0] / sigma ** 2 / precision
        q_sigma = precision.rsqrt() * 3  # a poor encoder: three times too wide
        post = true_posterior(linear_gaussian_joint(x, W, b, sigma), mu + 2 * q_sigma, q_sigma)
        assert abs(post["log_px"] - exact.item()) < 1e-3, (shift, sigma, post["log_px"], exact.item())
        mass = post["log_post"].exp().sum() * post["area"]
        assert abs(mass.item() - 1) < 1e-9


def test_the_shared_grid_converges_on_a_trained_vae_and_bounds_the_elbo(trained_vae):
    """The shared grid converges as it is refined (cells of 0.27, 0.13, 0.07 for posteriors 0.1 to 0.5 wide), to
    the ELBO's bound and to the adaptive grid fitted to each posterior."""
    from vae_models.posterior import bernoulli_log_joint, log_px_on_grid, true_posterior

    model, x = trained_vae
    x = x[:8]
    grids = [log_px_on_grid(bernoulli_log_joint(model, x), n=n, lim=6.0) for n in (45, 90, 180)]
    assert (grids[0][1] < -10).all()  # no mass near the border: [-6, 6]^2 is wide enough
    estimates = [values for values, _ in grids]
    assert (estimates[1] - estimates[2]).abs().max() < 1e-2
    assert (estimates[0] - estimates[2]).abs().max() >= (estimates[1] - estimates[2]).abs().max()
    result = evaluate_model(model, x, n_samples=100, grid=0)
    assert estimates[2].mean().item() >= -result["neg_elbo"] - 0.05
    mu, logvar = model.encode(x[:3])
    for i in range(3):
        post = true_posterior(bernoulli_log_joint(model, x[i:i + 1]), mu[i], (0.5 * logvar[i]).exp())
        assert abs(post["log_px"] - estimates[2][i].item()) < 1e-2


class Shifted(torch.nn.Module):
    """A VAE's decoder moved by `shift` in latent space: p(x|z) = p_model(x|z - shift). Under the N(0, I) prior its
    posteriors sit near shift + the model's, beyond the shared grid's border when shift is large."""

    def __init__(self, model, shift):
        super().__init__()
        self.model, self.shift = model, torch.tensor(shift)

    def decode_logits(self, z):
        return self.model.decode_logits(z - self.shift)


def test_the_grid_is_widened_for_the_images_whose_posterior_reaches_its_border(trained_vae):
    """Each image gets the first grid of (n, lim), (2n, 2 lim), (4n, 4 lim), ... on which its log-joint stays 10
    nats below its peak along the border."""
    from train.evaluate import EDGE_TOL, quadrature_log_px
    from vae_models.posterior import bernoulli_log_joint, log_px_on_grid

    model, x = trained_vae
    x = x[:6]
    near, widened, lim = quadrature_log_px(model, x, n=30)
    assert (widened, lim) == (0, 6.0)
    far = Shifted(model, [9.0, 0.0])
    lp, widened, lim = quadrature_log_px(far, x, n=30)
    assert widened == 6 and lim >= 12.0
    expected, todo = torch.empty_like(lp), torch.ones(6, dtype=torch.bool)
    for k in range(int(math.log2(lim / 6)) + 1):
        values, edge = log_px_on_grid(bernoulli_log_joint(far, x), n=30 * 2 ** k, lim=6.0 * 2 ** k)
        first = todo & (edge < -EDGE_TOL)
        expected[first], todo = values[first], todo & ~first
    assert not todo.any() and torch.allclose(lp, expected, atol=1e-9)
    assert (lp - near).max() < -20  # the prior is about e^-40 out there


def test_a_conditional_vae_is_evaluated_given_its_labels_and_as_a_classifier(trained_cvae):
    from train.evaluate import quadrature_log_px

    model, x, y = trained_cvae
    x, y = x[:24], y[:24]
    r = evaluate_model(model, x, n_samples=100, seed=1, grid=60, y=y, per_image=True)
    with pytest.raises(ValueError):
        evaluate_model(model, x[:4])  # no labels
    # log p(x|y) for the true label, computed with the model bound to each image's label (a few images of
    # different labels), on the same grid, and on a grid twice as fine
    some = [int(torch.nonzero(y == k)[0]) for k in y.unique()[:4]]
    direct = torch.stack([quadrature_log_px(model.bind(int(y[i])), x[i:i + 1], 60)[0][0] for i in some])
    assert torch.allclose(r["images"]["quad_log_px"][some], direct, atol=1e-6)
    finer = torch.stack([quadrature_log_px(model.bind(int(y[i])), x[i:i + 1], 120)[0][0] for i in some])
    assert (finer - direct).abs().max() < 1e-2
    assert r["quad_log_px"] >= -r["neg_elbo"]  # log p(x|y) is above its ELBO
    assert r["quad_log_px"] >= r["log_px"] - 3 * r["log_px_se"]
    # log p(x) = log mean_y p(x|y) >= log p(x|y_true) - log 10, image by image
    assert (r["images"]["marginal_log_px"] >= r["images"]["quad_log_px"] - math.log(10) - 1e-9).all()
    assert 0.0 <= r["elbo_accuracy"] <= 1.0 and r["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert "as a classifier" in format_result("cvae", r)


@pytest.mark.slow  # many clients at once, or a long run: CI runs it
def test_the_spectrum_command_draws_every_figure_from_the_shipped_weights(mnist_dir, tmp_path, capsys):
    from conftest import ROOT

    main(["spectrum", "--weights", str(ROOT / "weights"), "--out", str(tmp_path), "--data_dir", str(mnist_dir)])
    for name in ("rate_distortion.png", "beta_maps.png", "beta_grids.png", "beta_samples.png",
                 "beta_reconstructions.png", "cvae_class_grids.png", "cvae_codes.png", "cvae_analogies.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    table = (tmp_path / "spectrum.txt").read_text().splitlines()
    assert len(table) == 7 and table[4].startswith("VAE beta=1 | 1 | 136.05")
    rates = [float(line.split(" | ")[7]) for line in table[2:]]
    assert rates == sorted(rates, reverse=True)  # the test KL falls as beta grows


def gaussian_posterior(W, b, sigma, x):
    """The exact posterior of the linear-Gaussian model p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I):
    N(m, Lambda^-1) with precision Lambda = I + W^T W / sigma^2 and m = Lambda^-1 W^T (x - b) / sigma^2."""
    precision = torch.eye(W.shape[1], dtype=W.dtype) + W.T @ W / sigma ** 2
    mean = torch.linalg.solve(precision, ((x - b) @ W).T / sigma ** 2).T
    return mean, precision


def linear_gaussian_likelihood(W, b, sigma, x):
    """z (K, B, 2) -> log N(x; W z + b, sigma^2 I), (K, B): quadratic in z, so Gauss-Hermite with n >= 2 is exact."""
    return lambda z: log_normal(x, z @ W.T + b, torch.full_like(x, 2 * math.log(sigma)))


def test_the_gauss_hermite_elbo_is_exact_for_a_linear_gaussian_decoder():
    """ELBO(q) = log p(x) - KL(q || p(z|x)), with both sides in closed form: to 1e-9 nats for any q."""
    from vae_models.posterior import gauss_hermite_elbo

    W = torch.tensor([[2.0, 0.7], [0.3, 1.5], [-1.0, 0.4]], dtype=torch.float64)  # a correlated posterior
    b, sigma = torch.tensor([0.5, -1.0, 0.3], dtype=torch.float64), 0.5
    x = torch.tensor([[1.0, 0.0, 0.5], [-2.0, 3.0, 0.0]], dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(b, W @ W.T + sigma ** 2 * torch.eye(3)).log_prob(x)
    mean, precision = gaussian_posterior(W, b, sigma, x)
    mu = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    logvar = torch.tensor([[-1.0, 0.2], [-3.0, -2.0]], dtype=torch.float64)
    for i in range(2):
        q = torch.distributions.MultivariateNormal(mu[i], torch.diag(logvar[i].exp()))
        p = torch.distributions.MultivariateNormal(mean[i], precision_matrix=precision)
        truth = exact[i] - torch.distributions.kl_divergence(q, p)
        for n in (2, 5, 20):
            elbo = gauss_hermite_elbo(linear_gaussian_likelihood(W, b, sigma, x), mu, logvar, n)[i]
            assert abs(elbo - truth) < 1e-9, (n, elbo.item(), truth.item())


@pytest.mark.parametrize("W, known", [
    # orthogonal columns: the posterior is a diagonal Gaussian, in the family, so the approximation gap is 0
    ([[2.0, 0.0], [0.0, 1.5], [0.0, 0.0]], "zero"),
    # correlated: the best diagonal Gaussian has the posterior's mean and variances 1 / Lambda_ii, and misses it by
    # KL = (sum_i log Lambda_ii - log det Lambda) / 2 (mean-field's known answer)
    ([[2.0, 0.7], [0.3, 1.5], [-1.0, 0.4]], "mean-field"),
])
def test_the_best_gaussian_closes_the_gap_a_linear_gaussian_posterior_allows(W, known):
    from vae_models.posterior import best_gaussian, gauss_hermite_elbo

    W = torch.tensor(W, dtype=torch.float64)
    b, sigma = torch.tensor([0.5, -1.0, 0.3], dtype=torch.float64), 0.5
    x = torch.tensor([[1.0, 0.0, 0.5], [-2.0, 3.0, 0.0], [4.0, -3.0, 1.0]], dtype=torch.float64)
    log_px = torch.distributions.MultivariateNormal(b, W @ W.T + sigma ** 2 * torch.eye(3)).log_prob(x)
    mean, precision = gaussian_posterior(W, b, sigma, x)
    diag = precision.diagonal()
    approximation = torch.zeros(3) if known == "zero" else \
        (0.5 * (diag.log().sum() - torch.logdet(precision))).expand(3)
    assert known == "zero" or approximation[0] > 0.05  # the case really is outside the family
    log_lik = linear_gaussian_likelihood(W, b, sigma, x)
    # an encoder's poor guess: two posterior standard deviations off and three times too wide
    mu_phi, logvar_phi = mean + 2 * diag.rsqrt(), -diag.log().expand_as(mean) + 2 * math.log(3)
    mu, logvar, _ = best_gaussian(log_lik, [(mu_phi, logvar_phi)], n=3, steps=200)
    elbo_star = gauss_hermite_elbo(log_lik, mu, logvar, 10)
    assert torch.allclose(log_px - elbo_star, approximation.double(), atol=1e-4), (log_px - elbo_star, approximation)
    assert torch.allclose(mu, mean, atol=1e-2) and torch.allclose(logvar, -diag.log().expand_as(mean), atol=1e-2)
    # the amortisation gap of q_phi: ELBO(q*) - ELBO(q_phi) = KL(q_phi || p) - KL(q* || p), both in closed form
    p = [torch.distributions.MultivariateNormal(mean[i], precision_matrix=precision) for i in range(3)]
    kl_phi = torch.stack([torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(mu_phi[i], torch.diag(logvar_phi[i].exp())), p[i]) for i in range(3)])
    amortisation = elbo_star - gauss_hermite_elbo(log_lik, mu_phi, logvar_phi, 10)
    assert torch.allclose(amortisation, kl_phi - approximation.double(), atol=1e-4)


def test_the_gap_split_on_a_trained_vae_adds_up_and_each_part_is_not_negative(trained_vae):
    from train.evaluate import format_gaps, inference_gaps

    model, x = trained_vae
    g = inference_gaps(model, x[:6], steps=30, grid=240, batch_size=3)
    assert torch.allclose(g["approximation"] + g["amortisation"], g["log_px"] - g["elbo_phi"])
    assert (g["amortisation"] >= 0).all() and (g["approximation"] > -1e-3).all()  # ELBO(q*) <= log p(x)
    r = evaluate_model(model, x[:6], n_samples=100, seed=3, per_image=True)  # the ELBO by 100 samples of z
    mc_elbo = -(r["images"]["bce"] + r["images"]["kld"]).double()
    assert (mc_elbo - g["elbo_phi"]).abs().mean() < 0.5
    assert "amortisation gap" in format_gaps("vae", g, "6 images", 1.0)


def test_the_evaluate_command_splits_the_gap_on_a_seeded_subset_and_refuses_what_it_cannot_split(mnist_dir, tmp_path,
                                                                                                    capsys):
    main(["--autoencoder_type", "vae", "--n_epochs", "1", "--hidden_layer_size", "32", "--data_dir", str(mnist_dir),
          "--quiet", "--out_dir", str(tmp_path / "r"), "--weights_dir", str(tmp_path / "vae")])
    capsys.readouterr()
    args = ["evaluate", str(tmp_path / "vae"), "--grid", "40", "--data_dir", str(mnist_dir)]
    g = main(args + ["--gaps", "5", "--seed", "3"])[str(tmp_path / "vae")]
    out = capsys.readouterr().out
    assert "5 test images drawn at random (seed 3) from 96" in out and "amortisation gap" in out
    assert len(g["index"]) == len(g["index"].unique()) == 5 and len(g["approximation"]) == 5
    assert (g["amortisation"] >= 0).all() and (g["approximation"] > -1e-2).all()
    with pytest.raises(SystemExit):
        main(args + ["--gaps", "-1"])
    assert "argument --gaps: must be from 0 to 10000" in capsys.readouterr().err


def test_two_models_on_the_same_images_are_compared_with_the_paired_standard_error():
    from train.evaluate import format_paired

    shared = torch.linspace(-200, -80, 50, dtype=torch.float64)  # the images' own spread, common to both models
    shift = 0.3 + 0.1 * torch.sin(torch.arange(50, dtype=torch.float64))
    results = {"a": {"images": {"quad_log_px": shared}}, "b": {"images": {"quad_log_px": shared - shift}}}
    line = format_paired(results)
    se = (shift.std() / math.sqrt(50)).item()
    assert f"b minus a, on the same 50 images: {-shift.mean().item():+.2f} +- {se:.2f} (paired" in line
    assert se < 0.05 and "unpaired it would be 7." in line  # the images' spread, 35 nats, cancels only when paired
