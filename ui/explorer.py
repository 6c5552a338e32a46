"""The latent explorer: a model's map of test codes with its decoder running in the visitor's page, so the decoded
digit follows the pointer (or a finger) at the speed of the screen, with no request to the server.

The server exports each model (all its layers, float32 safetensors) and its map (the PNG `pictures` draws) once, into
decoder_folder() under names that carry a hash of their bytes; the app serves that folder at `vae/files/` and the
page's modules (ui/static/) at `vae/static/` (ui.launch), and no other folder of the server. The page fetches a
model's two files when the visitor first chooses it and keeps them for the visit (ui/static/model.js); a browser
caches them across visits. The view itself is ui/static/explorer.js. `export` gives the page what it needs: the
files' relative URLs, the model's kind, and the map's axes (pixel box and limits, pictures.LatentMap) to map the
picture's pixels to z exactly.

The component's value is that description plus the pinned point z and the grid's size and range; it fires "pin"
(with z1, z2) when the visitor clicks or lifts a finger. `pin_js` and `grid_js` are the page-side handlers the
sliders' events run (no server round trip).
"""
import functools
import hashlib
import io
import os
import re
import tempfile
import time
from pathlib import Path

import gradio as gr
from PIL import Image
from safetensors.torch import save

from vae_models import WeightsError

# The only folder of exported files the app serves: decoders and maps, nothing else is ever written there. The user's
# cache folder, or, where it cannot be written (a read-only home), one under the system's temporary folder.
CANDIDATES = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer" / "decoders",
              Path(tempfile.gettempdir()) / f"vae-explorer-{os.getuid() if hasattr(os, 'getuid') else 0}" / "decoders")


@functools.cache
def decoder_folder() -> Path:
    """The first of CANDIDATES this process can write to (made if missing), or WeightsError in one sentence."""
    for folder in CANDIDATES:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
            return folder
        except OSError:
            continue
    raise WeightsError(f"cannot write the decoders the page runs to {' or '.join(map(str, CANDIDATES))}; set "
                       "XDG_CACHE_HOME to a writable folder.")


# The names write_once gives (a model's slug, "-map" for its picture, 16 hex digits of the bytes' hash) and its
# unfinished writes (mkstemp's "tmp" + 8 characters + ".part"): the only files `prune` ever deletes.
OWN_NAME = re.compile(r"[a-z0-9-]+-[0-9a-f]{16}\.(safetensors|png)|tmp[a-z0-9_]{8}\.part")
# Another process of this account may serve from the same folder (a second app, the tests): a file it exported or
# reused in the last day is left to it.
OTHERS_AGE = 24 * 3600
served: set[Path] = set()  # the files this process exported (its models and maps)


def write_once(data: bytes, stem: str, suffix: str, folder: Path | None = None) -> Path:
    """bytes -> folder/stem-<hash>.suffix, written atomically unless a file of that name (so those bytes) is there
    (then touched: its time says it is in use)."""
    folder = folder or decoder_folder()
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if path.exists():
        os.utime(path)
    else:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    served.add(path.resolve())
    return path


def prune(folder: Path | None = None, keep=None, age=OTHERS_AGE) -> list[Path]:
    """Delete the files of models this process does not serve (`keep`, default the ones it exported) from the
    served folder: only regular files named by OWN_NAME and older than `age` seconds; nothing else is touched.
    -> the deleted paths. Run at start, once the page is built (ui.launch)."""
    folder, keep = folder or decoder_folder(), served if keep is None else keep
    deleted, now = [], time.time()
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if not OWN_NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False) or path.resolve() in keep:
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > age:
                path.unlink()
                deleted.append(path)
        except FileNotFoundError:
            continue  # another process pruned it first
    return deleted


FILES_URL = "vae/files"  # where the app serves decoder_folder() (ui.launch), relative to the page's root


def file_url(path: Path) -> str:
    """An exported file -> the URL the page fetches it at, relative to the page's root: never a server path."""
    return f"{FILES_URL}/{path.name}"


