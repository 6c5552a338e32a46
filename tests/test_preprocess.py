"""MNIST-style preprocessing, on real MNIST test digits (the examples shipped beside the weights).

Measure: the IoU of the binarised ink of two 28x28 inputs, taking the best over shifts of at most one pixel (centring
by the centre of mass rounds to whole pixels, as MNIST itself did, so a one-pixel offset is the same digit).
Thresholds: at least 0.6 for every digit and transform, at least 0.85 on average for the resampled ones; exact
agreement (1.0) where the transform loses nothing (shift, inversion, alpha, palette, 16 bit).
"""
import numpy as np
import pytest
from PIL import Image

from ui.preprocess import InputError, face_input, open_image, preprocess_digit, to_ink
from conftest import ROOT

DIGITS = [Image.open(p).convert("L") for p in sorted((ROOT / "weights" / "mnist-ae" / "examples").glob("digit_*.png"))]


def iou(a, b):
    best = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            s = np.roll(np.roll(b, dy, 0), dx, 1)
            best = max(best, float((a * s).sum() / np.maximum(a, s).sum()))
    return best


def lossless_variants(digit):
    a = np.asarray(digit)
    canvas = np.zeros((60, 70), np.uint8)
    canvas[5:33, 38:66] = a  # off-centre on a larger canvas
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = a  # black ink whose alpha channel is the digit, on a transparent background
    return {"shifted": canvas, "inverted": Image.fromarray(255 - a), "alpha": rgba, "palette": digit.convert("P"),
            "16 bit": Image.fromarray(a.astype(np.uint16) * 257), "rgb": digit.convert("RGB")}


def test_a_canonical_mnist_digit_is_unchanged_up_to_binarisation():
    assert len(DIGITS) == 10
    for digit in DIGITS:
        assert np.array_equal(preprocess_digit(digit), np.round(np.asarray(digit) / 255))


@pytest.mark.parametrize("variant", ["shifted", "inverted", "alpha", "palette", "16 bit", "rgb"])
def test_lossless_transforms_come_back_exactly(variant):
    for digit in DIGITS:
        assert iou(preprocess_digit(lossless_variants(digit)[variant]), preprocess_digit(digit)) == 1.0


def test_scaled_up_digits_come_back_close_to_the_centred_original():
    scores = []
    for digit in DIGITS:
        base = preprocess_digit(digit)
        for k in (2, 4, 10):
            for f in (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS):
                scores.append(iou(preprocess_digit(digit.resize((28 * k, 28 * k), f)), base))
    assert min(scores) >= 0.6 and np.mean(scores) >= 0.85, (min(scores), np.mean(scores))


def test_the_output_is_a_centred_binary_28x28_with_a_20_pixel_box():
    x = preprocess_digit(Image.fromarray(np.pad(np.full((50, 10), 255, np.uint8), 40)))
    assert x.shape == (28, 28) and set(np.unique(x)) <= {0.0, 1.0}
    rows, cols = np.nonzero(x)
    assert rows.max() - rows.min() + 1 == 20 and 3 <= cols.max() - cols.min() + 1 <= 5
    assert abs(rows.mean() - 14) <= 1 and abs(cols.mean() - 14) <= 1


def test_black_on_white_and_white_on_black_give_the_same_ink():
    a = np.asarray(DIGITS[3], dtype=np.float64) / 255
    assert np.allclose(to_ink(DIGITS[3]), a) and np.allclose(to_ink(Image.fromarray(255 - np.asarray(DIGITS[3]))), a)


def test_bad_images_raise_one_clear_sentence(tmp_path):
    with pytest.raises(InputError, match="empty"):
        preprocess_digit(np.full((280, 280, 4), 255, np.uint8))  # a blank canvas, drawn on white
    with pytest.raises(InputError, match="1x1 pixels, too small"):
        preprocess_digit(Image.new("L", (1, 1)))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        open_image(tmp_path / "notes.png")
    Image.new("L", (3000, 2000)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match="3000x2000 pixels; please upload one of at most 5 megapixels"):
        open_image(tmp_path / "big.png", max_pixels=5_000_000)
    assert max(open_image(tmp_path / "big.png").size) == 1024  # reduced before any work
    data = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="damaged or truncated"):
        open_image(tmp_path / "cut.png")


def test_a_face_is_cropped_as_the_trainer_crops_celeba():
    image = Image.new("RGB", (178, 218), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 178, 12))  # a blue band at the top, outside the central square
    face = face_input(image)
    assert face.shape == (3, 64, 64) and face.dtype == np.float32
    assert np.allclose(face[:, 32, 32], [1, 0, 0]) and face[2].max() < 0.05


def test_a_face_photo_of_any_size_is_cropped_to_the_same_share_of_the_frame():
    """A 1024x1024 photo is not cut to its central 148 pixels: the crop is the same fraction as CelebA's."""
    def framed(side):
        image = Image.new("RGB", (side, side), (0, 0, 0))
        margin = round(side * 0.2)
        image.paste((255, 255, 255), (margin, margin, side - margin, side - margin))
        return face_input(image)[0]

    small, large = framed(178), framed(1024)
    assert np.abs(small - large).mean() < 0.05 and large[0, 0] < 0.1  # the dark frame is still in the picture
