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
    from ui.preprocess import InputError, preprocess_digit

    images = drawings()
    np.stack([np.asarray(im) for im in images]).astype(np.uint8).tofile(tmp_path / "drawings.rgba")
    run = node(STATIC / "tests" / "run_preprocess.mjs", tmp_path / "drawings.rgba", len(images), 280, 280)
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    with pytest.raises(InputError, match="too small to be a digit") as dot:  # drawing 0, a dot: refused by both
        preprocess_digit(images[0])
    assert page[0] == str(dot.value) == ("That mark is too small to be a digit: it spans 15 of the picture's 280 "
                                         "pixels; draw the digit larger, or crop the image closer to it.")
    for i, (image, x) in enumerate(zip(images, page)):
        if i == 0:
            continue
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


@needs_node
def test_a_mark_too_small_to_be_a_digit_is_the_same_sentence_in_the_page_and_on_the_server(tmp_path):
    """A bar 34 px long on the 280-px canvas is under 1/8 of it: refused by both, in the same words; 35 px is read."""
    from PIL import Image, ImageDraw
    from ui.preprocess import InputError, preprocess_digit

    images = []
    for length in (34, 35):
        image = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
        ImageDraw.Draw(image).rectangle([120, 140, 120 + length - 1, 145], fill=(0, 0, 0, 255))
        images.append(image)
    np.stack([np.asarray(im) for im in images]).astype(np.uint8).tofile(tmp_path / "bars.rgba")
    run = node(STATIC / "tests" / "run_preprocess.mjs", tmp_path / "bars.rgba", 2, 280, 280)
    short, long_ = json.loads(run.stdout)
    with pytest.raises(InputError) as refused:
        preprocess_digit(images[0])
    assert short == str(refused.value) and "spans 34 of the picture's 280 pixels" in short
    assert long_ == preprocess_digit(images[1]).ravel().tolist()


def page_trainer(*args, timeout=300):
    """ui/static/tests/run_trainer.mjs with args -> its JSON (the last line: TensorFlow.js prints a banner first)."""
    run = node(STATIC / "tests" / "run_trainer.mjs", *args, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@needs_node
@pytest.mark.parametrize("kind, beta", [("vae", 1.0), ("vae", 0.5), ("ae", 1.0)])
def test_the_page_trains_as_pytorch_does(kind, beta, tmp_path):
    """The same initial weights, batch and noise: the page's loss (TensorFlow.js, CPU backend) is PyTorch's within
    1e-4 relative at every one of 5 Adam steps, and the weights after them agree within 1e-4."""
    from safetensors.torch import load_file
    from vae_models.elbo import loss_function

    torch.manual_seed(3)
    model = Autoencoder(kind)
    (tmp_path / "start.safetensors").write_bytes(model_bytes(model))
    x = inputs(20).repeat(2, 1)[:32]  # a batch of 32: the digits above, with generated strokes and the extremes
    steps = 5
    eps = torch.randn(steps, len(x), 2)
    x.numpy().astype("<f4").tofile(tmp_path / "x.bin")
    eps.numpy().astype("<f4").tofile(tmp_path / "eps.bin")
    page = page_trainer(tmp_path / "start.safetensors", kind, beta, tmp_path / "x.bin", tmp_path / "eps.bin", steps,
                        tmp_path / "end.safetensors")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(steps):
        mu, logvar = model.encode(x)
        z = mu if logvar is None else mu + torch.exp(0.5 * logvar) * eps[step]
        losses = loss_function(model.decode_logits(z).unsqueeze(0), x, mu, logvar, beta)
        optimizer.zero_grad()
        (losses.loss / len(x)).backward()
        optimizer.step()
        for name in ("loss", "bce", "kld"):
            torch_value, page_value = getattr(losses, name).item(), page["losses"][step][name]
            assert abs(page_value - torch_value) <= 1e-4 * abs(torch_value) + 1e-6, (step, name, page_value, torch_value)
    ends = load_file(tmp_path / "end.safetensors")
    state = model.state_dict()
    assert set(ends) == set(state)
    for name, value in state.items():
        assert ends[name].shape == value.shape
        assert (ends[name] - value).abs().max().item() < 1e-4, name


@needs_node
@pytest.mark.slow
def test_one_epoch_in_the_page_over_2000_digits_lowers_the_test_loss_by_40_nats():
    page = page_trainer("epoch", ROOT / "weights" / "mnist-subset.safetensors", 2000, 0, timeout=900)
    assert page["before"]["loss"] - page["after"]["loss"] >= 40, page


@needs_node
def test_a_model_trained_in_the_page_loads_with_load_pretrained(tmp_path):
    """What the Train tab's "download" gives (config.json + model.safetensors) is read by the real loader, and it
    computes what the page's weights compute."""
    torch.manual_seed(4)
    model = Autoencoder("vae")
    (tmp_path / "start.safetensors").write_bytes(model_bytes(model))
    x = inputs(20)
    x.numpy().astype("<f4").tofile(tmp_path / "x.bin")
    torch.randn(2, len(x), 2).numpy().astype("<f4").tofile(tmp_path / "eps.bin")
    page_trainer(tmp_path / "start.safetensors", "vae", 1, tmp_path / "x.bin", tmp_path / "eps.bin", 2,
                 tmp_path / "end.safetensors")
    folder = tmp_path / "yours"
    folder.mkdir()
    (tmp_path / "end.safetensors").rename(folder / "model.safetensors")
    config = node("--input-type=module", "-e", "import {Trainer} from './ui/static/trainer.js'; "
                  "console.log(JSON.stringify(Trainer.prototype.config.call({kind: 'vae'})))")
    assert config.returncode == 0, config.stderr
    (folder / "config.json").write_text(config.stdout)
    loaded = load_pretrained([Autoencoder, ConditionalVAE], folder)
    assert isinstance(loaded, Autoencoder) and loaded.kind == "vae"
    assert not torch.equal(loaded.fc1.weight, model.fc1.weight)  # two Adam steps moved it


def test_the_vendored_libraries_match_their_checksums():
    """Every file of a vendored library is the one its SHA256SUMS names, and nothing else is in its folder."""
    import hashlib

    folders = [p.parent for p in (STATIC / "vendor").glob("*/SHA256SUMS")]
    assert folders, "no vendored library"
    for folder in folders:
        sums = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
        assert {p.name for p in folder.iterdir()} == set(sums) | {"SHA256SUMS"}, folder
        for name, digest in sums.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, folder / name
