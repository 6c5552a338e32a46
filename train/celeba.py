"""CelebA faces for the convolutional VAE: the files as torchvision lays them out, or a plain folder of faces.

Each image is decoded, cropped to its central square of 148/178 of the shorter side (148x148 for CelebA's 178x218,
a common CelebA-64 choice; see vae_models.conv.crop_face) and resized to 64x64 once, into a uint8 cache
(N, 3, 64, 64) saved beside the data as .npy and memory-mapped afterwards: no epoch after the first touches a JPEG,
and 50,000 faces (615 MB) fit in the memory of any GPU.
"""
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from PIL import Image
from tqdm import tqdm

from vae_models.conv import CROP_FRACTION, crop_face

from .mnist import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
LAYOUT_HELP = ("expected CelebA as torchvision lays it out (celeba/img_align_celeba/*.jpg with "
               "celeba/list_eval_partition.txt) or a folder of face images")


class FaceFiles(Dataset):
    """Image files -> uint8 (3, size, size), cropped by crop_face: the same crop the app applies to a visitor's face."""

    def __init__(self, paths, size=64):
        self.paths, self.size = list(paths), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as f:
            return torch.from_numpy(crop_face(f, self.size))


def find_splits(data_dir, holdout=0.1, seed=0):
    """-> (train paths, test paths, the folder that holds them). CelebA's official split when its partition file is
    there (0 train, 2 test), else a seeded random `holdout` share of a plain folder as the test set."""
    data_dir = Path(data_dir)
    for root in (data_dir, data_dir / "celeba"):
        partition, images = root / "list_eval_partition.txt", root / "img_align_celeba"
        if partition.exists() or images.is_dir():
            break
    else:
        root = None
    if root is not None:
        if not partition.exists():
            raise DataError(f"{images} is there but {partition} is missing; {LAYOUT_HELP}.")
        if not images.is_dir():
            raise DataError(f"{partition} is there but the image folder {images} is missing; {LAYOUT_HELP}.")
        split = {"train": [], "test": []}
        for line in partition.read_text().split("\n"):
            if line.strip():
                name, part = line.split()
                if part in ("0", "2"):
                    split["train" if part == "0" else "test"].append(images / name)
        missing = [p.name for p in split["train"] + split["test"] if not p.exists()]
        if missing:
            raise DataError(f"{len(missing)} images named in {partition} are missing from {images} "
                            f"(first: {', '.join(missing[:3])}).")
        if not split["train"] or not split["test"]:
            raise DataError(f"{partition} names no training (0) or no test (2) images.")
        return split["train"], split["test"], root
    if not data_dir.is_dir():
        raise DataError(f"No CelebA at {data_dir}: {LAYOUT_HELP}.")
    files = sorted(p for p in data_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise DataError(f"{data_dir} holds {len(files)} images; {LAYOUT_HELP}.")
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = max(1, round(holdout * len(files)))
    return [files[i] for i in order[n_test:]], [files[i] for i in order[:n_test]], data_dir


def subset_indices(n, subset, seed):
    """The seeded random choice of `subset` of n training images (all of them when subset is 0 or >= n)."""
    if not subset or subset >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:subset].tolist())


def build_cache(dataset, path, num_workers=0, quiet=False):
    """Decode every image of `dataset` once into a uint8 .npy at `path` (written under a temporary name, renamed
    when complete), and return it memory-mapped as a tensor."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".partial.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(dataset), 3, 64, 64))
        loader = DataLoader(dataset, batch_size=256, num_workers=num_workers)
        i = 0
        for batch in tqdm(loader, desc=f"caching {path.name}", disable=quiet, unit="batch"):
            out[i:i + len(batch)] = batch.numpy()
            i += len(batch)
        out.flush()
        del out
        os.replace(tmp, path)
    # copy-on-write: a writable view for torch, and the file on disk is never changed
    return torch.from_numpy(np.load(path, mmap_mode="c"))


def cache_name(split, files, size=64):
    """A cache file's name carries everything its content depends on: the exact files in their order (so the
    split, the seed of a plain folder's held-out part and the subset), the crop and the size."""
    key = hashlib.sha256("\n".join([f"crop={CROP_FRACTION!r} size={size}", *map(str, files)]).encode()).hexdigest()
    return f"{split}-{len(files)}-{size}px-{key[:16]}.npy"


def load_celeba(data_dir, subset=50_000, seed=8675309, num_workers=0, quiet=False):
    """-> train (N, 3, 64, 64) uint8 (a seeded subset of the training split), test (M, 3, 64, 64) uint8."""
    train_files, test_files, root = find_splits(data_dir, seed=seed)
    train_files = [train_files[i] for i in subset_indices(len(train_files), subset, seed)]
    cache = root / "vae_explorer_cache"
    names = {split: [p.relative_to(root) for p in files] for split, files in (("train", train_files),
                                                                               ("test", test_files))}
    train = build_cache(FaceFiles(train_files), cache / cache_name("train", names["train"]), num_workers, quiet)
    test = build_cache(FaceFiles(test_files), cache / cache_name("test", names["test"]), num_workers, quiet)
    return train, test
