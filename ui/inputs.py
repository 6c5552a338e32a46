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
import re
import stat
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
from fastapi import HTTPException
from gradio.components.base import server

from .pictures import png_file
from .preprocess import InputError, NoDigit, open_image, preprocess_digit, preprocess_with_path

MAX_FILE_BYTES = 20_000_000  # a phone photo is 2 to 8 MB; gradio's max_file_size refuses larger uploads too
# One range for every seed a visitor types (Sample, Conditional VAE, Faces, and the Train tab, which reads it from its
# value): the page's own generators (mulberry32 in samples.js and trainer.js) take 32 bits, so a larger seed would
# draw on the page what a smaller one draws.
MAX_SEED = 2**32 - 1
# The sketchpad's blob store (the browser sends its drawing in pieces, kept under an id until the event that reads
# them): a 280x280 drawing is a few KB, and one event reads it within a second of its upload.
MAX_BLOB_BYTES = 4_000_000  # one piece
MAX_BLOB_STORE_BYTES = 64_000_000  # all pieces of all drawings not read yet; the oldest go first
MAX_BLOB_IDS = 256
BLOB_TTL = 120.0  # seconds a drawing waits for the event that reads it
MAX_LAYERS = 4  # the pad has one drawing layer; a layer index beyond this is no browser's


# a number as typed: ASCII digits, an optional sign, point and exponent (the allowlist number() reads strings by)
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def number(value, name, lo, hi, integer=False):
    """A raw number (int, float or numeric string) -> float or int in [lo, hi], or InputError."""
    show = (lambda x: str(int(x))) if integer else (lambda x: f"{x:g}")  # a seed's maximum, exactly
    what = f"{name} must be {'a whole number' if integer else 'a number'} from {show(lo)} to {show(hi)}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{what}, not {type(value).__name__ if value is not None else 'nothing'}.")
    text = value.strip(" \t\r\n") if isinstance(value, str) else None  # ASCII spaces: "4\xa0" is no number
    if text is not None and not DECIMAL.fullmatch(text):
        # as a person writes a number: Python's float() also reads "1_6", "١٢" (Arabic-Indic digits), "inf"
        raise InputError(f"{what}, not {quoted(value)!r}.")
    v = float(value)
    if integer and math.isfinite(v) and v == int(v):  # exactly, not as a float: 2**63 - 1 is a seed, 2**63 not
        exact = isinstance(value, int) or (text is not None and re.fullmatch(r"[+-]?[0-9]+", text))
        v = int(value if text is None else text) if exact else int(v)
    if not math.isfinite(v) or not lo <= v <= hi or (integer and v != int(v)):
        raise InputError(f"{what}, not {quoted(value)}.")
    return int(v) if integer else v


