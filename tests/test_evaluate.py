import math

import pytest
import torch

from train.__main__ import main
from train.evaluate import evaluate_model, importance_log_likelihood, log_normal
from vae_models import Autoencoder, loss_function


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


@pytest.fixture(scope="module")
def trained_vae():
    torch.manual_seed(0)
    x = (torch.rand(256, 784) < torch.linspace(0.05, 0.6, 784)).float()
    model = Autoencoder("vae", hidden_size=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):  # a little training, so that q(z|x) is informative
        logits, mu, logvar = model(x)
        loss = loss_function(logits, x, mu, logvar)[0]
        optimizer.zero_grad()
        (loss / len(x)).backward()
        optimizer.step()
    return model, x


def test_importance_sampled_log_px_is_above_the_elbo(trained_vae):
    model, x = trained_vae
    r = evaluate_model(model, x[:64], n_samples=200, seed=1)
    assert r["log_px"] >= r["iw_elbo"]  # same samples: logsumexp - log K >= mean (Jensen)
    assert r["log_px"] >= -r["neg_elbo"] - 3 * r["log_px_se"]
    assert r["neg_elbo"] == pytest.approx(r["bce"] + r["kld"])
    assert evaluate_model(model, x[:64], n_samples=200, seed=1) == r  # deterministic for a seed


def test_the_ae_gets_its_bce_only(trained_vae):
    _, x = trained_vae
    r = evaluate_model(Autoencoder("ae", hidden_size=64), x[:32])
    assert "log_px" not in r and r["neg_elbo"] == r["bce"] > 0


def test_the_evaluate_command_prints_both_models(mnist_dir, tmp_path, capsys):
    for kind in ("ae", "vae"):
        main(["--autoencoder_type", kind, "--n_epochs", "1", "--data_dir", str(mnist_dir), "--quiet",
              "--out_dir", str(tmp_path / "r"), "--weights_dir", str(tmp_path / kind)])
    capsys.readouterr()
    results = main(["evaluate", str(tmp_path / "vae"), str(tmp_path / "ae"), "--n_samples", "50",
                    "--data_dir", str(mnist_dir)])
    out = capsys.readouterr().out
    assert "importance-sampled log p(x)" in out and "no KL: an AE" in out
    assert results[str(tmp_path / "vae")]["n_images"] == 96
    with pytest.raises(SystemExit, match="nothing: no such weights folder"):
        main(["evaluate", str(tmp_path / "nothing"), "--data_dir", str(mnist_dir)])
