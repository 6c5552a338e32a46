"""The page's JavaScript (ui/static/): its own node tests, run from here so that the README's test command and CI
run them, and the page's model against PyTorch's on the same inputs (mu and logvar within 1e-4 relative, the
reconstruction within 1/255)."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from conftest import ROOT, digit_tensors
from ui.explorer import model_bytes
from vae_models import Autoencoder, ConditionalVAE, load_pretrained

STATIC = ROOT / "ui" / "static"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")


def node(*args, timeout=120):
    return subprocess.run([NODE, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@needs_node
def test_the_page_modules_pass_their_node_tests():
    run = node("--test", STATIC / "tests")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout


def inputs(n=20):
    """n 28x28 inputs in {0, 1}: the shipped example digits, generated strokes, a dot, an empty and a full page."""
    from PIL import Image
    from ui.preprocess import preprocess_digit

    examples = [preprocess_digit(Image.open(p)) for p in sorted((ROOT / "weights" / "mnist-ae" / "examples").glob("*.png"))]
    x = [torch.as_tensor(np.asarray(e)).float().view(784) for e in examples]
    strokes, _ = digit_tensors(n, 5)
    x += list(strokes)
    dot = torch.zeros(784)
    dot[14 * 28 + 14] = 1
    x += [dot, torch.zeros(784), torch.ones(784)]
    return torch.stack(x[:n - 3] + x[-3:]).float()


@needs_node
@pytest.mark.parametrize("name", ["mnist-ae", "mnist-vae", "mnist-cvae", "untrained-vae"])
def test_the_page_encodes_and_decodes_as_pytorch_does(name, tmp_path):
    if name == "untrained-vae":
        torch.manual_seed(0)
        model = Autoencoder("vae").eval()
    else:
        model = load_pretrained([Autoencoder, ConditionalVAE], ROOT / "weights" / name)
    kind = "cvae" if model.n_classes else model.kind
    (tmp_path / "model.safetensors").write_bytes(model_bytes(model))
    x = inputs()
    y = torch.arange(len(x)) % 10
    x.numpy().astype("<f4").tofile(tmp_path / "x.bin")
    y.numpy().astype("<i4").tofile(tmp_path / "y.bin")
    run = node(STATIC / "tests" / "run_model.mjs", tmp_path / "model.safetensors", kind, model.n_classes,
               tmp_path / "x.bin", tmp_path / "y.bin")
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    with torch.inference_mode():
        mu, logvar = model.encode(x, y) if model.n_classes else model.encode(x)
        recon = model.decode(mu, y) if model.n_classes else model.decode(mu)
    close = dict(rtol=1e-4, atol=1e-6)
    assert np.allclose(page["mu"], mu.numpy(), **close), np.abs(np.array(page["mu"]) - mu.numpy()).max()
    if logvar is None:
        assert page["logvar"] == [None] * len(x)
    else:
        assert np.allclose(page["logvar"], logvar.numpy(), **close)
    assert np.abs(np.array(page["recon"]) - recon.view(len(x), 784).numpy()).max() < 1 / 255
