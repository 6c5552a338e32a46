"""Where a visitor's input enters: every value is checked here once, and a bad one becomes one sentence.

Events run with preprocess=False, so what arrives is the raw JSON a browser or an API client sent: numbers may be
strings (a slider set by the server comes back as "1.24"), anything may be None, a list or NaN, and a file input is a
dict whose "path" the client chose. Only files inside gradio's upload cache (where it stores what it received, and
where this app writes its pictures) or the app's own example folder are ever opened, and only regular files.
"""
import functools
import io
import math
import os
import stat
from pathlib import Path

import gradio as gr
import numpy as np

from .pictures import png_file
from .preprocess import InputError, NoDigit, open_image, preprocess_digit, preprocess_with_path

MAX_FILE_BYTES = 20_000_000  # a phone photo is 2 to 8 MB; gradio's max_file_size refuses larger uploads too
MAX_SEED = 2**63 - 1


def number(value, name, lo, hi, integer=False):
    """A raw number (int, float or numeric string) -> float or int in [lo, hi], or InputError."""
    what = f"{name} must be {'a whole number' if integer else 'a number'} from {lo:g} to {hi:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{what}, not {type(value).__name__ if value is not None else 'nothing'}.")
    try:
        v = float(value)
    except ValueError:
        raise InputError(f"{what}, not {str(value)[:20]!r}.") from None
    if not math.isfinite(v) or not lo <= v <= hi or (integer and v != int(v)):
        raise InputError(f"{what}, not {str(value)[:20]}.")
    return int(v) if integer else v


def choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise InputError(f"{name} must be one of {', '.join(options)}.")
    return value


def allowed_folders(extra=()):
    """Gradio's upload cache (uploads and this app's pictures) and the given folders, resolved."""
    return [Path(os.path.realpath(gr.utils.get_upload_folder())), *(Path(os.path.realpath(f)) for f in extra)]


def uploaded_file(payload, folders, what="an image"):
    """A file input's raw value -> the real path of a regular file inside one of `folders`, or InputError.

    The path is resolved first (symbolic links, "..", relative paths), so nothing outside those folders is reached,
    and a FIFO or device is refused before anything opens it (opening a FIFO blocks until someone writes)."""
    path = payload.get("path") if isinstance(payload, dict) else payload
    if path is None:
        raise InputError(f"Upload {what} first.")
    if not isinstance(path, str) or not path or "\0" in path:
        raise InputError(f"Expected {what} uploaded to this app.")
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(folder) for folder in folders):
        raise InputError(f"That file was not uploaded to this app; upload {what} first.")
    try:
        info = os.stat(real)
    except OSError:
        raise InputError(f"That upload is gone (old uploads are deleted); upload {what} again.") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"That is not a file; upload {what}.")
    if info.st_size > MAX_FILE_BYTES:
        raise InputError(f"The file is {info.st_size / 1e6:.0f} MB; please upload one of at most "
                         f"{MAX_FILE_BYTES // 1_000_000} MB.")
    return str(real)


def upload_digit(payload, folders):
    """An uploaded image -> the (28, 28) binarised digit the models see, and "clean" or "photo": which preprocessing
    read it."""
    return preprocess_with_path(open_image(uploaded_file(payload, folders)))


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose value reaches the handler undecoded: {"composite": PNG bytes (io.BytesIO), a file payload
    {"path": ...}, or None}.

    Why: gr.Sketchpad's own preprocess decodes every image it is sent (the composite, the background, each layer)
    before the handler can check its size: a 97 KB PNG of 10000x10000 costs 400 MB there. The browser sends its
    drawing as blobs kept under an id, which only the component can look up, so the lookup stays here; the
    decoding goes through open_image like every upload."""

    def get_block_name(self):
        return "imageeditor"  # the same front end as gr.Sketchpad

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.id is not None:  # the browser's blobs
            blobs = self.blob_storage.pop(payload.id, None)
            return {"composite": io.BytesIO(blobs.composite) if blobs and blobs.composite else None}
        return {"composite": {"path": payload.composite.path} if payload.composite else None}  # an API client's file


def drawn_digit(sketch, folders):
    """A Sketchpad value {"composite": ...} -> the (28, 28) digit, or None for an empty canvas.

    The composite is a PNG like any upload: a file gets the same checks, and either the same bound on decoded pixels."""
    if not isinstance(sketch, dict):
        raise InputError("Expected a drawing from the sketchpad.")
    composite = sketch.get("composite")
    if composite is None:
        return None
    if not isinstance(composite, io.BytesIO):
        composite = uploaded_file(composite, folders, "a drawing")
    try:
        return preprocess_digit(open_image(composite))
    except NoDigit:  # the canvas was cleared
        return None


def handler(fn):
    """Wrap an event handler: a visitor's bad input (InputError) becomes one gr.Error sentence on the page, and
    the pictures it returns (uint8 arrays, alone, in a tuple or as the values of a dict) become PNG files."""
    def files(out):
        return png_file(out) if isinstance(out, np.ndarray) else out

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except InputError as e:
            raise gr.Error(str(e)) from None
        if isinstance(out, dict):
            return {k: files(v) for k, v in out.items()}
        if isinstance(out, tuple):
            return tuple(files(o) for o in out)
        return files(out)
    return wrapper
