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

    folder = ROOT / "weights" / "mnist-ae" / "examples"
    examples = [preprocess_digit(Image.open(p)) for p in sorted(folder.glob("*.png"))]
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


def drawings(side=280):
    """20 RGBA drawings as the sketchpad makes them (black ink of the brush's widths on a transparent or white
    canvas): strokes of several widths and places, small and large, a dot, a scribble over the whole canvas."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    out = []
    for i in range(20):
        transparent = i % 2 == 0
        image = Image.new("RGBA", (side, side), (0, 0, 0, 0) if transparent else (255, 255, 255, 255))
        pen = ImageDraw.Draw(image)
        width = [6, 10, 14, 20, 28][i % 5]
        if i == 0:  # a dot
            pen.ellipse([130, 130, 144, 144], fill=(0, 0, 0, 255))
        elif i == 1:  # a scribble over the whole canvas
            points = [tuple(p) for p in rng.uniform(0, side, (30, 2))]
            pen.line(points, fill=(0, 0, 0, 255), width=width, joint="curve")
        else:  # a "digit" of 2 to 5 strokes, anywhere, from a quarter of the canvas to all of it
            size = rng.uniform(0.25, 0.95) * side
            x0, y0 = rng.uniform(0, side - size, 2)
            for _ in range(int(rng.integers(2, 6))):
                points = [(x0 + size * a, y0 + size * b) for a, b in rng.uniform(0, 1, (int(rng.integers(2, 6)), 2))]
                pen.line(points, fill=(0, 0, 0, 255), width=width, joint="curve")
        out.append(image)
    return out


@needs_node
def test_the_page_preprocesses_20_drawings_as_the_server_does(tmp_path):
    from ui.preprocess import preprocess_digit

    images = drawings()
    np.stack([np.asarray(im) for im in images]).astype(np.uint8).tofile(tmp_path / "drawings.rgba")
    run = node(STATIC / "tests" / "run_preprocess.mjs", tmp_path / "drawings.rgba", len(images), 280, 280)
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    for i, (image, x) in enumerate(zip(images, page)):
        server = preprocess_digit(image).ravel()
        assert isinstance(x, list), (i, x)
        agree = (np.array(x) == server).mean()
        assert agree >= 0.98, (i, agree)
        assert agree == 1.0, (i, agree)  # in fact every pixel, on these drawings: the same maths in the same order
        assert server.sum() > 20


@needs_node
def test_an_empty_canvas_is_one_sentence_in_the_page(tmp_path):
    empty = np.zeros((2, 280, 280, 4), np.uint8)
    empty[1, ..., :3] = 255  # white, opaque
    empty[1, ..., 3] = 255
    empty.tofile(tmp_path / "empty.rgba")
    run = node(STATIC / "tests" / "run_preprocess.mjs", tmp_path / "empty.rgba", 2, 280, 280)
    assert json.loads(run.stdout) == ["No digit found: the canvas is empty. Draw a digit."] * 2
