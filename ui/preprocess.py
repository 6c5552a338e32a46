"""Turning a user's image into what the models were trained on.

MNIST digits are white ink on black, cropped to the ink, scaled so the longer side is 20 px, and centred in 28x28 by
the centre of mass (LeCun et al., the MNIST page); our models then see them binarised by rounding. A drawing or a
photo of a digit has to go through the same steps, or the models see something they never learned.
"""
import ctypes
import ctypes.util
import re
import threading
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
# What a digit or face upload needs, and nothing else: each of these states its size in a header that PIL reads
# before any pixel is decoded. Left out on purpose: ICO and ICNS (an entry may hold a PNG whose real size is only
# known by decoding it), and every format nobody uploads a digit in.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# A progressive (or multi-scan) JPEG keeps every DCT coefficient of the full image until its last scan, whatever
# size it is drafted to: 2 bytes a coefficient, one per pixel and component (an 8000x8000 CMYK one: 512 MB).
MAX_COEFFICIENT_BYTES = 96_000_000
# Decodes at once, in the whole process: every upload, drawing, page-load event and API call opens its image here,
# so this bounds the memory of decoding whatever event or route the image came by (each slot <= ~130 MB).
DECODE_SLOTS = 4
_decoding = threading.BoundedSemaphore(DECODE_SLOTS)
try:  # glibc keeps freed decode buffers in its arenas: 8 decodes of 16 MP left +390 MB resident for good
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
except (OSError, AttributeError, TypeError):  # not glibc: nothing to give back this way
    _malloc_trim = None


class InputError(ValueError):
    """Something wrong with the user's image; the message is one sentence meant for them."""


class NoDigit(InputError):
    """The image holds no ink at all (a blank canvas, an empty page)."""


# The ink's longer side must span at least this part of the picture's shorter side: a dot or a short tick (on the
# 280-px canvas, one dab of the 27-px brush) would otherwise be scaled up to fill 20 of the 28 pixels, a blob that
# the models read as some digit. A digit drawn or photographed to be read is larger; MNIST's own fill 20 of 28.
MIN_INK_SPAN = 1 / 8


def too_small(span, side):
    """The one sentence for a mark too small to be a digit (ui/static/preprocess.js says the same)."""
    return (f"That mark is too small to be a digit: it spans {span} of the picture's {side} pixels; draw the digit "
            "larger, or crop the image closer to it.")


def _too_large(w, h, limit):
    return InputError(f"The image is {w}x{h} pixels; please upload one of at most {limit // 1_000_000} megapixels.")


def open_image(path, max_pixels=MAX_PIXELS):
    """Open an image file as a PIL image (its first frame), reduced to at most WORK_SIDE on a side, or raise
    InputError.

    Only FORMATS are read; the size is checked on the header before any pixel is decoded, and at most DECODE_SLOTS
    decodes run at once in the process, so the memory of decoding is bounded whatever route the image came by."""
    with _decoding:
        try:
            return _open_image(path, max_pixels)
        finally:
            if _malloc_trim is not None:
                _malloc_trim(0)  # give the decode's buffers back to the system (about 1 ms)


