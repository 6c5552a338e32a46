import json

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_models import Autoencoder, ConvVAE, decode_grid, gaussian_kl, latent_grid, loss_function


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_shapes_follow_the_assignment(kind):
    model = Autoencoder(kind)
    x = torch.rand(5, 784).round()
    mu, logvar = model.encode(x)
    assert mu.shape == (5, 2)
    assert (logvar is None) == (kind == "ae")
    logits, mu, logvar = model(x, n_samples=3)
    assert logits.shape == ((1 if kind == "ae" else 3), 5, 784)
    assert model.decode(torch.zeros(7, 2)).shape == (7, 784)
    layers = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    expected = [(784, 512), (512, 2)] + ([(512, 2)] if kind == "vae" else []) + [(2, 512), (512, 784)]
    assert layers == expected


def test_reparameterised_samples_have_the_posterior_moments():
    model = Autoencoder("vae")
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2 * torch.log(torch.tensor(3.0))]])
    z = model.sample(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean((0, 1)), mu[0], atol=0.02)
    assert torch.allclose(z.std((0, 1)), torch.tensor([1.0, 3.0]), atol=0.02)


def test_kl_is_zero_for_the_prior_and_matches_hand_values():
    assert gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 2)).abs().max() == 0
    # mu = (1, 2), sigma^2 = (1, 4): 1/2 [ (1 + 4) + (1 + 4) - log 4 - 2 ] = 4 - log 2
    kl = gaussian_kl(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, torch.log(torch.tensor(4.0))]]))
    assert kl.item() == pytest.approx(4 - torch.log(torch.tensor(2.0)).item(), rel=1e-6)


def test_kl_matches_torch_distributions_and_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    closed = gaussian_kl(mu, logvar)
    assert torch.allclose(closed, kl_divergence(q, p).sum(-1), atol=1e-5)
    z = q.sample((400_000,))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    assert torch.allclose(closed, monte_carlo, rtol=0.02, atol=0.02)


def test_ae_loss_has_no_kl_and_is_the_bce():
    model = Autoencoder("ae")
    x = torch.rand(4, 784).round()
    logits, mu, logvar = model(x)
    loss, bce, kld = loss_function(logits, x, mu, logvar)
    assert kld.item() == 0 and loss.item() == bce.item()
    expected = torch.nn.functional.binary_cross_entropy(model.decode(mu), x, reduction="sum")
    assert bce.item() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_averages_the_reconstruction_over_l_samples():
    torch.manual_seed(0)
    model = Autoencoder("vae")
    x = torch.rand(6, 784).round()
    mu, logvar = model.encode(x)
    z = model.sample(mu, logvar, n_samples=5)
    loss, bce, kld = loss_function(model.decode_logits(z), x, mu, logvar)
    per_sample = [torch.nn.functional.binary_cross_entropy(model.decode(z[l]), x, reduction="sum") for l in range(5)]
    assert bce.item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-5)
    assert kld.item() == pytest.approx(gaussian_kl(mu, logvar).sum().item(), rel=1e-6)
    assert loss.item() == pytest.approx(bce.item() + kld.item(), rel=1e-6)


def test_loss_is_finite_when_the_decoder_saturates_at_0_and_1():
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    logits = torch.tensor([[[200.0, -200.0, -200.0, 200.0]]])  # sigmoid is exactly 1, 0, 0, 1 in float32
    assert torch.sigmoid(logits).eq(torch.tensor([1.0, 0.0, 0.0, 1.0])).all()
    loss, bce, _ = loss_function(logits, x, torch.zeros(1, 2), torch.zeros(1, 2))
    assert torch.isfinite(loss) and bce.item() == pytest.approx(400.0)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_save_and_load_round_trip_is_bit_exact(tmp_path, kind):
    model = Autoencoder(kind, hidden_size=64)
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    loaded = Autoencoder.from_pretrained(tmp_path, strict=True)
    assert loaded.kind == kind
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_mismatched_checkpoint_is_refused(tmp_path):
    Autoencoder("ae", hidden_size=64).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "kind": "vae"}))  # AE weights, VAE config
    with pytest.raises(RuntimeError, match="fc_logvar"):
        Autoencoder.from_pretrained(tmp_path, strict=True)
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_size": 32}))
    with pytest.raises(RuntimeError, match="size mismatch|shape"):
        Autoencoder.from_pretrained(tmp_path, strict=True)


def test_latent_grid_runs_left_to_right_and_top_to_bottom():
    z = latent_grid(n=5, lim=2.0).view(5, 5, 2)
    assert torch.allclose(z[0, 0], torch.tensor([-2.0, 2.0]))  # top left
    assert torch.allclose(z[0, 4], torch.tensor([2.0, 2.0]))  # top right
    assert torch.allclose(z[4, 0], torch.tensor([-2.0, -2.0]))  # bottom left
    assert torch.allclose(z[2, 2], torch.zeros(2))
    assert (z[:, 1:, 0] > z[:, :-1, 0]).all() and (z[1:, :, 1] < z[:-1, :, 1]).all()
    assert decode_grid(Autoencoder("vae"), n=4).shape == (16, 1, 28, 28)


def test_conv_vae_shapes_and_round_trip(tmp_path):
    model = ConvVAE(latent_size=16)
    x = torch.rand(3, 3, 64, 64)
    logits, mu, logvar = model(x, n_samples=2)
    assert logits.shape == (2, 3, 3, 64, 64) and mu.shape == logvar.shape == (3, 16)
    assert model.decode(torch.zeros(5, 16)).shape == (5, 3, 64, 64)
    loss, bce, kld = loss_function(logits, x, mu, logvar)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(bce.item() + kld.item(), rel=1e-6)
    model.eval().save_pretrained(tmp_path)
    loaded = ConvVAE.from_pretrained(tmp_path, strict=True).eval()
    with torch.no_grad():
        assert torch.equal(model.decode(mu), loaded.decode(mu))


def test_a_conv_vae_with_its_batchnorm_counters_loads(tmp_path):
    from vae_models import ConvVAE, load_pretrained

    ConvVAE(latent_size=8).eval().save_pretrained(tmp_path)  # num_batches_tracked: int64 buffers beside the floats
    assert load_pretrained(ConvVAE, tmp_path).latent_size == 8


def test_the_losss_bce_has_pytorchs_gradient_bit_for_bit_and_its_value():
    """The BCE of loss_function (BCEWithLogitsSum: vectorised log instead of log1p) trains exactly as
    F.binary_cross_entropy_with_logits would: the same gradient, bit for bit, and the same sum up to rounding."""
    import torch.nn.functional as F

    from vae_models.elbo import BCEWithLogitsSum

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 64, 784, generator=g) * 6
    logits[0, 0, :6] = torch.tensor([0.0, -0.0, 30.0, -30.0, 100.0, -100.0])
    x = (torch.rand(64, 784, generator=g) < 0.3).float().expand_as(logits)
    ours, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    a = BCEWithLogitsSum.apply(ours, x) / 3
    b = F.binary_cross_entropy_with_logits(theirs, x, reduction="sum") / 3
    (a / 64).backward()
    (b / 64).backward()
    assert torch.equal(ours.grad, theirs.grad)
    assert abs(a.item() - b.item()) <= 1e-6 * b.item()
