import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.mnist import FILES, write_idx  # noqa: E402


def fake_digits(n, seed):
    """n 28x28 uint8 images of class-dependent strokes (a bar whose angle and place depend on the label), with
    labels 0-9: small data with real structure for the models to learn, generated, never downloaded."""
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
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(raw / FILES[split][0], images)
        write_idx(raw / FILES[split][1], labels)
    return Path(root)


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
