"""Turning a user's image into what the models were trained on.

MNIST digits are white ink on black, cropped to the ink, scaled so the longer side is 20 px, and centred in 28x28 by
the centre of mass (LeCun et al., the MNIST page); our models then see them binarised by rounding. A drawing or a
photo of a digit has to go through the same steps, or the models see something they never learned.
"""
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # refuse before decoding: a 10000x10000 PNG is 100 M pixels of work
WORK_SIDE = 1024  # reduce anything larger before the real work
MIN_SIDE = 8


class InputError(ValueError):
    """Something wrong with the user's image; the message is one sentence meant for them."""


def open_image(path, max_pixels=MAX_PIXELS):
    """Open an uploaded file as a PIL image, reduced to at most WORK_SIDE on a side, or raise InputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)  # reads the header only
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InputError("That file is not an image I can read; upload a PNG, JPEG, GIF, BMP or WebP.") from None
    w, h = image.size
    if w * h > max_pixels:
        raise InputError(f"The image is {w}x{h} pixels; please upload one of at most {max_pixels // 1_000_000} "
                         "megapixels.")
    if image.format == "JPEG":
        image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # let the JPEG decoder downscale as it decodes
    try:
        image = ImageOps.exif_transpose(image)
        image.load()
    except (OSError, ValueError, SyntaxError):
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
        raise InputError(f"The image is {w}x{h} pixels, too small to hold a digit; use at least {MIN_SIDE}x{MIN_SIDE}.")
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    background = np.median(border)
    contrast = ink.max() - background
    if contrast < 0.1:
        raise InputError("No digit found: the image (or canvas) is empty. Draw or upload a digit.")
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


def center_crop_face(image, size=64):
    """PIL image -> (3, size, size) float32 in [0, 1]: the largest centred square, resized (for the faces VAE)."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small to hold a face.")
    face = ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
    return np.asarray(face, dtype=np.float32).transpose(2, 0, 1) / 255
