"""Where the project goes besides a checkout: a Hugging Face Space (space.py), an installed package (pyproject.toml),
a course's notebook (notebooks/tour.ipynb)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from space import space_files, space_requirements  # noqa: E402


def requirement_lines(name):
    return [line.strip() for line in (ROOT / name).read_text().splitlines() if line.strip() and line[0] != "#"]


def test_a_space_receives_the_app_its_code_and_weights_and_no_data_results_caches_or_tests():
    files = space_files(ROOT)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    needed = [f for f in tracked if re.match(r"(ui|vae_models|train)/[^/]+\.py$", f)]
    needed += ["app.py", "README.md", ".gitattributes", "docs/REPORT.md", "weights/mnist-subset.safetensors"]
    needed += [f"weights/{m}/{f}" for m in ("mnist-ae", "mnist-vae") for f in
               ("config.json", "model.safetensors", "test_latents.safetensors", "perf_metrics.csv")]
    assert not set(needed) - set(files)
    for f in files:
        assert not re.match(r"(data|results|tests|bench|notebooks|\.venv|\.git|\.gradio|\.pytest_cache)/", f), f
        assert "__pycache__" not in f and not f.endswith(".pyc") and "checkpoint" not in f, f
    assert "requirements.txt" not in files  # written by space_requirements instead
    assert sum((ROOT / f).stat().st_size for f in files) < 60e6


def test_data_sets_results_caches_and_checkpoints_inside_a_checkout_never_reach_a_space(tmp_path):
    wanted = ["app.py", "README.md", "ui/reconstruct.py", "vae_models/mlp.py", "train/loop.py",
              "weights/mnist-subset.safetensors", "weights/mnist-vae/config.json", "weights/mnist-vae/model.safetensors",
              "weights/mnist-vae/examples/digit_0.png", "weights/celeba-vae/model.safetensors", "docs/REPORT.md",
              "docs/figures/vae_manifold.png"]
    junk = ["data/MNIST/raw/train-images-idx3-ubyte", "data/celeba/img_align_celeba/000001.jpg",
            "data/celeba/vae_explorer_cache/train-3f2a.u8", "results/MNIST-VAE-ep=100/checkpoint.safetensors",
            "results/MNIST-VAE-ep=100/sample_3.png", "weights/mnist-vae/checkpoint.safetensors",
            "weights/mnist-vae/__pycache__/x.cpython-311.pyc", "ui/__pycache__/inputs.cpython-311.pyc", "ui/inputs.pyi",
            "weights/.cache/huggingface/download/x.lock", "tests/test_app.py", "bench/train_speed.py",
            "notebooks/tour.ipynb", ".venv/lib/python3.11/site-packages/torch/__init__.py", ".git/config",
            ".gradio/flagged/log.csv", "my-weights/mnist-vae/model.safetensors", "train/.ipynb_checkpoints/x.py",
            "docs/figures/.ipynb_checkpoints/vae_manifold-checkpoint.png", "secrets.env"]
    for f in wanted + junk:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"x")
    assert space_files(tmp_path) == sorted(wanted)


def test_the_spaces_requirements_are_the_apps_pins_with_torchs_cpu_build():
    text = space_requirements((ROOT / "requirements.txt").read_text())
    lines = [line for line in text.splitlines() if line and line[0] != "#"]
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    ours = requirement_lines("requirements.txt")
    torch_pin = next(r for r in ours if r.startswith("torch=="))
    assert lines[1:] == [r + "+cpu" if r == torch_pin else r for r in ours]
    with pytest.raises(ValueError):
        space_requirements("gradio==6.31.0\n")


def test_the_app_needs_no_trainer_or_test_package_and_the_package_has_the_same_pins():
    app_pins = requirement_lines("requirements.txt")
    only_elsewhere = ("torchvision", "scikit-learn", "pytest", "playwright", "nbclient")
    assert not [r for r in app_pins if r.split("==")[0] in only_elsewhere]
    train = requirement_lines("requirements-train.txt")
    assert train[0] == "-r requirements.txt"
    assert requirement_lines("requirements-dev.txt")[0] == "-r requirements-train.txt"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert project["project"]["optional-dependencies"]["train"] == train[1:]
    assert all(re.match(r"[\w.-]+==[\w.]+$", r) for r in app_pins + train[1:])  # pinned, as the README promises


@pytest.mark.slow
def test_the_app_imports_nothing_outside_its_requirements():
    code = ("import sys; import app; from ui import build_demo, load_models; build_demo(load_models('weights')); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = set(json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert {"gradio", "torch", "vae_models", "ui"} <= modules
    assert not modules & {"torchvision", "sklearn", "pytest", "playwright", "nbclient"}


@pytest.mark.slow
def test_pip_install_gives_the_models_the_trainer_and_the_app_from_any_folder(tmp_path):
    src, site, elsewhere = tmp_path / "src", tmp_path / "site", tmp_path / "elsewhere"
    # a copy: pip's in-tree build writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "data", "results", "weights", "docs",
                                                             "__pycache__", "*.egg-info", "build", ".gradio"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(src)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    assert {"vae_models", "train", "ui", "app.py"} <= {p.name for p in site.iterdir()}
    assert not (site / "tests").exists() and not (site / "bench").exists()
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import sys, vae_models, train.loop; from vae_models import Autoencoder, load_pretrained; "
            "m = load_pretrained(Autoencoder, sys.argv[1]); print(vae_models.__file__, m.is_vae, m.training)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "weights" / "mnist-vae")], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    path, is_vae, training = out.stdout.split()
    assert Path(path).is_relative_to(site) and is_vae == "True" and training == "False"
    # the console script: without weights it stops with one sentence naming the folder, no traceback
    script = site / "bin" / "vae-explorer"
    out = subprocess.run([sys.executable, str(script), "--weights", str(elsewhere / "none")], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("error: cannot start VAE Explorer:") and "none" in out.stderr


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_and_draws_every_figure(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed without outputs
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", iopub_timeout=60,
                                     raise_on_iopub_timeout=True,
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    nbformat.write(nb, tmp_path / "tour.ipynb")  # the executed notebook, to look at its pictures
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        images = sum("image/png" in o.get("data", {}) for o in cell.outputs)
        assert images == cell.source.count("plt.show()"), cell.source[:200]
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    log_px, elbo, gap = map(float, re.search(r"log p\(x\) = (\S+) .* ELBO = (\S+) .* = (\S+)", text).groups())
    assert elbo < log_px < 0 and gap == pytest.approx(log_px - elbo, abs=0.01)
    test_losses = [float(v) for v in re.findall(r"epoch \d: train \S+ +test (\S+) nats", text)]
    assert len(test_losses) == 5 and test_losses[-1] < test_losses[0]
