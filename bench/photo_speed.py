"""Photos of digits on paper through the app's preprocessing: how well, and how fast.

    python bench/photo_speed.py [--runs 7]

First the per-degradation IoU table of tests/test_photos.py (the same photo-like renderings of real MNIST digits,
the input the models get against the clean digit's). Then a 12-megapixel phone photo and a clean 280x280 drawing
through the same two calls the app makes (open_image, then preprocess_with_path): the median of `runs` runs of each
and their ratio.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ui.preprocess import open_image, preprocess_with_path  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from test_photos import photo_scores

    scores = photo_scores()
    for kind, values in scores.items():
        print(f"IoU {kind:20s} mean {np.mean(values):.3f}  min {np.min(values):.3f}")
    every = [v for values in scores.values() for v in values]
    print(f"IoU {'all':20s} mean {np.mean(every):.3f}  min {np.min(every):.3f}")
    digit = Image.open(ROOT / "weights" / "mnist-vae" / "examples" / "digit_3.png").convert("L")
    ink = np.asarray(digit.resize((1400, 1400), Image.Resampling.BICUBIC), np.float64)[..., None] / 255
    page = np.tile(np.array([232.0, 226, 214]), (3000, 4000, 1)) * np.linspace(0.7, 1.0, 4000)[None, :, None]
    page += np.random.default_rng(0).normal(0, 6, (3000, 4000))[..., None]
    page[800:2200, 1300:2700] = page[800:2200, 1300:2700] * (1 - ink) + 30 * ink
    with tempfile.TemporaryDirectory() as tmp:
        photo, drawing = Path(tmp) / "photo.jpg", Path(tmp) / "drawing.png"
        Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).save(photo, quality=85)
        Image.fromarray(255 - np.asarray(digit.resize((280, 280)))).save(drawing)
        times = {}
        for name, path in (("12 MP phone photo (JPEG)", photo), ("280x280 drawing (PNG)", drawing)):
            runs = []
            for _ in range(args.runs):
                t = time.perf_counter()
                _, kind = preprocess_with_path(open_image(path))
                runs.append(time.perf_counter() - t)
            times[name] = statistics.median(runs)
            print(f"{name:26s} median {times[name] * 1000:7.1f} ms over {args.runs} runs ({kind} path)")
        a, b = times.values()
        print(f"ratio: {a / b:.1f}x")


if __name__ == "__main__":
    main()