def quoted(value, limit=20):
    """A visitor's value in a sentence: whole up to `limit` characters, else cut with an ellipsis (a 21-digit number
    cut to 20 digits would be another number)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def seed(value):
    """A raw seed -> int in [0, MAX_SEED], or InputError: the one sentence every seed field shows."""
    return number(value, "The seed", 0, MAX_SEED, integer=True)


def validator(*checks):
    """A gradio validator for an event whose inputs `checks` checks (one function or None for each input, in order):
    a bad value's sentence is shown once, under its own field, and the event does not run. Without it each Enter or
    click on a bad seed added the same sentence to the error toast again ("Error (2)") and marked every picture
    "Error". The event's handler checks the same values again for API clients, who get the sentence as an error."""
    def validate(*values):
        verdicts = []
        for check, value in zip(checks, values):
            try:
                if check is not None:
                    check(value)
                verdicts.append(gr.validate(True, ""))
            except InputError as e:
                verdicts.append(gr.validate(False, str(e)))
        return verdicts
    return validate


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
    before the handler can check its size: a 97 KB PNG of 10000x10000 costs 400 MB there, and gradio's move to its
    cache before that fetches a composite's URL and logs a traceback for each layer it refuses. So its events run
    with preprocess=False and the handler calls `read`. The browser sends its drawing as blobs kept under an id,
    which only the component can look up, so the lookup stays here; the decoding goes through open_image like every
    upload.

    The blob store is bounded here too (gradio's keeps every blob it is sent, forever, and grows a layer list to any
    index it is given): MAX_BLOB_BYTES a piece, MAX_LAYERS layers, and at most MAX_BLOB_IDS drawings and
    MAX_BLOB_STORE_BYTES in all, each kept BLOB_TTL seconds at most; the oldest go first."""

    _blobs_lock = threading.Lock()  # one for all sketchpads: a piece is stored in microseconds

    def get_block_name(self):
        return "imageeditor"  # the same front end as gr.Sketchpad

    @property
    def _blobs(self):
        """id -> (time stored, EditorDataBlobs, bytes). Made here, not in __init__: gradio reads a component's
        settings from its __init__ signature, which an override with *args would hide from the page."""
        return self.__dict__.setdefault("_blob_store", OrderedDict())

    @server
    def accept_blobs(self, data):
        from gradio.components.image_editor import EditorDataBlobs

        def refuse(sentence):  # a 400 with the sentence, and no traceback in the server's log
            raise HTTPException(400, detail=sentence)

        fields = data.get("data") if isinstance(data, dict) else getattr(data, "data", None)
        files = data.get("files") if isinstance(data, dict) else getattr(data, "files", None)
        if not isinstance(fields, dict) or not files:
            refuse("Expected one piece of a drawing.")
        kind, index, key = fields.get("type"), fields.get("index"), fields.get("id")
        if kind not in ("layer", "background", "composite") or not isinstance(key, str) or not 0 < len(key) <= 64:
            refuse("Expected a piece of a drawing: its type (layer, background or composite) and its id.")
        blob = files[0][1] if isinstance(files[0], (tuple, list)) and len(files[0]) == 2 else None
        if not isinstance(blob, bytes) or len(blob) > MAX_BLOB_BYTES:
            refuse(f"A drawing's piece must be an image of at most {MAX_BLOB_BYTES // 1_000_000} MB.")
        if kind == "layer":
            try:
                index = 0 if index in (None, "", "null") else int(index)
            except (TypeError, ValueError):
                index = -1
            if not 0 <= index < MAX_LAYERS:
                refuse(f"A drawing has at most {MAX_LAYERS} layers.")
        with self._blobs_lock:
            now = time.monotonic()
            empty = EditorDataBlobs(background=None, layers=[], composite=None)
            stamp, current, size = self._blobs.pop(key, (now, empty, 0))
            if kind == "layer":
                current.layers.extend([None] * (index + 1 - len(current.layers)))
                size -= len(current.layers[index] or b"")
                current.layers[index] = blob
            else:
                size -= len(getattr(current, kind) or b"")
                setattr(current, kind, blob)
            self._blobs[key] = (stamp, current, size + len(blob))
            total = sum(entry[2] for entry in self._blobs.values())
            while self._blobs:
                oldest_stamp, _, oldest_size = next(iter(self._blobs.values()))
                if len(self._blobs) <= MAX_BLOB_IDS and total <= MAX_BLOB_STORE_BYTES and now - oldest_stamp <= BLOB_TTL:
                    break
                self._blobs.popitem(last=False)
                total -= oldest_size

    def take_blobs(self, key):
        with self._blobs_lock:
            entry = self._blobs.pop(key, None)
        return entry[1] if entry and time.monotonic() - entry[0] <= BLOB_TTL else None

    def read(self, raw):
        """The event's raw value (its events run with preprocess=False: gradio's own preprocess would fetch a URL
        or log a traceback per bad layer before any check of ours) -> {"composite": PNG bytes (io.BytesIO), the
        client's file payload, or None}. Only the composite is ever used: the background and layers are not read."""
        if raw is None:
            return {"composite": None}
        if not isinstance(raw, dict):
            raise InputError("Expected a drawing from the sketchpad.")
        if raw.get("id") is not None:  # the browser's blobs
            if not isinstance(raw["id"], str):
                raise InputError("Expected a drawing from the sketchpad.")
            blobs = self.take_blobs(raw["id"])
            return {"composite": io.BytesIO(blobs.composite) if blobs and blobs.composite else None}
        return {"composite": raw.get("composite")}  # an API client's file payload, checked by uploaded_file


def drawn_digit(raw, folders, pad):
    """A Sketchpad's raw value -> the (28, 28) digit, or None for an empty canvas.

    The composite is a PNG like any upload: a file gets the same checks, and either the same bound on decoded pixels."""
    composite = pad.read(raw)["composite"]
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
            raise gr.Error(str(e), print_exception=False) from None
        if isinstance(out, dict):
            return {k: files(v) for k, v in out.items()}
        if isinstance(out, tuple):
            return tuple(files(o) for o in out)
        return files(out)
    return wrapper
