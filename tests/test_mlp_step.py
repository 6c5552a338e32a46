"""The MNIST AE's and VAE's step with its backward written out (train.mlp_step.MLPStep) against autograd.

It must give autograd's numbers to the last bit: the same losses, gradients and weights, so a run on the CPU
writes the same model.safetensors with it or without it (--eager)."""
import pytest
import torch
from safetensors.torch import load_file

from train.__main__ import main
from train.adam import Adam
from train.loop import LoopConfig, make_optimizer, step_name, train_epoch
from train.mlp_step import MLPStep
from vae_models import Autoencoder, ConditionalVAE, loss_function

CASES = [("ae", 1, 1.0), ("vae", 1, 1.0), ("vae", 2, 4.0), ("vae", 3, 0.5)]


def digits(n=100, dtype=torch.float32):
    x = torch.rand(n, 784, generator=torch.Generator().manual_seed(1)).round()
    return (x * 255).to(torch.uint8) if dtype == torch.uint8 else x


@pytest.mark.parametrize("kind, n_samples, beta", CASES)
def test_its_gradients_are_autograds_to_the_bit(kind, n_samples, beta):
    torch.manual_seed(0)
    model = Autoencoder(kind)
    cfg = LoopConfig(out_dir=".", n_mc_samples=n_samples, beta=beta)
    x = digits(32)
    torch.manual_seed(3)
    logits, mu, logvar = model(x, n_samples)
    expected = loss_function(logits, x, mu, logvar, beta)
    (expected.loss / len(x)).backward()
    torch.manual_seed(3)
    losses, grads = MLPStep(model, Adam(model.parameters()), x, cfg).losses_and_grads(x)
    for a, b in zip(expected, losses):
        assert torch.equal(a, b)
    for (name, p), g in zip(model.named_parameters(), grads):
        assert torch.equal(p.grad, g), name


@pytest.mark.parametrize("kind, n_samples, beta", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_its_epochs_equal_autograds_and_torch_adams(kind, n_samples, beta, dtype):
    """Two epochs of 100 images in batches of 32 (a last batch of 4): the epoch sums, the weights and Adam's state
    equal those of the eager loop with torch.optim.Adam(fused=True), exactly."""
    cfg = LoopConfig(out_dir=".", batch_size=32, n_mc_samples=n_samples, beta=beta, quiet=True)
    x = digits(100, dtype)
    torch.manual_seed(0)
    eager = Autoencoder(kind)
    torch.manual_seed(0)
    written = Autoencoder(kind)
    eager_opt = torch.optim.Adam(eager.parameters(), lr=cfg.lr, fused=True)
    written_opt = make_optimizer(written, cfg)
    assert isinstance(written_opt, Adam) and step_name(written, cfg) == "written-out"
    step = MLPStep(written, written_opt, x, cfg)
    for epoch in range(2):
        order = torch.randperm(100, generator=torch.Generator().manual_seed(epoch))
        torch.manual_seed(10 + epoch)
        a = train_epoch(eager, eager_opt, x, order, cfg)
        torch.manual_seed(10 + epoch)
        b = train_epoch(written, written_opt, x, order, cfg, captured=step)
        assert torch.equal(a, b)
    for (name, p), q in zip(eager.named_parameters(), written.parameters()):
        assert torch.equal(p, q), name
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(eager_opt.state[p][k], written_opt.state[q][k]), (name, k)


def test_it_trains_only_what_it_was_written_for():
    cfg = LoopConfig(out_dir=".")
    assert step_name(Autoencoder("vae"), cfg) == "written-out"
    assert step_name(ConditionalVAE(), cfg) == "eager"  # its labels go through autograd
    assert step_name(Autoencoder("vae"), LoopConfig(out_dir=".", fused_step=False)) == "eager"
    model = ConditionalVAE()
    with pytest.raises(ValueError, match="Autoencoder"):
        MLPStep(model, Adam(model.parameters()), digits(4), cfg)
    model = Autoencoder("vae")
    with pytest.raises(ValueError, match="Adam"):
        MLPStep(model, torch.optim.Adam(model.parameters()), digits(4), cfg)


def test_a_run_writes_the_same_weights_with_and_without_it(mnist_dir, tmp_path, capsys):
    def run(name, *flags):
        main(["--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--quiet", "--batch_size", "32",
              "--autoencoder_type", "vae", "--n_epochs", "2", "--exp_name", name, "--weights_dir",
              str(tmp_path / name), *flags])
        return capsys.readouterr().out

    assert "(written-out steps on the CPU)" in run("written")
    assert "(eager steps on the CPU)" in run("eager", "--eager")
    assert (tmp_path / "written" / "model.safetensors").read_bytes() == \
        (tmp_path / "eager" / "model.safetensors").read_bytes()
    written, eager = ((tmp_path / "results" / n / "perf_metrics.csv").read_text() for n in ("written", "eager"))
    assert written == eager
    assert set(load_file(tmp_path / "written" / "model.safetensors")) == set(Autoencoder("vae").state_dict())
