"""Which inputs the VAE's log p(x) floor calls "not a digit": MNIST's example digits, and generated inputs that are
not digits (noise, blank pages, photos of nothing, shapes), each through the app's own preprocessing.

    python bench/not_a_digit.py

The floor is weights/mnist-vae/log_px.json (`python -m train.likelihood`: the test set's 0.1% quantile). Prints one
line per input: how it was read (clean or photo, or refused with the app's sentence), its log p(x) and its side of
the floor, then the counts.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ui import load_models  # noqa: E402
from ui.preprocess import InputError, open_image, preprocess_with_path  # noqa: E402
from ui.reconstruct import digit_report  # noqa: E402


def generated(rng):
    """name -> uint8 picture (H, W) or (H, W, 3): inputs that are not digits."""
    yy, xx = np.mgrid[0:400, 0:300]
    paper = 200 + 30 * (xx / 300) + 15 * (yy / 400)  # a page under uneven light
    out = {}
    for k in range(3):
        out[f"uniform colour noise {k}"] = rng.integers(0, 256, (280, 280, 3), dtype=np.uint8)
        out[f"gaussian grey noise {k}"] = rng.normal(128, 60, (300, 300)).clip(0, 255).astype(np.uint8)
        out[f"binary noise 28x28 {k}"] = (rng.random((28, 28)) < 0.5).astype(np.uint8) * 255
        out[f"photo of a blank page {k}"] = (paper + rng.normal(0, 6 + 3 * k, paper.shape)).clip(0, 255).astype(np.uint8)
    out["blank white"] = np.full((200, 200), 255, np.uint8)
    out["blank black"] = np.zeros((200, 200), np.uint8)
    out["blank grey"] = np.full((200, 200), 128, np.uint8)
    square = np.full((200, 200), 255, np.uint8)
    square[40:160, 40:160] = 0
    out["a filled black square"] = square
    stripes = np.full((200, 200), 255, np.uint8)
    stripes[::20] = 0
    stripes[1::20] = 0
    out["horizontal lines (ruled paper)"] = stripes
    checker = ((np.indices((200, 200)) // 25).sum(0) % 2 * 255).astype(np.uint8)
    out["a chequerboard"] = checker
    blurred = Image.fromarray(rng.integers(0, 256, (300, 300), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(6))
    out["blurred noise (a photo of texture)"] = np.asarray(blurred)
    return out


def main():
    models = load_models(ROOT / "weights")
    vae = models.explorers["VAE"]
    floor = vae.log_px_floor
    rng = np.random.default_rng(0)
    inputs = {f"MNIST example {p.stem}": np.asarray(Image.open(p)) for p in models.examples}
    inputs.update(generated(rng))
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, picture in inputs.items():
            path = Path(tmp) / "input.png"
            Image.fromarray(picture).save(path)
            group = "MNIST examples" if name.startswith("MNIST") else "not digits"
            try:
                x, how = preprocess_with_path(open_image(str(path)))
            except InputError as e:
                print(f"{name:40s} refused: {e}")
                counts[group, "refused"] = counts.get((group, "refused"), 0) + 1
                continue
            log_px = digit_report(models.explorers, x)["VAE"]["log_px"]
            side = "below" if log_px < floor else "above"
            counts[group, side] = counts.get((group, side), 0) + 1
            print(f"{name:40s} read as {how:5s}  log p(x) = {log_px:8.1f}  {side} the floor")
    print(f"\nfloor {floor:.1f} nats")
    for group in ("MNIST examples", "not digits"):
        print(f"{group}: " + ", ".join(f"{counts.get((group, s), 0)} {s}" for s in ("above", "below", "refused")))


if __name__ == "__main__":
    main()
