"""Train tab: a small AE or VAE trained live in the visitor's own browser (ui/static/train_view.js and trainer.js, on
TensorFlow.js vendored in ui/static/vendor/tfjs/), while the page shows the latent space forming. The server only
exports the packed MNIST subset once, into the folder of files it serves to the page (ui.explorer.decoder_folder(),
at vae/files/); it trains nothing for a visitor, so any number of visitors train at once. The trained model is the
visitor's for the visit: the page hands it to Reconstruct, Sample and the latent explorer (the
"vae-explorer:own-model" event), and its "Download" button gives one .zip of its folder, mnist-vae/ or mnist-ae/:
config.json + model.safetensors (what load_pretrained reads) and test_latents.safetensors (the codes of the test
digits: with it the folder is one `python app.py --weights` serves).

`python -m train` stays the way to train on your own machine.
"""

import gradio as gr
import numpy as np
from safetensors.numpy import save

from .explorer import file_url, mount_js, write_once
from .inputs import MAX_SEED

TRAIN_DIGITS = (1_000, 10_000)  # the visitor's choice, at most the subset's size when it holds fewer


def own_model(value):
    """The server keeps no visitor's model: the Train tab trains in the page and the page's own views show the result.
    The tabs that still pass the `own` State get None, so their server-side answers show the shipped models only."""
    return None


def subset_bytes(subset) -> bytes:
    """Models.subset ({"train": (x (N, 784) of 0s and 1s, y), "test": ...}) -> the packed safetensors the page reads
    (train/mnist.pack_subset's layout: 8 pixels a byte, as np.packbits)."""
    tensors = {}
    for split in ("train", "test"):
        x, y = subset[split]
        tensors[f"{split}_bits"] = np.packbits(x.numpy().astype(np.uint8), axis=1)
        tensors[f"{split}_labels"] = y.numpy().astype(np.uint8)
    return save(tensors, metadata={"format": "np"})


def create_tab(demo, models, own):
    subset = models.subset
    if subset is None:
        gr.Markdown("No training data is loaded on this server (weights/mnist-subset.safetensors, written by "
                    "`python -m train subset`), so this tab cannot train.")
        return
    n_train, n_test = len(subset["train"][0]), len(subset["test"][0])
    url = file_url(write_once(subset_bytes(subset), "mnist-subset", ".safetensors"))
    gr.Markdown(f"Train your own model here, in your browser, and watch its codes spread over the latent space: the "
                f"AE's arms, the VAE's round cloud. Your browser does all the work, so nobody waits for anybody. The "
                f"MNIST digits are a fixed random {n_train:,} of the training set (and {n_test:,} test digits for the "
                f"test loss and the map). Your model is then yours for this visit: Reconstruct, Sample and the latent "
                f"explorer show it too, and Download gives its folder as one .zip (mnist-vae/ or mnist-ae/ with "
                f"config.json, model.safetensors and test_latents.safetensors): unzip it into a folder F, then "
                f"`python app.py --weights F` serves it and `load_pretrained` reads it.")
    gr.HTML({"subset": url, "n_train": n_train, "n_test": n_test, "max_digits": min(TRAIN_DIGITS[1], n_train),
             "max_seed": MAX_SEED},
            html_template='<div class="tv"></div>', js_on_load=mount_js("train_view.js"), elem_id="train-view")
