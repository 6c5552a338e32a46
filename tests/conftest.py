import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Debian's chromium, as every browser test launches it: headless as root, and without the background connections
# that this machine's closed network refuses
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-quic"]
sys.path.insert(0, str(ROOT))
# torch, numpy and the project are imported where they are used: the quick run's controller process (pytest-xdist)
# loads this module and runs no test, and importing torch took it 1.2 s before the workers could start

OWN_TMP = None  # the run's temporary folder (pytest_configure)


def pytest_configure(config):
    """The run's own temporary folder, removed when it ends, set before the test modules import gradio:
    gradio_client leaves a <40 hex> folder for every file it downloads, gradio its cache, pytest its tmp_path
    folders, chromium its profiles; all of them go here (TMPDIR for this process and its subprocesses), none to the
    system's. And gradio's cache is the session's own: in the shared /tmp/gradio another app's cache cleaner
    (delete_cache) may delete the files this session's app is serving. (In a hook, not at import: a benchmark that
    imports this module's helpers keeps its own temporary folder.)"""
    global OWN_TMP
    OWN_TMP = tempfile.mkdtemp(prefix="vae-explorer-tests-")
    os.environ["TMPDIR"] = tempfile.tempdir = OWN_TMP
    os.environ["GRADIO_TEMP_DIR"] = os.path.join(OWN_TMP, "gradio")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # one of the quick run's two workers (pytest.ini's -n 2): one torch thread each, here and in the trainer
        # processes it starts, so that the two workers share the cores instead of handing work across them
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


def pytest_unconfigure(config):
    if OWN_TMP:
        shutil.rmtree(OWN_TMP, ignore_errors=True)


def fake_digits(n, seed):
    """n 28x28 uint8 images of class-dependent strokes (a bar whose angle and place depend on the label), with
    labels 0-9: small data with real structure for the models to learn, generated, never downloaded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    yy, xx = np.mgrid[0:28, 0:28]
    for i, k in enumerate(labels):
        angle = np.pi * k / 10 + rng.normal(0, 0.05)
        cx, cy = 14 + rng.normal(0, 1), 14 + rng.normal(0, 1)
        d = np.abs((xx - cx) * np.sin(angle) - (yy - cy) * np.cos(angle))
        along = np.abs((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle))
        images[i] = np.clip(255 * (1.6 - d) / 1.6, 0, 255) * (along < 8)
    return images, labels


def write_mnist(root, n_train=320, n_test=96):
    from train.mnist import FILES, write_idx

    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(raw / FILES[split][0], images)
        write_idx(raw / FILES[split][1], labels)
    return Path(root)


def digit_tensors(n, seed):
    """fake_digits as the models take them: x (n, 784) in {0, 1} float, labels (n,) long."""
    import torch

    images, labels = fake_digits(n, seed)
    return torch.from_numpy(images).float().div(255).round().view(-1, 784), torch.from_numpy(labels).long()


def train_tiny(make_model, x, y=None, steps=100, batch_size=128, lr=1e-2):
    """make_model() trained for 100 Adam steps on minibatches of (x, y), the same model whichever tests run: its
    q(z|x) informative (posterior widths 0.1 to 0.5) and inside the prior's [-3, 3]^2, so that quadrature on a grid
    over [-6, 6]^2 with cells of 0.2 is within 0.01 nats of a finer one and seldom has to be widened."""
    import torch

    from vae_models import loss_function

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 128 x 784 x 32 products: a second thread costs more in hand-offs than it saves
    try:
        with torch.random.fork_rng():  # leave the global seed of the other tests alone
            torch.manual_seed(0)
            model = make_model()
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            for _ in range(steps):
                i = torch.randint(0, len(x), (batch_size,))
                logits, mu, logvar = model(x[i], 1, y[i]) if y is not None else model(x[i])
                loss = loss_function(logits, x[i], mu, logvar)[0]
                optimizer.zero_grad()
                (loss / batch_size).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@pytest.fixture(scope="session")
def trained_vae():
    """A VAE with a 32-unit hidden layer trained on 512 generated digits -> (model, its 512 training images)."""
    from vae_models import Autoencoder

    x, _ = digit_tensors(512, 3)
    return train_tiny(lambda: Autoencoder("vae", hidden_size=32), x), x


@pytest.fixture(scope="session")
def trained_cvae():
    """The same for a conditional VAE -> (model, images, labels)."""
    from vae_models import ConditionalVAE

    x, y = digit_tensors(512, 3)
    return train_tiny(lambda: ConditionalVAE(hidden_size=32), x, y), x, y


@pytest.fixture
def mnist_dir(tmp_path):
    return write_mnist(tmp_path / "data")


@pytest.fixture(scope="session")
def shipped_models():
    from ui import load_models

    return load_models(ROOT / "weights")


@pytest.fixture(scope="session")
def served_app(shipped_models):
    """The real app, built from the shipped weights and launched in this process on a free local port;
    -> (models, url)."""
    from ui import build_demo, launch

    demo = build_demo(shipped_models)
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield shipped_models, url
    demo.close()


@pytest.fixture(scope="session")
def untrained_app():
    """The app built from ui.untrained_models (small, untrained: what the shipped weights do not matter for), with the
    shipped example digits, launched in this process on a free local port; -> (demo, url)."""
    from ui import build_demo, launch, untrained_models

    models = untrained_models()
    models.examples = sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))  # the load event
    demo = build_demo(models)
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo, url
    demo.close()