def model_bytes(model) -> bytes:
    """The model's layers as float32 safetensors in torch's Linear layout (weight (out, in), y = x W^T + b):
    fc1 (512, 784 + n_classes), fc_mu (2, 512), fc_logvar (2, 512; the VAEs only), fc3 (512, 2 + n_classes),
    fc4 (784, 512), each with its bias. The page's encoder and decoder (ui/static/model.js) run on these."""
    layers = [name for name in ("fc1", "fc_mu", "fc_logvar", "fc3", "fc4") if getattr(model, name, None) is not None]
    tensors = {f"{layer}.{p}": getattr(getattr(model, layer), p).detach().float().contiguous().cpu()
               for layer in layers for p in ("weight", "bias")}
    # one metadata key: safetensors writes its metadata from a Rust HashMap, whose order (so the bytes, so the file's
    # name) changes from process to process once there are two
    return save(tensors, metadata={"format": "pt"})


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def export(explorer, folder: Path | None = None) -> dict:
    """An Explorer (ui.models) -> its model and map written into `folder`, and the page's description of them: the
    files' URLs relative to the page's root (`weights`, `map`), the model's kind, and the map's axes (pixel box and
    limits, pictures.LatentMap) so that the page maps the picture's pixels to z exactly."""
    buffer = io.BytesIO()
    Image.fromarray(explorer.map.image).save(buffer, format="PNG")
    stem, model = slug(explorer.name), explorer.model
    weights = write_once(model_bytes(model), stem, ".safetensors", folder)
    picture = write_once(buffer.getvalue(), stem + "-map", ".png", folder)
    m = explorer.map
    height, width = m.image.shape[:2]
    return {"model": explorer.name, "weights": file_url(weights), "weights_bytes": weights.stat().st_size,
            "kind": "cvae" if model.n_classes else model.kind, "n_classes": model.n_classes,
            "map": file_url(picture), "width": width, "height": height, "box": [float(v) for v in m.box],
            "xlim": [float(v) for v in m.xlim], "ylim": [float(v) for v in m.ylim]}


def value(description, z, grid=(20, 2.0), label=None):
    """The component's value: a model's description, the pinned z = (z1, z2), the grid (n, r) and the CVAE's digit."""
    return {**description, "z": [float(z[0]), float(z[1])], "grid": [int(grid[0]), float(grid[1])], "label": label}


def mount_js(module, events=()):
    """One line of glue for a gr.HTML's js_on_load: ui/static/<module>'s mount(element, props, trigger, watch), the
    module fetched from the page's root (gradio_config.root, else the page's folder) once a visit. `events`: the names
    the module passes to trigger(), written here in quotes because gradio registers a component's custom events by
    finding them in js_on_load."""
    named = " ".join(f"'{e}'" for e in events)
    return ("import(((window.gradio_config || {}).root || '.').replace(/\\/?$/, '/') + 'vae/static/" + module + "')"
            ".then(m => m.mount(element, props, trigger, watch));" + (f" /* fires {named} */" if events else ""))


def explorer(description, z=(0.0, 0.0), grid=(20, 2.0), label=None, **kwargs) -> gr.HTML:
    """The component, showing the model `description` (from `export`) with z pinned (and the CVAE's digit `label`)."""
    return gr.HTML(value(description, z, grid, label), html_template='<div class="lx"></div>',
                   js_on_load=mount_js("explorer.js", ["pin"]), **kwargs)


def call_js(elem_id, method, *args):
    """A page-side event handler (a gradio event's `js`) calling explorer `elem_id`'s `method` with the inputs."""
    names = ", ".join(args)
    return (f"({names}) => {{ const e = document.querySelector('#{elem_id} .lx'); "
            f"if (e && e.explorer) e.explorer.{method}({names}); return [{names}]; }}")


def pin_js(elem_id):
    """Pins the explorer `elem_id` at the sliders' (z1, z2)."""
    return call_js(elem_id, "pin", "z1", "z2")


def label_js(elem_id):
    """Decodes the conditional VAE's map and grid as the chosen digit."""
    return call_js(elem_id, "setLabel", "k")


def grid_js(elem_id):
    """Redraws the explorer's grid for the sliders' (n, r)."""
    return call_js(elem_id, "setGrid", "n", "r")