def _open_image(path, max_pixels):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as e:  # PIL's own limit (179 megapixels) fired first: say so, with the size
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)) / 1e6:,.0f} megapixels" if found else "too many pixels"
        raise InputError(f"The image has {size}; please upload one of at most {max_pixels // 1_000_000} "
                         "megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError):
        raise InputError("That file is not an image I can read; upload a PNG, JPEG, GIF, BMP, WebP or TIFF.") from None
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small; use at least {MIN_SIDE}x{MIN_SIDE}.")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError(f"The image is {w}x{h} pixels, too long and thin to hold a digit.")
    if image.format == "JPEG":
        if "progressive" in image.info or "progression" in image.info:
            if 2 * w * h * len(image.getbands()) > MAX_COEFFICIENT_BYTES:
                limit = MAX_COEFFICIENT_BYTES // (2 * len(image.getbands()))
                raise InputError(f"The image is a progressive {image.mode} JPEG of {w}x{h} pixels; please upload one "
                                 f"of at most {limit / 1e6:.0f} megapixels (or a baseline JPEG or a PNG).")
        if w * h <= MAX_HEADER_PIXELS:
            image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # the decoder downscales by 2, 4 or 8 as it decodes
    if image.size[0] * image.size[1] > max_pixels:
        raise _too_large(w, h, max_pixels)
    try:
        image.load()  # the first frame only: an animated GIF, APNG, WebP or multi-page TIFF is one picture here
        if max(image.size) > WORK_SIDE:
            image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
        image = ImageOps.exif_transpose(image)  # phones store the photo sideways and say so in EXIF
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError):
        raise InputError("The image file is damaged or truncated; it could not be decoded.") from None
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
        if not np.isfinite(grey).all():  # a float TIFF may hold NaN or infinity
            raise InputError("The image holds pixel values that are not numbers (NaN or infinity); please upload "
                             "an ordinary PNG or JPEG.")
        grey = np.clip(grey / (65535.0 if grey.max() > 255 else 255.0), 0, 1)
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

    Raises NoDigit when there is no ink to speak of, InputError when the ink is too small to be a digit."""
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
    if max(ch, cw) < MIN_INK_SPAN * min(h, w):
        raise InputError(too_small(max(ch, cw), min(h, w)))
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


PHOTO_SIDE = 400  # a photo is cleaned at this size: ample for a 20x20 digit, and fast


def looks_like_photo(ink):
    """Is the background uneven (a shadow, a vignette, paper grain, printed lines) rather than one flat colour?

    ink (H, W) in [0, 1], 1 = ink. A drawing, a scan or an MNIST digit has a background of one value, so the
    background's spread and the difference between its quadrants are near zero; a photo of paper has neither."""
    background = ink[ink < 0.5 * ink.max()] if ink.max() > 0 else ink.ravel()
    if background.size < 0.2 * ink.size:
        return False
    mad = 1.4826 * np.median(np.abs(background - np.median(background)))
    h, w = ink.shape
    quadrants = [ink[:h // 2, :w // 2], ink[:h // 2, w // 2:], ink[h // 2:, :w // 2], ink[h // 2:, w // 2:]]
    levels = [np.median(q[q < 0.5 * ink.max()]) for q in quadrants if (q < 0.5 * ink.max()).any()] or [0.0]
    return bool(mad > 0.012 or (max(levels) - min(levels)) > 0.04 or has_ruled_lines(ink))


def has_ruled_lines(ink, min_lines=3):
    """Three or more separate rows (or columns) inked along 80% of their length: ruled or squared paper."""
    for axis in (1, 0):
        full = (ink - np.median(ink) > 0.1).mean(axis) > 0.8
        starts = np.count_nonzero(full[1:] & ~full[:-1]) + int(full[0])
        if starts >= min_lines:
            return True
    return False


_TOOLS_LOCK = threading.Lock()
_tools = None


def photo_tools():
    """scipy.ndimage and the scikit-image modules clean_photo uses, imported on first use (the trainer and most
    requests never need them) and under a lock: scikit-image loads its submodules lazily, and two first photos at
    once met a half-imported skimage.morphology ("has no attribute 'disk'"). The functions are looked up inside the
    lock too, as that is when scikit-image imports them."""
    global _tools
    with _TOOLS_LOCK:
        if _tools is None:
            from scipy import ndimage
            from skimage import filters, measure, morphology

            for module, name in ((filters, "threshold_otsu"), (measure, "label"), (measure, "regionprops"),
                                 (morphology, "disk")):
                getattr(module, name)
            _tools = ndimage, filters, measure, morphology
        return _tools


def clean_photo(image):
    """A photo of a dark digit on paper (PIL) -> float ink (H, W) with the paper, its shadows, lines and specks gone.

    1. Flatten the lighting: the paper's brightness is estimated at a large scale (a maximum filter wider than any
       stroke, which removes the ink, then a Gaussian blur), and the image is divided by it.
    2. Ink is what is darker than the paper by more than Otsu's threshold of that flattened darkness.
    3. Printed lines across the page (ruled or squared paper) are removed by subtracting each row's and each
       column's median darkness (a line darkens most of its row, a digit only a small part).
    4. Connected components: specks (small against the largest stroke) and blobs far from the main stroke mass go.
    """
    ndimage, filters, measure, morphology = photo_tools()
    image = image.convert("L") if image.mode != "L" else image
    image = image.copy()
    image.thumbnail((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BOX)
    grey = np.asarray(image, dtype=np.float64) / 255
    h, w = grey.shape
    size = max(15, round(min(h, w) / 12))  # wider than a pen stroke at this scale
    paper = ndimage.gaussian_filter(ndimage.maximum_filter(grey, size=size), sigma=size)
    darkness = np.clip(1 - grey / np.maximum(paper, 1e-3), 0, 1)
    # printed lines across the page (ruled or squared paper): a line is dark along most of its row or column, a
    # digit along a small part of it, so each row's and each column's median is the line alone; subtract them
    darkness = np.clip(darkness - np.median(darkness, 1, keepdims=True), 0, 1)
    darkness = np.clip(darkness - np.median(darkness, 0, keepdims=True), 0, 1)
    threshold = max(filters.threshold_otsu(darkness), 0.12)
    mask = darkness > threshold
    mask = ndimage.binary_opening(mask, morphology.disk(1))  # grain and the lines' leftover edges
    labels = measure.label(mask, connectivity=2)
    regions = measure.regionprops(labels)
    if not regions:
        raise NoDigit("No digit found in the photo: nothing darker than the paper is left after cleaning.")
    main = max(regions, key=lambda r: r.area)
    r0, c0, r1, c1 = main.bbox
    reach = 0.6 * max(r1 - r0, c1 - c0)  # how far from the main stroke another part of the digit may lie
    keep = np.zeros_like(mask)
    for r in regions:
        rr0, cc0, rr1, cc1 = r.bbox
        gap = max(rr0 - r1, r0 - rr1, cc0 - c1, c0 - cc1, 0)
        if r.area >= 0.08 * main.area and gap <= reach:
            keep |= labels == r.label
    ink = np.where(ndimage.binary_dilation(keep, iterations=1), darkness, 0)
    rows, cols = np.nonzero(keep)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    if keep.sum() > 0.7 * box and box > 0.25 * h * w:
        raise InputError("This photo does not look like one digit on paper: the dark area fills most of the picture.")
    return ink


def preprocess_with_path(image):
    """PIL image or array -> ((28, 28) float32 of 0s and 1s, "clean" or "photo"): the models' exact input, and which
    preprocessing read it (a drawing, scan or MNIST-like image as it is; a photo of paper cleaned first)."""
    ink = to_ink(image)
    if isinstance(image, Image.Image) and looks_like_photo(ink):
        return np.round(center_digit(clean_photo(image))).astype(np.float32), "photo"
    return np.round(center_digit(ink)).astype(np.float32), "clean"


def preprocess_digit(image):
    """PIL image or array -> (28, 28) float32 of 0s and 1s, the exact input the models get (binarised like MNIST)."""
    return preprocess_with_path(image)[0]


def face_input(image, size=64):
    """PIL image -> (3, size, size) float32 in [0, 1], cropped exactly as the trainer crops CelebA (crop_face)."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"The image is {w}x{h} pixels, too small to hold a face.")
    return crop_face(image, size).astype(np.float32) / 255
