import csv
import os
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from train.__main__ import main
from train.artifacts import METRIC_COLUMNS
from vae_models import Autoencoder, loss_function


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
    run(mnist_dir, tmp_path, "--autoencoder_type", "vae", "--exp_name", "straight", "--weights_dir",
        str(tmp_path / "w1"), "--n_epochs", "3")
    # "Interrupted" after epoch 1, then continued with --resume to 3 epochs. The default folder name holds the epoch
    # count: the 2-epoch run is the same run, continued in its folder, renamed to ep=3.
    flags = ["--autoencoder_type", "vae", "--weights_dir", str(tmp_path / "w2")]
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "2")
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "3", "--resume", "--replace_weights")
    assert (tmp_path / "w1" / "model.safetensors").read_bytes() == (tmp_path / "w2" / "model.safetensors").read_bytes()
    results = tmp_path / "results"
    assert not (results / "AE-arch=vae(512)-lr=0.001-ep=2").exists()
    assert ((results / "AE-arch=vae(512)-lr=0.001-ep=3" / "perf_metrics.csv").read_text()
            == (results / "straight" / "perf_metrics.csv").read_text())


def test_resume_with_more_epochs_continues_only_the_same_run(mnist_dir, tmp_path, capsys):
    flags = ["--autoencoder_type", "vae", "--weights_dir", str(tmp_path / "w"), "--n_epochs"]
    results = tmp_path / "results"
    run(mnist_dir, tmp_path, *flags, "1", "--seed", "1")
    # another seed is another run: started from scratch in its own folder, the seed-1 run left where it was
    run(mnist_dir, tmp_path, *flags, "2", "--resume", "--replace_weights")
    assert "No checkpoint in" in capsys.readouterr().out
    assert sorted(p.name for p in results.iterdir()) == ["AE-arch=vae(512)-lr=0.001-ep=1",
                                                         "AE-arch=vae(512)-lr=0.001-ep=2"]
    # two runs that --n_epochs 4 could continue: one sentence asks which, and nothing is renamed
    shutil.copytree(results / "AE-arch=vae(512)-lr=0.001-ep=2", results / "AE-arch=vae(512)-lr=0.001-ep=3")
    with pytest.raises(SystemExit, match=r"could continue any of .*ep=2, .*ep=3; pass the --exp_name"):
        run(mnist_dir, tmp_path, *flags, "4", "--resume", "--replace_weights")
    assert len(list(results.iterdir())) == 3


def test_resume_discards_metrics_written_after_the_last_checkpoint(mnist_dir, tmp_path):
    flags = ["--exp_name", "x", "--weights_dir", str(tmp_path / "w")]
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "1")
    csv_path = tmp_path / "results" / "x" / "perf_metrics.csv"
    csv_path.write_text(csv_path.read_text() + "1,9,9,0.001,9,9,9,9\n")  # a row whose checkpoint never landed
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "2", "--resume", "--replace_weights")
    rows = list(csv.DictReader(open(csv_path)))
    assert [r["epoch"] for r in rows] == ["0", "1"] and float(rows[1]["train_loss"]) != 9


