"""The training step replayed as a CUDA graph (train.loop.CapturedStep) against the eager step.

On the CPU the captured path runs the same body eagerly after the same warm-up and restore: it must reproduce the
eager loop bit for bit. The GPU tests (skipped without CUDA) check the graph itself: the same losses and gradients
as the eager step, fresh noise at every replay, and an exact resume.
"""
import copy

import pytest
import torch
from safetensors.torch import load_file

from train.__main__ import main
from train.loop import CapturedStep, LoopConfig, make_optimizer, train_epoch
from vae_models import Autoencoder, ConvVAE

def needs_cuda(test):  # skipped without a GPU; slow, so run by CI and bench/gpu_check.sh, not by default
    return pytest.mark.slow(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test))


def pair(make, device):
    """Two identical (model, optimizer) pairs."""
    torch.manual_seed(0)
    model = make().to(device)
    if isinstance(model, ConvVAE) and device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    cfg = LoopConfig(out_dir=".", batch_size=32, device=device, quiet=True)
    other = copy.deepcopy(model)
    return (model, make_optimizer(model, cfg)), (other, make_optimizer(other, cfg)), cfg


def small_conv():
    return ConvVAE(latent_size=8, channels=(8, 16, 16, 32))


def data_for(model, n, device):
    if isinstance(model, ConvVAE):
        return torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, device=device)
    return torch.rand(n, 784, device=device).round()


def test_the_step_written_for_capture_equals_the_eager_loop_on_the_cpu():
    """Two epochs of 100 images in batches of 32 (so a last batch of 4 gets its own step): the captured path's
    warm-up is undone, and its results equal the eager loop's exactly."""
    (eager, eager_opt), (cap, cap_opt), cfg = pair(lambda: Autoencoder("vae"), "cpu")
    x = data_for(eager, 100, "cpu")
    step = CapturedStep(cap, cap_opt, x, cfg)
    for epoch in range(2):
        order = torch.randperm(100, generator=torch.Generator().manual_seed(epoch))
        torch.manual_seed(10 + epoch)
        a = train_epoch(eager, eager_opt, x, order, cfg)
        rng_after_eager = torch.get_rng_state()
        torch.manual_seed(10 + epoch)
        b = train_epoch(cap, cap_opt, x, order, cfg, captured=step)
        assert torch.equal(a, b)
        assert torch.equal(rng_after_eager, torch.get_rng_state())  # the warm-up's draws were given back
    for (name, p), q in zip(eager.named_parameters(), cap.parameters()):
        assert torch.equal(p, q), name
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(eager_opt.state[p][k], cap_opt.state[q][k]), (name, k)


def test_the_warm_up_keeps_a_resumed_optimizer_state_and_batchnorm_statistics():
    """Capture after a resume: the warm-up steps must leave Adam's loaded moments and BatchNorm's running
    statistics as they were."""
    (model, opt), _, cfg = pair(small_conv, "cpu")
    x = data_for(model, 8, "cpu")
    train_epoch(model, opt, x, torch.arange(8), LoopConfig(out_dir=".", batch_size=8, quiet=True))
    before = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    step = CapturedStep(model, opt, x, cfg)
    step._capture(4)
    assert all(torch.equal(a, b) for a, b in zip(before[0].values(), model.state_dict().values()))
    after = opt.state_dict()["state"]
    assert all(torch.equal(before[1]["state"][i][k], after[i][k]) for i in after for k in after[i])


@needs_cuda
@pytest.mark.parametrize("make", [lambda: Autoencoder("vae"), small_conv], ids=["mlp-vae", "conv-vae"])
def test_a_replayed_step_computes_what_the_eager_step_computes(make):
    """Same weights, batch and noise (the same CUDA generator state): losses, gradients, BatchNorm statistics and
    the updated weights agree to bf16 tolerance."""
    (eager, eager_opt), (cap, cap_opt), cfg = pair(make, "cuda")
    x = data_for(eager, 64, "cuda")
    step = CapturedStep(cap, cap_opt, x, cfg)
    order = torch.randperm(64, device="cuda")[:32]
    state = torch.cuda.get_rng_state()
    a = train_epoch(eager, eager_opt, x, order, cfg)
    torch.cuda.set_rng_state(state)
    b = train_epoch(cap, cap_opt, x, order, cfg, captured=step)
    assert step.graphs[32] is not None  # really a graph
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)

    def rel(u, v):
        return ((u.float() - v.float()).norm() / v.float().norm().clamp_min(1e-12)).item()

    for (name, p), q in zip(eager.named_parameters(), cap.parameters()):
        assert rel(q.grad, p.grad) < 1e-2, name
    for (name, u), v in zip(eager.state_dict().items(), cap.state_dict().values()):
        assert rel(v, u) < 1e-3, name


@needs_cuda
def test_every_replay_draws_new_noise_and_the_generator_state_repeats_it():
    (model, opt), _, cfg = pair(lambda: Autoencoder("vae"), "cuda")
    x = data_for(model, 32, "cuda")
    step = CapturedStep(model, opt, x, cfg)
    order = torch.arange(32, device="cuda")
    train_epoch(model, opt, x, order, cfg, captured=step)  # captures
    weights = [t.clone() for t in model.state_dict().values()]
    moments = {p: {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}

    def replay_from_the_same_weights():
        with torch.no_grad():
            for t, w in zip(model.state_dict().values(), weights):
                t.copy_(w)
            for p in model.parameters():
                for k, v in opt.state[p].items():
                    v.copy_(moments[p][k])
        return train_epoch(model, opt, x, order, cfg, captured=step)

    state = torch.cuda.get_rng_state()
    first, second = replay_from_the_same_weights(), replay_from_the_same_weights()
    assert not torch.equal(first, second)  # new noise at each replay
    torch.cuda.set_rng_state(state)
    assert torch.equal(replay_from_the_same_weights(), first)  # the generator's state decides it


@needs_cuda
def test_a_captured_mnist_run_on_the_gpu_resumes_to_the_same_weights(mnist_dir, tmp_path):
    def run(name, epochs, *more):
        main(["--autoencoder_type", "vae", "--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"),
              "--quiet", "--batch_size", "32", "--device", "cuda", "--n_epochs", str(epochs), "--exp_name", name,
              "--weights_dir", str(tmp_path / name), *more])

    run("straight", 3)
    run("resumed", 1)
    run("resumed", 3, "--resume", "--replace_weights")
    a, b = (load_file(tmp_path / n / "model.safetensors") for n in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    results = tmp_path / "results"
    assert (results / "straight" / "perf_metrics.csv").read_text() == \
        (results / "resumed" / "perf_metrics.csv").read_text()


@needs_cuda
def test_captured_and_eager_gpu_runs_learn_alike(mnist_dir, tmp_path):
    rows = {}
    for name, more in (("graph", []), ("eager", ["--eager"])):
        main(["--autoencoder_type", "vae", "--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"),
              "--quiet", "--batch_size", "32", "--device", "cuda", "--n_epochs", "3", "--exp_name", name,
              "--weights_dir", str(tmp_path / name), *more])
        text = (tmp_path / "results" / name / "perf_metrics.csv").read_text().splitlines()
        rows[name] = [float(line.split(",")[2]) for line in text[1:]]  # test loss per epoch
    assert rows["graph"][-1] < rows["graph"][0]
    for a, b in zip(rows["graph"], rows["eager"]):
        assert abs(a - b) < 0.02 * abs(b)
