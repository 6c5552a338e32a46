"""Write a CelebA-layout folder of synthetic faces, to time `python -m train celeba` where CelebA cannot be had.

    python bench/fake_celeba.py DIR [--train 50000] [--test 19962] [--workers 8]

DIR/celeba/img_align_celeba/*.jpg (178x218, CelebA's size: a skin-coloured ellipse with two dark eyes on a random
background) and DIR/celeba/list_eval_partition.txt (--train images in split 0, --test in split 2, CelebA's test size
by default). The tests use the same faces (fake_faces).
"""
import argparse
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image


def fake_faces(folder, n, seed=0, size=(178, 218), start=0):
    """n JPEGs named as CelebA names its files (from number start + 1), drawn with a seeded generator; -> the names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    names = []
    for i in range(start, start + n):
        image = np.empty((size[1], size[0], 3), np.uint8)
        image[:] = rng.integers(0, 255, 3)
        cx, cy = size[0] / 2 + rng.normal(0, 4), size[1] / 2 + rng.normal(0, 4)
        face = ((xx - cx) / 45) ** 2 + ((yy - cy) / 60) ** 2 < 1
        image[face] = (224, 172, 140) + rng.integers(-20, 20, 3)
        for ex in (cx - 18, cx + 18):
            image[((xx - ex) / 6) ** 2 + ((yy - cy + 12) / 4) ** 2 < 1] = (40, 30, 30)
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(image).save(folder / name, quality=90)
        names.append(name)
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--train", type=int, default=50_000)
    p.add_argument("--test", type=int, default=19_962)
    p.add_argument("--workers", type=int, default=8)
    args = p.parse_args()
    root = Path(args.dir) / "celeba"
    total, chunk = args.train + args.test, 1000
    starts = list(range(0, total, chunk))
    with ProcessPoolExecutor(args.workers) as pool:
        parts = pool.map(partial(_chunk, root / "img_align_celeba", total, chunk), starts)
        names = [name for part in parts for name in part]
    splits = ["0"] * args.train + ["2"] * args.test
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {s}\n" for n, s in zip(names, splits)))
    print(f"{total} synthetic faces in {root} ({args.train} training, {args.test} test)")


def _chunk(folder, total, chunk, start):
    return fake_faces(folder, min(chunk, total - start), seed=start, start=start)


if __name__ == "__main__":
    main()