@pytest.mark.parametrize("flags, message", [(["--n_epochs", "0"], "--n_epochs: must be at least 1"),
                                            (["--lr", "-1"], "--lr: must be a positive finite number"),
                                            (["--lr", "nan"], "--lr: must be a positive finite number"),
                                            (["--lr", "inf"], "--lr: must be a positive finite number"),
                                            (["--seed", str(2**64)], "--seed: must be from 0 to"),
                                            (["--batch_size", "x"], "--batch_size: 'x' is not a whole number"),
                                            (["subset", "--n_test", "0"], "--n_test: must be at least 1"),
                                            (["--device", "gpu"], "is not a device"),
                                            (["--exp_name", "/tmp/elsewhere"], "must be a folder name inside"),
                                            (["--exp_name", "../../up"], "must be a folder name inside"),
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
    for command in ("mnist", "celeba", "evaluate", "report", "spectrum", "density", "subset"):
        assert command in out


def test_a_broken_data_folder_ends_with_one_clear_sentence(mnist_dir, tmp_path, capsys):
    images = mnist_dir / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(SystemExit, match="truncated or corrupt"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--weights_dir", str(tmp_path / "w"))


@pytest.mark.slow  # three training processes
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
    resumed = subprocess.run(command("killed") + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=False, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_that_dies_just_after_a_checkpoint_resumes(mnist_dir, tmp_path, monkeypatch):
    """The window a SIGKILL once hit in CI: the process dies the moment epoch 0's checkpoint is on disk, before any
    other write. The run resumes to the same weights and the same metrics file as a run never interrupted."""
    from train import artifacts

    run(mnist_dir, tmp_path, "--autoencoder_type", "vae", "--n_epochs", "3", "--exp_name", "straight",
        "--weights_dir", str(tmp_path / "w1"))
    write_checkpoint, write_metrics, dead = artifacts.write_checkpoint, artifacts.write_metrics, []

    def checkpoint_then_die(*args):
        if not dead:
            write_checkpoint(*args)
            dead.append(True)
            raise KeyboardInterrupt  # the process is gone: nothing after this is written

    monkeypatch.setattr(artifacts, "write_checkpoint", checkpoint_then_die)
    monkeypatch.setattr(artifacts, "write_metrics", lambda *a, **k: None if dead else write_metrics(*a, **k))
    flags = ["--autoencoder_type", "vae", "--n_epochs", "3", "--exp_name", "killed", "--weights_dir",
             str(tmp_path / "w2")]
    with pytest.raises(KeyboardInterrupt):
        run(mnist_dir, tmp_path, *flags)
    monkeypatch.undo()
    killed = tmp_path / "results" / "killed"
    with safe_open(killed / "checkpoint.safetensors", "pt") as f:
        assert f.metadata()["epoch"] == "0"
    run(mnist_dir, tmp_path, *flags, "--resume")
    assert (tmp_path / "w1" / "model.safetensors").read_bytes() == (tmp_path / "w2" / "model.safetensors").read_bytes()
    assert (killed / "perf_metrics.csv").read_text() == (tmp_path / "results" / "straight" / "perf_metrics.csv").read_text()


def test_cuda_without_a_gpu_is_refused_before_any_data_is_read(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit):
        main(["--device", "cuda", "--data_dir", "/nonexistent"])
    assert "no CUDA GPU is available here" in capsys.readouterr().err


def test_a_quick_retrain_never_replaces_weights_unless_asked(mnist_dir, tmp_path, capsys):
    weights = tmp_path / "weights"
    run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "first", "--weights_dir", str(weights))
    before = {p.name: p.read_bytes() for p in weights.iterdir() if p.is_file()}
    (weights / "my_notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="already holds weights, which this run would replace; pass --replace_w"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "second", "--weights_dir", str(weights))
    assert not (tmp_path / "results" / "second" / "perf_metrics.csv").exists()  # refused before training
    assert {p.name: p.read_bytes() for p in weights.iterdir() if p.is_file() and p.name != "my_notes.txt"} == before
    run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "second", "--weights_dir", str(weights),
        "--seed", "1", "--replace_weights")
    assert (weights / "my_notes.txt").read_text() == "mine"
    assert (weights / "model.safetensors").read_bytes() != before["model.safetensors"]


def test_the_export_touches_nothing_it_did_not_write(mnist_dir, tmp_path):
    """--weights_dir equal to the run's own folder, with the user's folders beside it: all of them survive."""
    results = tmp_path / "results"
    for name in ("run.old", "run.tmp", "other-experiment"):
        (results / name).mkdir(parents=True)
        (results / name / "keep.txt").write_text(name)
    run(mnist_dir, tmp_path, "--n_epochs", "2", "--exp_name", "run", "--weights_dir", str(results / "run"))
    assert (results / "run" / "checkpoint.safetensors").exists() and (results / "run" / "model.safetensors").exists()
    for name in ("run.old", "run.tmp", "other-experiment"):
        assert (results / name / "keep.txt").read_text() == name
    assert sorted(p.name for p in results.iterdir()) == ["other-experiment", "run", "run.old", "run.tmp"]


def test_a_finished_run_is_not_overwritten_and_a_resume_keeps_its_settings(mnist_dir, tmp_path):
    flags = ["--exp_name", "x", "--weights_dir", str(tmp_path / "w")]
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "1")
    metrics = (tmp_path / "results" / "x" / "perf_metrics.csv").read_text()
    with pytest.raises(SystemExit, match="already holds a run; pass --resume"):
        run(mnist_dir, tmp_path, *flags, "--n_epochs", "1", "--replace_weights")
    for other, message in ((["--seed", "2"], "--seed 8675309 \\(now 2\\)"), (["--lr", "0.01"], "--lr 0.001")):
        with pytest.raises(SystemExit, match=message):
            main(["--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--quiet", "--batch_size",
                  "32", *flags, "--n_epochs", "2", "--resume", "--replace_weights", *other])
    with pytest.raises(SystemExit, match="--batch_size 32 \\(now 64\\)"):
        main(["--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--quiet", "--batch_size", "64",
              *flags, "--n_epochs", "2", "--resume", "--replace_weights"])
    assert (tmp_path / "results" / "x" / "perf_metrics.csv").read_text() == metrics
    (tmp_path / "results" / "x" / "perf_metrics.csv").unlink()
    with pytest.raises(SystemExit, match="no perf_metrics.csv"):
        run(mnist_dir, tmp_path, *flags, "--n_epochs", "2", "--resume", "--replace_weights")


def test_a_damaged_checkpoint_and_unwritable_folders_end_with_one_sentence(mnist_dir, tmp_path):
    flags = ["--exp_name", "x", "--weights_dir", str(tmp_path / "w")]
    run(mnist_dir, tmp_path, *flags, "--n_epochs", "1")
    (tmp_path / "results" / "x" / "checkpoint.safetensors").write_bytes(b"garbage" * 100)
    with pytest.raises(SystemExit, match="checkpoint .* is damaged"):
        run(mnist_dir, tmp_path, *flags, "--n_epochs", "2", "--resume", "--replace_weights")
    if os.geteuid() == 0:
        return  # root writes through any permission bits
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(SystemExit, match="cannot write to"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "y", "--weights_dir", str(tmp_path / "locked"))


def test_a_diverging_run_stops_and_exports_nothing(mnist_dir, tmp_path):
    with pytest.raises(SystemExit, match="training loss became nan in epoch 0"):
        run(mnist_dir, tmp_path, "--n_epochs", "2", "--exp_name", "x", "--weights_dir", str(tmp_path / "w"),
            "--lr", "1e30")
    assert not (tmp_path / "w" / "model.safetensors").exists()
    assert not (tmp_path / "results" / "x" / "checkpoint.safetensors").exists()


def test_broken_gzip_and_csv_files_end_with_one_sentence(mnist_dir, tmp_path):
    from train.mnist import DataError, csv_to_idx, read_idx

    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a complete gzip file"):
        read_idx(tmp_path / "x.gz")
    (tmp_path / "bad.csv").write_text("label,p\n1,2,x\n")
    with pytest.raises(DataError, match="MNIST CSV is corrupt"):
        csv_to_idx(tmp_path / "bad.csv", tmp_path / "i", tmp_path / "l")


def test_untrusted_weights_are_checked_before_anything_is_built(tmp_path):
    """A config asking for a 4,000,000-wide layer is refused from its numbers, NaN weights from their values."""
    import json

    from vae_models import WeightsError, load_pretrained

    folder = tmp_path / "w"
    Autoencoder(kind="vae", hidden_size=8).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"kind": "vae", "hidden_size": 4_000_000}))
    with pytest.raises(WeightsError, match="sizes must be whole numbers from 1 to 65536"):
        load_pretrained(Autoencoder, folder)
    (folder / "config.json").write_text(json.dumps({"kind": "vae", "hidden_size": 9}))
    with pytest.raises(WeightsError, match="does not match config.json"):
        load_pretrained(Autoencoder, folder)
    (folder / "config.json").write_text(json.dumps({"kind": "vae", "hidden_size": 8, "evil": 1}))
    with pytest.raises(WeightsError, match="keys a Autoencoder does not take: evil"):
        load_pretrained(Autoencoder, folder)
    model = Autoencoder(kind="vae", hidden_size=8)
    with torch.no_grad():
        model.fc1.weight[0, 0] = float("nan")
    model.save_pretrained(folder)
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_pretrained(Autoencoder, folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(WeightsError, match="damaged"):
        load_pretrained(Autoencoder, folder)
    with pytest.raises(WeightsError, match="no such weights folder"):
        load_pretrained(Autoencoder, tmp_path / "nowhere")


@pytest.mark.slow  # a process that imports gradio
def test_the_app_refuses_to_start_on_missing_weights_with_one_sentence(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "mnist-ae").mkdir()
    done = subprocess.run([sys.executable, "app.py", "--weights", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"cannot start VAE Explorer: {tmp_path / 'mnist-ae'}: config.json is missing." in done.stderr


def test_beta_one_is_the_elbo_bit_for_bit_and_beta_weighs_only_the_kl():
    torch.manual_seed(0)
    logits, x = torch.randn(2, 8, 784), torch.rand(8, 784).round()
    mu, logvar = torch.randn(8, 2), torch.randn(8, 2)
    loss, bce, kld = loss_function(logits, x, mu, logvar)
    assert torch.equal(loss, bce + kld)
    loss4, bce4, kld4 = loss_function(logits, x, mu, logvar, beta=4.0)
    assert torch.equal(bce4, bce) and torch.equal(kld4, kld) and torch.allclose(loss4, bce + 4 * kld)


def test_a_beta_run_says_its_beta_in_its_folders_and_learns_a_smaller_kl(mnist_dir, tmp_path):
    import json

    weights = tmp_path / "weights"
    for beta in ("1", "4"):
        main(["--autoencoder_type", "vae", "--beta", beta, "--data_dir", str(mnist_dir), "--n_epochs", "3",
              "--quiet", "--batch_size", "32", "--out_dir", str(tmp_path / "results"),
              "--weights_dir", str(weights / ("vae" if beta == "1" else "vae-beta4"))])
    assert (tmp_path / "results" / "AE-arch=vae(512)-lr=0.001-ep=3-beta=4").is_dir()
    assert json.loads((weights / "vae-beta4" / "training.json").read_text())["beta"] == 4.0
    kl = {}
    for name in ("vae", "vae-beta4"):
        with open(weights / name / "perf_metrics.csv") as f:
            kl[name] = float(list(csv.DictReader(f))[-1]["test_kld"])
    assert kl["vae-beta4"] < kl["vae"]


def test_the_default_beta_folder_names_carry_the_beta():
    from train.__main__ import parse_args

    args = parse_args(["--autoencoder_type", "vae", "--beta", "0.5"])
    assert args.weights_dir == "weights/mnist-vae-beta0.5" and args.exp_name.endswith("-beta=0.5")
    assert parse_args(["--autoencoder_type", "vae"]).weights_dir == "weights/mnist-vae"
    args = parse_args(["--autoencoder_type", "vae", "--beta", "2", "--latent_size", "8"])
    assert args.weights_dir == "weights/mnist-vae-beta2-latent=8"


def test_a_conditional_vae_trains_exports_and_loads(mnist_dir, tmp_path):
    from safetensors.torch import load_file as load

    from train.__main__ import load_weights
    from vae_models import ConditionalVAE

    weights = tmp_path / "cvae"
    run(mnist_dir, tmp_path, "--autoencoder_type", "cvae", "--n_epochs", "2", "--weights_dir", str(weights))
    out = tmp_path / "results" / "AE-arch=cvae(512)-lr=0.001-ep=2"
    for name in ("class_grids.png", "manifold.png", "sample_1.png", "reconstruction_1.png"):
        assert (out / name).stat().st_size > 0 and (weights / name).exists(), name
    model = load_weights(weights)
    assert isinstance(model, ConditionalVAE) and model.is_vae and model.n_classes == 10
    codes = load(weights / "test_latents.safetensors")
    assert codes["mu"].shape == (96, 2) and "logvar" in codes
    with open(weights / "perf_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    # the label matters: the same z decodes to different images for different digits
    z = torch.zeros(1, 2)
    assert not torch.allclose(model.decode(z, 3), model.decode(z, 7))


@pytest.mark.parametrize("flags, message", [
    (["--autoencoder_type", "ae", "--beta", "2"], "the AE does not have"),
    (["--autoencoder_type", "vae", "--beta", "-1"], "--beta: must be"),
    (["--autoencoder_type", "vae", "--beta", "nan"], "--beta: must be"),
])
def test_bad_betas_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit):
        main(flags)
    assert message in capsys.readouterr().err


def tree(folder):
    """Every file under folder -> its bytes: what a refused run must leave exactly as it was."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_weights_folder_of_the_users_own_files_is_never_replaced(mnist_dir, tmp_path):
    mine = tmp_path / "mine"
    (mine / "examples").mkdir(parents=True)
    for name in ("README.md", "config.json", "perf_metrics.csv", "loss_curve.png", "training.json"):
        (mine / name).write_text(f"my {name}")
    (mine / "examples" / "digit_0.png").write_text("my drawing")
    before = tree(mine)
    for extra in ([], ["--replace_weights"]):
        with pytest.raises(SystemExit, match="holds files of yours that the export would replace"):
            run(mnist_dir, tmp_path, "--n_epochs", "1", "--weights_dir", str(mine), *extra)
    assert tree(mine) == before and not (tmp_path / "results").exists()  # refused before anything was made
    # an earlier export (its training.json says so) is replaced when asked
    run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "a", "--weights_dir", str(tmp_path / "w"))
    run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "b", "--weights_dir", str(tmp_path / "w"),
        "--replace_weights")


def test_a_results_folder_of_the_users_files_is_refused(mnist_dir, tmp_path):
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "loss_curve.png").write_text("my figure")
    (mine / "x").mkdir()
    (mine / "x" / "manifold.png").write_text("mine too")
    before = tree(mine)
    with pytest.raises(SystemExit):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", ".", "--weights_dir", str(tmp_path / "w"))
    with pytest.raises(SystemExit, match="holds other files"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "x", "--weights_dir", str(tmp_path / "w"))
    assert tree(mine) == before and not (tmp_path / "w").exists()


def test_every_destination_is_checked_before_training(mnist_dir, tmp_path, capsys):
    weights = tmp_path / "w"
    run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "a", "--weights_dir", str(weights))
    shutil.rmtree(weights / "examples")
    (weights / "examples").write_text("a file where the export makes a folder")
    before = tree(weights)
    with pytest.raises(SystemExit, match="examples is a file where the export writes a folder"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "b", "--weights_dir", str(weights),
            "--replace_weights")
    assert tree(weights) == before and not (tmp_path / "results" / "b").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="cannot write to"):
        run(mnist_dir, tmp_path, "--n_epochs", "1", "--exp_name", "c", "--weights_dir", str(tmp_path / "file" / "w"))


@pytest.mark.parametrize("flags, message", [
    (["--exp_name", "x" * 300], "longer than the 255"),
    (["--hidden_layer_size", "1000000000"], "--hidden_layer_size: must be from 1 to 65536"),
    (["--latent_size", "1000000000"], "--latent_size: must be from 1 to 65536"),
    (["--n_mc_samples", "1000000"], "decodes more than"),
])
def test_absurd_sizes_and_names_are_one_sentence_and_make_nothing(flags, message, mnist_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(mnist_dir, tmp_path, "--weights_dir", str(tmp_path / "w"), *flags)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "w").exists()


def test_a_model_too_large_is_refused_before_anything_is_made(mnist_dir, tmp_path):
    with pytest.raises(SystemExit, match="parameters; this trainer takes up to"):
        run(mnist_dir, tmp_path, "--weights_dir", str(tmp_path / "w"), "--hidden_layer_size", "65536", "--n_epochs", "1")
    assert not (tmp_path / "results").exists() and not (tmp_path / "w").exists()


def test_a_resume_from_damaged_metrics_or_checkpoint_metadata_is_one_sentence(mnist_dir, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    flags = ["--exp_name", "x", "--weights_dir", str(tmp_path / "w"), "--n_epochs", "2", "--resume",
             "--replace_weights"]
    run(mnist_dir, tmp_path, *flags[:4], "--n_epochs", "1")
    run_dir = tmp_path / "results" / "x"
    good = (run_dir / "perf_metrics.csv").read_text()
    for damaged, message in ((good + "abc\n", "line 3, holds a value that is not a number"),
                             ("epoch,train_loss\n0,1\n", "has no test_loss column")):
        (run_dir / "perf_metrics.csv").write_text(damaged)
        with pytest.raises(SystemExit, match=message):
            run(mnist_dir, tmp_path, *flags)
    (run_dir / "perf_metrics.csv").write_text(good)
    ckpt = run_dir / "checkpoint.safetensors"
    tensors = load_file(ckpt)
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    for epoch in (json.dumps("abc"), "[" * 30000 + "]" * 30000):
        save_file(tensors, ckpt, metadata={**meta, "epoch": epoch})
        with pytest.raises(SystemExit, match="is damaged or belongs to another model"):
            run(mnist_dir, tmp_path, *flags)


def test_subset_never_replaces_a_file_unasked_and_says_what_it_cannot_do(mnist_dir, tmp_path, capsys):
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("years of work")
    subset = ["subset", "--data_dir", str(mnist_dir), "--n_train", "100", "--n_test", "10"]
    with pytest.raises(SystemExit, match="already exists; pass --replace"):
        main([*subset, "--out", str(thesis)])
    assert thesis.read_text() == "years of work"
    with pytest.raises(SystemExit, match="is a folder; give a file name"):
        main([*subset, "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--n_train 10000000: MNIST has 320 train digits"):
        main([*subset[:3], "--n_train", "10000000", "--out", str(tmp_path / "s.safetensors")])
    assert not (tmp_path / "s.safetensors").exists()
    main([*subset, "--out", str(tmp_path / "s.safetensors")])
    main([*subset, "--out", str(tmp_path / "s.safetensors"), "--replace"])
    assert "100 training and 10 test digits" in capsys.readouterr().out


def tiny_weights(folder, kind="vae", beta=None):
    """A small untrained model's weights folder with what the app reads: codes, metrics, and (given beta) its
    training.json."""
    import json

    from safetensors.torch import save_file

    from train.artifacts import write_metrics

    torch.manual_seed(0)
    Autoencoder(kind, hidden_size=8).save_pretrained(folder)
    save_file({"mu": torch.randn(20, 2), "labels": torch.arange(20, dtype=torch.uint8) % 10},
              folder / "test_latents.safetensors")
    write_metrics([{c: (0 if c == "epoch" else 1.0) for c in METRIC_COLUMNS}], folder / "perf_metrics.csv")
    if beta is not None:
        (folder / "training.json").write_text(json.dumps({"trainer": "python -m train", "beta": beta}))
    return folder


def test_hostile_weights_folders_are_one_sentence_in_evaluate_and_the_app(mnist_dir, tmp_path, capsys):
    from ui.models import load_models
    from vae_models import WeightsError

    weights = tmp_path / "weights"
    tiny_weights(weights / "mnist-ae", "ae")
    vae = tiny_weights(weights / "mnist-vae")
    tiny_weights(weights / "mnist-vae-beta1.2.3")  # a name that is no number: the beta is its training.json's
    tiny_weights(weights / "mnist-vae-beta9", beta=4.0)
    models = load_models(weights)
    assert sorted(e.beta or 0 for e in models.spectrum.values()) == [0, 1.0, 4.0]
    assert "VAE beta=4" in models.spectrum  # named by its training.json, not by its folder

    nested = "[" * 30000 + "]" * 30000
    (weights / "mnist-vae-beta9" / "training.json").write_text(nested)
    assert "VAE beta=4" not in load_models(weights).spectrum
    assert "nested too deeply" in capsys.readouterr().out  # left out, with a line for the operator
    for name, text, message in (("training.json", nested, "nested too deeply"),
                                ("perf_metrics.csv", "epoch,train_loss\n0,1\n", "has no test_loss column"),
                                ("perf_metrics.csv", ",".join(METRIC_COLUMNS) + "\nabc\n", "not a number")):
        good = (vae / name).read_text() if (vae / name).exists() else None
        (vae / name).write_text(text)
        with pytest.raises(WeightsError, match=message):
            load_models(weights)
        (vae / name).unlink() if good is None else (vae / name).write_text(good)

    (vae / "config.json").write_text(nested)
    with pytest.raises(SystemExit, match="config.json is nested too deeply"):
        main(["evaluate", str(vae), "--data_dir", str(mnist_dir), "--n_samples", "2", "--grid", "0"])
    with pytest.raises(WeightsError, match="config.json is nested too deeply"):
        load_models(weights)
    Autoencoder("vae", hidden_size=8).save_pretrained(vae)  # then int8 weights, which are no weights of ours
    save_file({k: v.to(torch.int8) for k, v in load_file(vae / "model.safetensors").items()}, vae / "model.safetensors")
    with pytest.raises(SystemExit, match="holds I8 values"):
        main(["evaluate", str(vae), "--data_dir", str(mnist_dir), "--n_samples", "2", "--grid", "0"])


@pytest.mark.parametrize("shape, grid", [((64, 1, 28, 28), dict(nrow=8, padding=2, pad_value=0.5)),
                                         ((16, 1, 28, 28), dict(nrow=20, padding=2, pad_value=0.5)),
                                         ((7, 3, 5, 4), dict(nrow=3, padding=8, pad_value=1.0)),
                                         ((1, 1, 28, 28), dict(nrow=8, padding=2, pad_value=0.5)),
                                         ((1, 28, 28), dict())])
def test_the_trainers_image_grids_are_torchvisions(tmp_path, shape, grid):
    torchvision_utils = pytest.importorskip("torchvision.utils")
    from train import figures

    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    images[..., 0, 0] = 0.5 / 255  # a value exactly between two bytes: rounded half up by both
    assert torch.equal(figures.make_grid(images, **grid), torchvision_utils.make_grid(images, **grid))
    figures.save_image(images, tmp_path / "ours.png", **grid)
    torchvision_utils.save_image(images, tmp_path / "theirs.png", **grid)
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "theirs.png").read_bytes()


@pytest.mark.parametrize("threaded", [True, False])
def test_the_writer_writes_in_order_and_raises_a_failed_write(tmp_path, threaded):
    from train.artifacts import BackgroundWriter

    def append(path, text):
        with open(path, "a") as f:
            f.write(text)

    def fail():
        raise OSError("disk full")

    writer = BackgroundWriter(threaded=threaded)
    for text in "abc":
        writer.submit(append, tmp_path / "log", text)
    writer.wait()
    assert (tmp_path / "log").read_text() == "abc"
    with pytest.raises(OSError, match="disk full"):
        writer.submit(fail)
        writer.close()  # a thread's failure raises here at the latest; without a thread, at the submit itself
