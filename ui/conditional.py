"""Conditional VAE tab: ask for a digit and get it; draw a digit and see it written as every digit in the same style;
the style grid of one digit."""
import random

import gradio as gr
import torch

from vae_models import decode_grid
from vae_models.posterior import DecodedGrid, class_log_likelihoods

from .explorer import explorer, export, label_js, mount_js
from .inputs import MAX_SEED, Sketchpad, allowed_folders, choice, drawn_digit, handler, number, upload_digit
from .reconstruct import bits, from_bits, page_seq, uploading_js
from .pictures import to_picture
from .inputs import seed as checked_seed, validator

DIGITS = [str(k) for k in range(10)]
N_SAMPLES = (1, 100)  # the "how many" control's range: the slider and the check read it


def how_many(n):
    return number(n, "The number of samples", *N_SAMPLES, True)
EXAMPLE = 2  # the test digit the tab opens with, already read (Reconstruct opens with another)

INTRO = """The **conditional VAE** (CVAE) is the VAE with the digit's label y given to both halves, q(z|x, y) and
p(x|z, y): its 2-D code z no longer says *which* digit it is, only *how* it is written (slant, width, stroke). Ask for
a digit, or draw one and see it written as every digit, in your style."""
# under p(y|x): how the CVAE reads a digit
READING = ("Trained with the labels, the CVAE is also a (generative) classifier: with every digit equally likely, "
           "p(y|x) is proportional to p(x|y), which a 2-D latent lets us compute on a grid for each of the ten labels.")


