"""The app's page, one module per tab; `build_demo(models)` puts them together.

Each tab module has `create_tab(demo, models, own)` (own: a gr.State holding the visitor's model once one is trained
on the Train tab), which builds its components inside the current gr.Blocks and wires its handlers. Handlers are small functions from a visitor's raw input to named outputs; everything a visitor sends
is checked in `inputs`, and pictures are made in `pictures`.
"""
import gradio as gr
from starlette.middleware import Middleware

from . import compare, conditional, explorer, faces, latent, reconstruct, report, sample, training
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
# Enter in a slider's number box applies the number: gradio's slider sends its "release" when the box loses focus,
# not on Enter, so Enter takes the focus away.
BRUSH_READY = """() => {
  document.addEventListener("keydown", (e) => {
    const box = e.target;
    if (e.key === "Enter" && box.matches && box.matches('input[type="number"]') &&
        box.closest(".block") && box.closest(".block").querySelector('input[type="range"]')) {
      box.blur();
    }
  }, true);
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
/* tables: whole words in every cell (no "b/e/t/a"); a table wider than the screen scrolls, and a shadow at the edge
   it continues past says so (the shadows are fixed to the box, the white covers are carried with the content) */
.prose table { display: block; overflow-x: auto; max-width: 100%;
  background-image: linear-gradient(to right, var(--background-fill-primary) 30%, transparent),
    linear-gradient(to left, var(--background-fill-primary) 30%, transparent),
    radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, 0.25), transparent),
    radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, 0.25), transparent);
  background-position: left center, right center, left center, right center;
  background-size: 40px 100%, 40px 100%, 14px 100%, 14px 100%;
  background-repeat: no-repeat; background-attachment: local, local, scroll, scroll; }
.prose th, .prose td { overflow-wrap: normal; word-break: keep-all; hyphens: none; }
.prose th { white-space: nowrap; }
/* a long formula scrolls on a phone instead of running off the screen */
.prose .katex-display { overflow-x: auto; overflow-y: hidden; }
#numbers table { font-size: 0.9em; }
#numbers th, #numbers td { padding: 4px 8px; }
/* the row of every model: on a phone it keeps a width where its captions read at 11 px, and scrolls */
#every-model .image-frame { display: block; overflow-x: auto; }
#every-model img { min-width: 560px; width: 100%; height: auto !important; max-height: none !important; }
/* a 28x28 upload (the examples) is shown as large as its box, pixel for pixel, not at its native 28 pixels */
/* a picture's label badge and buttons sit in a band above the picture, never on it; no "Share" button (nothing to
   share it to), which leaves a long label its room on a phone */
.icon-button-wrapper button[aria-label="Share"] { display: none; }
.block:has(> label[data-testid="block-label"]:not(.hide)) > .image-container:has(.image-frame),
.block:has(.icon-button-wrapper button) > .image-container:has(.image-frame) { padding-top: 30px; }
/* the one-line caption under a picture; every text at least 11 px, even on a phone */
.caption p { font-size: 13px !important; margin: 2px 0 6px; color: var(--body-text-color-subdued); }
#upload img, #cvae-upload img { width: 100% !important; height: 100% !important; object-fit: contain;
  image-rendering: pixelated; }
"""


def build_demo(models: Models, delete_cache=DELETE_CACHE) -> gr.Blocks:
    with gr.Blocks(title="VAE Explorer", delete_cache=delete_cache) as demo:
        gr.Markdown(INTRO)
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
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def launch(demo, **kwargs):
    """demo.launch with what the page needs: its script and style, the upload size limit, the report's figures
    (docs/figures/, the only folder of the repository served), the decoders exported for the page
    (explorer.decoder_folder(), a cache folder holding only those files), and the bound on every other request's size
    (ui.limits.BodyLimit)."""
    return demo.launch(js=BRUSH_READY, css=CSS, max_file_size=MAX_FILE_SIZE,
                       allowed_paths=[str(report.FIGURES), str(explorer.decoder_folder())],
                       app_kwargs={"middleware": [Middleware(BodyLimit)]}, **kwargs)


__all__ = ["DELETE_CACHE", "MAX_FILE_SIZE", "launch", "Models", "build_demo", "load_models", "untrained_models"]
