"""Turning a user's image into what the models were trained on.

MNIST digits are white ink on black, cropped to the ink, scaled so the longer side is 20 px, and centred in 28x28 by
the centre of mass (LeCun et al., the MNIST page); our models then see them binarised by rounding. A drawing or a
photo of a digit has to go through the same steps, or the models see something they never learned.
"""
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vae_models.conv import crop_face

# One bound for every image input, checked on the header before any pixel is decoded: a 97 KB PNG can hold
# 100 megapixels, and decoding it costs 400 MB. JPEGs are measured at the size their decoder is asked for (draft).
MAX_PIXELS = 16_000_000  # decoded pixels; PIL holds at most 4 bytes a pixel, so at most 64 MB an image
MAX_HEADER_PIXELS = 64_000_000  # a JPEG's full size before draft: its decoder still reads every coefficient
WORK_SIDE = 1024  # reduce anything larger before the real work
MIN_SIDE = 8
MAX_ASPECT = 32  # a 40000x8 strip is no digit, and would shrink to nothing


class InputError(ValueError):
    """Something wrong with the user's image; the message is one sentence meant for them."""


class NoDigit(InputError):
    """The image holds no ink at all (a blank canvas, an empty page)."""


def _too_large(w, h, limit):
    return InputError(f"The image is {w}x{h} pixels; please upload one of at most {limit // 1_000_000} megapixels.")


def open_image(path, max_pixels=MAX_PIXELS):
    """Open an image file as a PIL image, reduced to at most WORK_SIDE on a side, or raise InputError.

    The size is checked before decoding, so memory per call stays bounded (MAX_PIXELS, at most 64 MB decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)  # reads the header only
    except Image.DecompressionBombError as e:  # PIL's own limit (179 megapixels) fired first: say so, with the size
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)) / 1e6:,.0f} megapixels" if found else "too many pixels"
        raise InputError(f"The image has {size}; please upload one of at most {max_pixels // 1_000_000} "
                         "megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError("That file is not an image I can read; upload a PNG, JPEG, GIF, BMP or WebP.") from None
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small; use at least {MIN_SIDE}x{MIN_SIDE}.")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError(f"The image is {w}x{h} pixels, too long and thin to hold a digit.")
    if image.format == "JPEG" and w * h <= MAX_HEADER_PIXELS:
        image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # the decoder downscales by 2, 4 or 8 as it decodes
    if image.size[0] * image.size[1] > max_pixels:
        raise _too_large(w, h, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)  # phones store the photo sideways and say so in EXIF
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InputError("The image file is damaged or truncated; it could not be decoded.") from None
    if max(image.size) > WORK_SIDE:
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return image


def to_ink(image):
    """Any PIL image or array -> float (H, W) in [0, 1] where 1 is ink, 0 the background.

    Transparent images: the alpha channel is the ink. Otherwise the luminance, inverted when the background (the
    median of the border) is light, so black-on-white and white-on-black digits come out the same.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        grey = np.asarray(image, dtype=np.float64)
        grey = grey / (65535.0 if grey.max() > 255 else 255.0)
    else:
        if image.mode in ("LA", "PA", "RGBA"):
            alpha = np.asarray(image.getchannel("A"), dtype=np.float64) / 255
            if alpha.min() < 0.99:
                return alpha
            image = image.convert("RGB")
        grey = np.asarray(image.convert("L"), dtype=np.float64) / 255
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if np.median(border) > 0.5 else grey


def center_digit(ink, threshold=0.2):
    """float ink (H, W) -> (28, 28) float in [0, 1], MNIST-style: crop, longer side to 20, centre of mass at the middle.

    Raises InputError when there is no ink to speak of."""
    h, w = ink.shape
    if min(h, w) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small; use at least {MIN_SIDE}x{MIN_SIDE}.")
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    background = np.median(border)
    contrast = ink.max() - background
    if contrast < 0.1:
        raise NoDigit("No digit found: the image (or canvas) is empty. Draw or upload a digit.")
    ink = np.clip((ink - background) / contrast, 0, 1)  # stretch: faint pencil and grey paper become clean ink
    rows, cols = np.nonzero(ink > threshold)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    ch, cw = crop.shape
    scale = 20.0 / max(ch, cw)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    patch = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
    patch = np.clip(patch, 0, 1)
    total = patch.sum()
    yy, xx = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    cy, cx = (yy * patch).sum() / total, (xx * patch).sum() / total
    top = int(np.clip(round(14 - cy), 0, 28 - patch.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - patch.shape[1]))
    out = np.zeros((28, 28), np.float32)
    out[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
    return out


def preprocess_digit(image):
    """PIL image or array -> (28, 28) float32 of 0s and 1s, the exact input the models get (binarised like MNIST)."""
    return np.round(center_digit(to_ink(image))).astype(np.float32)


def face_input(image, size=64):
    """PIL image -> (3, size, size) float32 in [0, 1], cropped exactly as the trainer crops CelebA (crop_face)."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small to hold a face.")
    return crop_face(image, size).astype(np.float32) / 255
