"""The app's page, one module per tab; `build_demo(models)` puts them together.

Each tab module has `create_tab(demo, models, own)` (own: a gr.State holding the visitor's model once one is trained
on the Train tab), which builds its components inside the current gr.Blocks and wires its handlers. Handlers are small functions from a visitor's raw input to named outputs; everything a visitor sends
is checked in `inputs`, and pictures are made in `pictures`.
"""
import os
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import compare, conditional, explorer, faces, latent, reconstruct, report, sample, training
from .limits import QUEUE_SIZE, Guard
from .models import Models, load_models, untrained_models

STATIC = Path(__file__).resolve().parent / "static"  # the page's ES modules and style, served at vae/static/
# the page's script: the sketchpad's brush, slider boxes, and each view's module (ui/static/page.js)
HEAD = '<script type="module" src="vae/static/page.js"></script>'
# Every 10 minutes, delete what gradio's cache received or this app wrote more than an hour ago.
DELETE_CACHE = (600, 3600)
MAX_FILE_SIZE = "20mb"  # uploads larger than this are refused by gradio before they are stored
# Sessions gradio keeps in memory, the oldest dropped first: each holds a copy of every component's config (about
# 0.3 MB here), and an API call makes a new one that no heartbeat ever closes; gradio's default keeps 10,000 (3 GB).
# A dropped session loses only its gr.State values.
MAX_SESSIONS = 256

def intro(models: Models) -> str:
    """The page's first two lines: what an AE and a VAE are, and what is loaded (from the models' own records)."""
    loaded = models.loaded()
    return ("# VAE Explorer\nAn **autoencoder** (AE) maps a 28x28 digit to a point z in 2-D and back; a **variational "
            "autoencoder** (VAE) maps it to a Gaussian q(z|x) and is trained on the negative ELBO. "
            + loaded[0].upper() + loaded[1:])


def build_demo(models: Models, delete_cache=DELETE_CACHE) -> gr.Blocks:
    with gr.Blocks(title="VAE Explorer", delete_cache=delete_cache) as demo:
        gr.Markdown(intro(models))
        # the visitor's own model, once trained in the Train tab (training.OwnModel): about 3 MB a visitor, so it is
        # dropped an hour after it was last set
        own = gr.State(None, time_to_live=3600)
        # "wrap": on a phone every tab's name stays in view on a second line, not behind an unlabelled "..."
        with gr.Tabs(overflow_behavior="wrap"):
            for title, tab in (("Reconstruct", reconstruct), ("Sample", sample), ("Latent space", latent),
                               ("AE to VAE", compare), ("Conditional VAE", conditional), ("Train", training),
                               ("Faces", faces), ("Report", report)):
                with gr.Tab(title):
                    tab.create_tab(demo, models, own)
    # "images": every event that decodes a visitor's image shares these 4 workers, which bounds the memory in use
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_SIZE)
    return demo


def routes():
    """The app's own folders: the page's modules (ui/static/) at vae/static/ and the files exported for the page
    (explorer.decoder_folder(): models and maps, nothing else) at vae/files/. StaticFiles serves a folder's files and
    nothing above it, with ETags (a second visit gets 304s) and .wasm as application/wasm."""
    return [Mount("/vae/static", app=StaticFiles(directory=STATIC), name="vae-static"),
            Mount("/vae/files", app=StaticFiles(directory=explorer.decoder_folder()), name="vae-files")]


# gradio's own theme but for one font file: its bundled SourceSansPro-SemiBold.woff2 holds 55 glyphs, so every
# weight-600 text (the title, table headers, labels) mixed two fonts ("VᴀE"). With weights 400 and 700 only, the
# browser draws 600 with the complete Bold file. And its subdued text (every caption and note under a picture) one
# grey darker: neutral_400 (#bbbbc2) on white is 1.9:1, hard to read; neutral_600 is 7.7:1 (dark mode keeps
# neutral_400).
THEME = gr.themes.Default(font=(gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif",
                                "system-ui", "sans-serif")).set(body_text_color_subdued="*neutral_600",
                                                                body_text_color_subdued_dark="*neutral_400")


def launch(demo, forwarded_allow_ips="", **kwargs):
    """demo.launch with what the page needs: its modules and style (ui/static/, loaded once), the upload size limit,
    the report's figures (docs/figures/, the only folder of the repository gradio serves as files), the folders of
    `routes`, and the checks of every other request (ui.limits.Guard: its size, a call's shape, gradio's refusals
    in one sentence).

    forwarded_allow_ips: the proxies whose X-Forwarded-For header names the client (uvicorn's setting, which gradio
    does not pass on; read from its environment variable when the server starts). Without one, uvicorn trusts the
    header from 127.0.0.1, so a client on the same host, or behind a proxy that does not set it, names itself."""
    os.environ["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    explorer.prune()  # the files of earlier weights, exported by earlier runs
    return demo.launch(theme=THEME, head=HEAD, css_paths=[STATIC / "page.css"], max_file_size=MAX_FILE_SIZE,
                       state_session_capacity=MAX_SESSIONS,
                       allowed_paths=[str(report.FIGURES)],
                       app_kwargs={"middleware": [Middleware(Guard, demo=demo)], "routes": routes()}, **kwargs)


__all__ = ["DELETE_CACHE", "MAX_FILE_SIZE", "launch", "Models", "build_demo", "load_models", "untrained_models"]