def create_tab(demo, models, own):
    c = models.conditional
    if c is None:
        gr.Markdown("No conditional VAE is loaded on this server. With one, this tab samples the digit you ask for "
                    "and rewrites your drawing as every digit, in its style.")
        return
    model = c.model
    scans = [DecodedGrid(model.bind(k)) for k in range(model.n_classes)]
    folders = allowed_folders([models.example_folder] if models.examples else [])
    examples = [str(p) for p in models.examples]
    gr.Markdown(INTRO)

    gr.Markdown("### Ask for a digit")
    with gr.Row():
        digit = gr.Radio(DIGITS, value="3", label="digit", elem_id="cvae-digit")
        n_samples = gr.Slider(*N_SAMPLES, value=24, step=1, label="how many", elem_id="cvae-n")
        seed = gr.Number(value=0, precision=0, label="seed", minimum=0, maximum=MAX_SEED, elem_id="cvae-seed")
        new_seed = gr.Button("New seed")
    samples = gr.Image(label="z ~ N(0, I), decoded as the chosen digit", format="png", interactive=False,
                       elem_id="cvae-samples")

    gr.Markdown("### Your digit, written as every digit")
    with gr.Row():
        with gr.Column():
            sketch = Sketchpad(label="Draw a digit", elem_id="cvae-sketch", elem_classes=["digit-sketch"],
                               canvas_size=(280, 280), height=340, layers=False, transforms=(),
                               brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"))
            # the input and its code as every digit, drawn in the page while the visitor draws (reconstruct.js)
            start = {"part": "cvae", "tab": "cvae", "models": {"CVAE": export(c)}, "sketch": "#cvae-sketch",
                     "server_views": ["cvae-guess"], "x": None, "seq": 0, "message": "Draw a digit, or upload one."}
            live = gr.HTML(start, html_template='<div class="rc" data-part="cvae" data-tab="cvae"></div>',
                           elem_id="cvae-live", js_on_load=mount_js("reconstruct.js", ["stroke"]))
            upload = gr.Image(label="...or upload an image", type="filepath", image_mode=None, height=160,
                              sources=["upload", "clipboard"], elem_id="cvae-upload",
                              value=examples[EXAMPLE] if len(examples) > EXAMPLE else None)
        with gr.Column():
            guess = gr.Label(label="the CVAE's reading of it: p(y|x)", num_top_classes=3, elem_id="cvae-guess")
            gr.Markdown(READING, elem_classes=["caption"])
    with gr.Row(visible=False):  # the server's row and sentence, for API clients (/cvae_restyle_drawing, ..._upload)
        # no label badge: on a strip this thin it would cover the digits; the note under it says what it is
        restyled = gr.Image(label="as 0, 1, ..., 9", show_label=False, format="png", interactive=False,
                            elem_id="cvae-restyled", buttons=[])
        note = gr.Markdown()
        api_restyle = gr.Button()

    gr.Markdown("### The style manifold of one digit: hover the map of the test codes, or read the grid over "
                "[-2, 2]^2, every z decoded with the chosen label (the same z gives the same style for every digit)")
    grid_digit = gr.Radio(DIGITS, value="7", label="digit", elem_id="cvae-grid-digit")
    # hover the codes' map: the style under the pointer, decoded in the page as the chosen digit
    explorer(export(c), grid=(15, 2.0), label=7, elem_id="cvae-explorer")
    with gr.Row(visible=False):  # the server's style grid, for API clients (/cvae_style_grid)
        style_grid = gr.Image(format="png", interactive=False, elem_id="cvae-grid")
        api_only = gr.Button()

    @handler
    @torch.inference_mode()
    def cvae_sample(k, n, seed):
        k = int(choice(str(k), "The digit", DIGITS))
        n, seed = how_many(n), checked_seed(seed)
        z = model.sample_prior(n, torch.Generator().manual_seed(seed), y=k)
        return {samples: to_picture(model.decode(z, k).view(-1, *model.image_shape), nrow=min(n, 12), zoom=2)}

    @torch.inference_mode()
    def restyle(x, source):
        log_lik = class_log_likelihoods(model, torch.as_tensor(x), scans)
        probs = torch.softmax(log_lik, 0)
        best = int(probs.argmax())
        mu, _ = model.encode(torch.as_tensor(x).view(1, -1), torch.tensor([best]))
        every = model.decode(mu.expand(model.n_classes, -1), torch.arange(model.n_classes))
        strip = torch.cat([torch.as_tensor(x).view(1, *model.image_shape), every.view(-1, *model.image_shape)])
        return {guess: {DIGITS[k]: float(p) for k, p in enumerate(probs)},
                restyled: to_picture(strip, nrow=len(strip), zoom=3),
                note: (f"Input: {source} (left in the row). Read as {'an' if best == 8 else 'a'} {best} ({100 * probs[best]:.1f}%): its code z = "
                       f"({mu[0, 0]:.2f}, {mu[0, 1]:.2f}) from q(z|x, y = {best}), decoded with every label. "
                       f"log p(x|y = {best}) = {log_lik[best]:.1f} nats.")}

    @handler
    def cvae_restyle_drawing(drawing):
        x = drawn_digit(drawing, folders, sketch)
        if x is None:
            return {guess: None, restyled: None, note: "Draw a digit, or upload one."}
        return restyle(x, "your drawing")

    @handler
    def cvae_restyle_upload(payload):
        x, path = upload_digit(payload, folders)
        return restyle(x, "the uploaded image" + (", read as a photo of paper" if path == "photo" else ""))

    def page_value(x, source, seq):
        """The server's reading of an input the page shows: p(y|x), and the page's value with the input and the
        digit it was read as (the page decodes the code with every label itself)."""
        log_lik = class_log_likelihoods(model, torch.as_tensor(x), scans)
        probs = torch.softmax(log_lik, 0)
        best = int(probs.argmax())
        return {guess: {DIGITS[k]: float(p) for k, p in enumerate(probs)},
                live: {**start, "x": bits(x), "seq": seq, "source": source, "label": best, "message": None,
                       "log_lik": float(log_lik[best])}}

    @handler
    @torch.inference_mode()
    def cvae_stroke(evt: gr.EventData = None):
        data = evt._data if evt is not None and isinstance(evt._data, dict) else {}
        return page_value(from_bits(data), "your drawing", page_seq(data))

    @handler
    @torch.inference_mode()
    def cvae_upload_page(payload, page=None):
        """An upload (or its clearing) -> p(y|x) and the page's value; `page`: the number the page gave this input
        (uploading_js), 0 for the example the page opens with."""
        if payload is None:  # the upload was cleared
            return {guess: None, live: {**start, "seq": page_seq(page)}}
        x, path = upload_digit(payload, folders)
        return page_value(x, "the uploaded image" + (", read as a photo of paper" if path == "photo" else ""),
                          page_seq(page))

    def after_error(by):
        """A failed input: no reading, and the page says why (taken only for the page's latest request, as in
        Reconstruct)."""
        return lambda: {guess: None, live: {**start, "failed": by, "message": "No reading: that input could not be "
                                            "read (the message in the corner says why). Draw a digit, or upload "
                                            "another image."}}

    @handler
    def cvae_style_grid(k):
        k = int(choice(str(k), "The digit", DIGITS))
        return {style_grid: to_picture(decode_grid(model, 15, 2.0, y=k), nrow=15)}

    sample_inputs = [digit, n_samples, seed]
    checks = validator(None, how_many, checked_seed)  # a bad seed's sentence once, under the seed box
    for trigger in (digit.change, n_samples.release, seed.submit):
        trigger(cvae_sample, sample_inputs, samples, api_name=False, preprocess=False, validator=checks)
    new_seed.click(lambda: random.randrange(10**6), None, seed, api_name=False).then(
        cvae_sample, sample_inputs, samples, api_name=False, preprocess=False, validator=checks)
    demo.load(cvae_sample, sample_inputs, samples, api_name="cvae_sample", preprocess=False)
    restyle_outputs = [guess, restyled, note]
    # the page: a stroke computed in the browser, one request when it ends for p(y|x); an upload read by the server
    live.stroke(cvae_stroke, None, [guess, live], api_name=False, trigger_mode="multiple",
                concurrency_id="images").failure(after_error("stroke"), None, [guess, live], api_name=False, queue=False)
    # each upload (or clearing) is a new input the page numbers first, so that a late answer is told apart
    upload.change(cvae_upload_page, [upload, live], [guess, live], api_name=False, preprocess=False,
                  js=uploading_js("cvae", ["u"]), concurrency_id="images").failure(
        after_error("upload"), None, [guess, live], api_name=False, queue=False)
    if len(examples) > EXAMPLE:
        demo.load(cvae_upload_page, upload, [guess, live], api_name=False, preprocess=False)  # the example digit
    # API clients: the same endpoints as ever
    api_restyle.click(cvae_restyle_drawing, sketch, restyle_outputs, api_name="cvae_restyle_drawing",
                      preprocess=False, concurrency_id="images")
    api_restyle.click(cvae_restyle_upload, upload, restyle_outputs, api_name="cvae_restyle_upload", preprocess=False,
                      concurrency_id="images")
    grid_digit.change(None, grid_digit, None, js=label_js("cvae-explorer"))
    api_only.click(cvae_style_grid, grid_digit, style_grid, api_name="cvae_style_grid", preprocess=False)
