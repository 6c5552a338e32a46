import csv

import pytest
import torch
from safetensors.torch import load_file

from train.__main__ import main
from train.artifacts import METRIC_COLUMNS
from vae_models import Autoencoder


def run(mnist_dir, tmp_path, *flags):
    main(["--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--quiet", "--batch_size", "32",
          *flags])


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_cli_writes_every_artifact_and_loadable_weights(mnist_dir, tmp_path, kind):
    weights = tmp_path / "weights" / kind
    run(mnist_dir, tmp_path, "--autoencoder_type", kind, "--n_epochs", "2", "--weights_dir", str(weights))
    out = tmp_path / "results" / f"AE-arch={kind}(512)-lr=0.001-ep=2"
    for name in ["perf_metrics.csv", "loss_curve.png", "manifold.png", "manifold_digits.png",
                 "reconstruction_0.png", "reconstruction_1.png", "sample_0.png", "sample_1.png"]:
        assert (out / name).stat().st_size > 0, name
    with open(out / "perf_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == METRIC_COLUMNS and [r["epoch"] for r in rows] == ["0", "1"]
    assert all(float(r["lr"]) == 0.001 for r in rows)
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    kld = [float(r["test_kld"]) for r in rows]
    assert (kld == [0.0, 0.0]) == (kind == "ae")

    model = Autoencoder.from_pretrained(weights, strict=True)
    assert model.kind == kind
    latents = load_file(weights / "test_latents.safetensors")
    assert latents["mu"].shape == (96, 2) and latents["labels"].shape == (96,)
    assert ("logvar" in latents) == (kind == "vae")
    assert (weights / "perf_metrics.csv").exists() and (weights / "manifold_digits.png").exists()
    assert len(list((weights / "examples").glob("digit_*.png"))) == 10


def test_resume_after_an_interruption_equals_an_uninterrupted_run(mnist_dir, tmp_path):
    common = ["--autoencoder_type", "vae", "--exp_name", "{}", "--weights_dir"]
    run(mnist_dir, tmp_path, *[a.format("straight") for a in common], str(tmp_path / "w1"), "--n_epochs", "3")
    # "Interrupted" after epoch 0, then continued with --resume to the same 3 epochs.
    run(mnist_dir, tmp_path, *[a.format("resumed") for a in common], str(tmp_path / "w2"), "--n_epochs", "1")
    run(mnist_dir, tmp_path, *[a.format("resumed") for a in common], str(tmp_path / "w2"), "--n_epochs", "3",
        "--resume")
    a, b = load_file(tmp_path / "w1" / "model.safetensors"), load_file(tmp_path / "w2" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    results = tmp_path / "results"
    assert (results / "straight" / "perf_metrics.csv").read_text() == (results / "resumed" / "perf_metrics.csv").read_text()


def test_resume_discards_metrics_written_after_the_last_checkpoint(mnist_dir, tmp_path):
    flags = ["--exp_name", "x", "--weights_dir", str(tmp_path / "w")]
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "1")
    csv_path = tmp_path / "results" / "x" / "perf_metrics.csv"
    csv_path.write_text(csv_path.read_text() + "1,9,9,0.001,9,9,9,9\n")  # a row whose checkpoint never landed
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "2", "--resume")
    rows = list(csv.DictReader(open(csv_path)))
    assert [r["epoch"] for r in rows] == ["0", "1"] and float(rows[1]["train_loss"]) != 9


@pytest.mark.parametrize("flags, message", [(["--n_epochs", "0"], "--n_epochs must be at least 1"),
                                            (["--lr", "-1"], "--lr must be positive"),
                                            (["--autoencoder_type", "gan"], "invalid choice")])
def test_bad_flags_are_refused_with_a_message(flags, message, capsys):
    with pytest.raises(SystemExit):
        main(flags)
    assert message in capsys.readouterr().err


def test_help_explains_every_flag_of_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for flag in ("--autoencoder_type", "--n_mc_samples", "--resume", "--subset", "--n_samples", "--weights_dir"):
        assert flag in out


def test_a_broken_data_folder_ends_with_one_clear_sentence(mnist_dir, tmp_path, capsys):
    images = mnist_dir / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(SystemExit, match="truncated or corrupt"):
        run(mnist_dir, tmp_path, "--n_epochs", "1")


def test_a_killed_run_resumes_to_the_same_weights(mnist_dir, tmp_path):
    """SIGKILL a training process once its first checkpoint exists, resume it, and compare with a run that was
    never interrupted: atomic writes leave nothing half-written to resume from."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    def command(name):
        return [sys.executable, "-m", "train", "--autoencoder_type", "vae", "--n_epochs", "6", "--batch_size", "32",
                "--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--exp_name", name,
                "--weights_dir", str(tmp_path / name), "--quiet"]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command("straight"), cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    victim = subprocess.Popen(command("killed"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "results" / "killed" / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "killed" / "model.safetensors").exists()  # it did not get to the end
    subprocess.run(command("killed") + ["--resume"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
