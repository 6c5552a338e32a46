"""The app's page, one module per tab; `build_demo(models)` puts them together.

Each tab module has `create_tab(demo, models)`, which builds its components inside the current gr.Blocks and wires
its handlers. Handlers are small functions from a visitor's raw input to named outputs; everything a visitor sends
is checked in `inputs`, and pictures are made in `pictures`.
"""
import gradio as gr
from starlette.middleware import Middleware

from . import compare, conditional, faces, latent, reconstruct, report, sample, training
from .limits import BodyLimit
from .models import Models, load_models, untrained_models

# Every 10 minutes, delete what gradio's cache received or this app wrote more than an hour ago.
DELETE_CACHE = (600, 3600)
MAX_FILE_SIZE = "20mb"  # uploads larger than this are refused by gradio before they are stored

INTRO = """# VAE Explorer
An **autoencoder** (AE) squeezes each 28x28 digit into a point z in 2-D and back; a **variational autoencoder** (VAE)
maps it to a whole Gaussian q(z|x) and is trained on the negative ELBO: reconstruction (BCE) plus KL(q(z|x) || N(0, I)).
Both were trained on MNIST for 100 epochs with the same architecture (784-512-2-512-784); so were the VAEs with a
lighter or heavier KL term (the β spectrum, in "AE to VAE") and a conditional VAE that is told the digit."""


# The sketchpad draws at once: whenever neither brush nor eraser is selected (at load, after "Clear canvas"), the
# brush is. Gradio's ImageEditor has no setting for its starting tool.
BRUSH_READY = """() => {
  setInterval(() => {
    for (const pad of document.querySelectorAll(".digit-sketch")) {
      const brush = pad.querySelector('button[aria-label="Brush"]'), eraser = pad.querySelector('button[aria-label="Erase"]');
      if (brush && !brush.classList.contains("highlight") && !(eraser && eraser.classList.contains("highlight"))) {
        brush.click();
      }
    }
  }, 300);
}"""
# Editor controls that do nothing useful here: pan and zoom on a 280x280 canvas, a colour picker for a fixed colour.
CSS = """
.digit-sketch button[aria-label="Pan"], .digit-sketch button[aria-label="Zoom in"],
.digit-sketch button[aria-label="Zoom out"], .digit-sketch button[aria-label="Color"] { display: none !important; }
/* numbers tables: whole words in every cell; a narrow screen scrolls the table instead of breaking "BCE" apart */
#numbers table { display: block; overflow-x: auto; font-size: 0.9em; }
#numbers th, #numbers td { white-space: nowrap; word-break: keep-all; padding: 4px 8px; }
/* a 28x28 upload (the examples) is shown as large as its box, pixel for pixel, not at its native 28 pixels */
#upload img, #cvae-upload img { width: 100% !important; height: 100% !important; object-fit: contain;
  image-rendering: pixelated; }
"""


def build_demo(models: Models, delete_cache=DELETE_CACHE) -> gr.Blocks:
    with gr.Blocks(title="VAE Explorer", delete_cache=delete_cache) as demo:
        gr.Markdown(INTRO)
        # the visitor's own model, once trained in the Train tab (training.OwnModel): about 3 MB a visitor, so it is
        # dropped an hour after it was last set
        own = gr.State(None, time_to_live=3600)
        for title, tab in (("Reconstruct", reconstruct), ("Sample", sample), ("Latent space", latent),
                           ("AE to VAE", compare), ("Conditional VAE", conditional), ("Train", training),
                           ("Faces", faces), ("Report", report)):
            with gr.Tab(title):
                if tab in (reconstruct, sample, training):
                    tab.create_tab(demo, models, own)
                else:
                    tab.create_tab(demo, models)
    # "images": every event that decodes a visitor's image shares these 4 workers, which bounds the memory in use
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def launch(demo, **kwargs):
    """demo.launch with what the page needs: its script and style, the upload size limit, and the report's figures
    (docs/figures/, the only folder of the repository served), and the bound on every other request's size
    (ui.limits.BodyLimit)."""
    return demo.launch(js=BRUSH_READY, css=CSS, max_file_size=MAX_FILE_SIZE, allowed_paths=[str(report.FIGURES)],
                       app_kwargs={"middleware": [Middleware(BodyLimit)]}, **kwargs)


__all__ = ["DELETE_CACHE", "MAX_FILE_SIZE", "launch", "Models", "build_demo", "load_models", "untrained_models"]
