"""Reconstruct tab: draw or upload a digit; see what the models see, both reconstructions, the loss terms and the
codes on both maps."""
import gradio as gr
import numpy as np
import torch

from vae_models import loss_function

from .explorer import export, mount_js
from .inputs import InputError, Sketchpad, allowed_folders, drawn_digit, handler, upload_digit
from .pictures import digit_picture, draw_map, labelled_strip, to_picture
from .posterior import posterior_view

ELBO_SAMPLES = 100  # L for the per-input negative ELBO


@torch.inference_mode()
def encode_digit(model, x):
    """x (784,) -> mu (2,), sigma (2,) (zeros for the AE), logvar (1, 2) or None."""
    mu, logvar = model.encode(torch.as_tensor(x).view(1, -1))
    sigma = torch.zeros_like(mu) if logvar is None else torch.exp(0.5 * logvar)
    return mu[0], sigma[0], logvar


@torch.inference_mode()
def digit_report(explorers, x):
    """For one input (784,) in {0, 1}: each model's reconstruction, its loss terms, and its place on the map."""
    xt = torch.as_tensor(x).view(1, -1)  # a batch of one image
    out = {}
    for name, explorer in explorers.items():
        model = explorer.model
        mu, sigma, logvar = encode_digit(model, x)
        if model.is_vae:
            z = model.sample(mu[None], logvar, ELBO_SAMPLES, generator=torch.Generator().manual_seed(0))
            _, bce, kld = loss_function(model.decode_logits(z), xt, mu[None], logvar)
            # a few of those z decoded: the VAE's answer is a distribution, not one picture
            draws = to_picture(model.decode(z[:8, 0]).view(-1, *model.image_shape), nrow=8, zoom=2)
        else:
            _, bce, kld = loss_function(model.decode_logits(mu[None, None]), xt, mu[None], None)
            draws = None
        ellipse = (mu.tolist(), sigma.tolist()) if model.is_vae else None
        out[name] = dict(recon=digit_picture(model.decode(mu)), bce=bce.item(), kld=kld.item(), mu=mu.tolist(),
                         sigma=sigma.tolist(), map=draw_map(explorer.map, points=[mu.tolist()], ellipse=ellipse),
                         draws=draws)
        if model.is_vae and model.latent_size == 2:
            view, log_px, window = posterior_view(explorer, x, mu, sigma)
            out[name].update(posterior=view, log_px=log_px, window=window)
    return out


@torch.inference_mode()
def every_model(spectrum, x):
    """The input and its reconstruction (decoded at the code, or q's mean) by every shipped model of the spectrum, in
    a row. The visitor's own model never reaches the server: the page draws it beside the AE and the VAE."""
    xt = torch.as_tensor(x).view(1, -1)  # a batch of one image
    images, captions = [xt.view(1, 28, 28)], ["input"]
    models = [(name.replace("VAE beta=", "beta "), e.model) for name, e in spectrum.items()]
    for name, model in models:
        images.append(model.decode(model.encode(xt)[0]).view(model.image_shape))
        captions.append(name)
    return labelled_strip(torch.stack(images), captions)


def verdict(vae_report, floor):
    """One sentence when the VAE's log p(x) of the input is below its floor (the test set's 0.1% quantile), else ""."""
    if floor is None or "log_px" not in vae_report or vae_report["log_px"] >= floor:
        return ""
    return (f"**This does not look like a digit to the VAE**: its log p(x) is {vae_report['log_px']:.0f} nats, below "
            f"what 99.9% of MNIST's test digits reach ({floor:.0f}); the results are what the models make of it "
            f"anyway.\n\n")


def report_table(report, source, floor=None):
    ae, vae = report["AE"], report["VAE"]
    return (
        f"**Input: {source}.**\n\n" + verdict(vae, floor) +
        "| | code z | sigma | BCE | KL | −ELBO |\n|---|---|---|---|---|---|\n"
        f"| AE | ({ae['mu'][0]:.2f}, {ae['mu'][1]:.2f}) | - | {ae['bce']:.1f} | - | - |\n"
        f"| VAE | ({vae['mu'][0]:.2f}, {vae['mu'][1]:.2f}) | ({vae['sigma'][0]:.2f}, {vae['sigma'][1]:.2f}) "
        f"| {vae['bce']:.1f} | {vae['kld']:.2f} | {vae['bce'] + vae['kld']:.1f} |\n\n"
        f"In nats; −ELBO = BCE + KL; the VAE's BCE averages L = {ELBO_SAMPLES} samples z ~ q(z|x)."
    )


def posterior_line(vae):
    """The one line under the posterior view: log p(x), the ELBO and their gap."""
    if "log_px" not in vae:
        return ""
    elbo = -(vae["bce"] + vae["kld"])
    return (f"Colour: the true p(z|x); white: q(z|x). log p(x) = {vae['log_px']:.1f} nats (quadrature), ELBO = "
            f"{elbo:.1f}, gap KL(q || p) = {vae['log_px'] - elbo:.1f}.")


def every_line(spectrum):
    """The row's caption, naming the loaded spectrum's ends, and where the visitor's own model is shown instead."""
    last = max((e.beta for e in spectrum.values() if e.beta is not None), default=None)
    return ("Reconstructed by every shipped model, from the AE (no KL term)" + (f" to beta {last:g}" if last else "") +
            ". A model you train on the Train tab is shown beside the AE and the VAE under the drawing, and in the "
            "table.")


def bits(x):
    """A 28x28 input in {0, 1} -> 196 hex digits (4 pixels each, row by row): how it travels to and from the page."""
    flat = (np.asarray(x).reshape(-1) > 0.5).astype(np.uint8)
    return "".join(f"{(a << 3) | (b << 2) | (c << 1) | d:x}" for a, b, c, d in flat.reshape(-1, 4))


def page_seq(data):
    """The number the page gave the input it asks about (ui/static/answers.js), echoed in the answer; 0 when none."""
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**31 else 0


def uploading_js(tab, before):
    """An upload event's page-side step (its `js`), run before the request: the view of `tab` (reconstruct.js) numbers
    the new input, and the number goes to the server as the last input in place of the page's value. `before`: the
    names of the inputs before it."""
    params = ", ".join([*before, "v"])
    return (f"({params}) => {{ const w = (window.vaeExplorerViews || {{}})['{tab}']; "
            f"return [{''.join(a + ', ' for a in before)}w ? w.uploading() : v]; }}")


def from_bits(data):
    """The page's 196 hex digits -> the (784,) float32 input, or InputError in one sentence."""
    text = data.get("x") if isinstance(data, dict) else None
    if not isinstance(text, str) or len(text) != 196 or any(c not in "0123456789abcdef" for c in text):
        raise InputError("Expected the page's 28x28 input: 196 hexadecimal digits.")
    return np.array([(int(c, 16) >> (3 - b)) & 1 for c in text for b in range(4)], np.float32)


@torch.inference_mode()
def page_numbers(explorers, x):
    """What the page computes itself, computed here for a page that could not load a model file: per model its code,
    log-variance, reconstruction and loss terms (BCE at the code for the AE, averaged over 100 draws for the VAE)."""
    report = {}
    for name in ("AE", "VAE"):
        model = explorers[name].model
        xt = torch.as_tensor(x).view(1, -1)
        mu, logvar = model.encode(xt)
        if model.is_vae:
            z = model.sample(mu, logvar, ELBO_SAMPLES, generator=torch.Generator().manual_seed(0))
            _, bce, kld = loss_function(model.decode_logits(z), xt, mu, logvar)
        else:
            _, bce, kld = loss_function(model.decode_logits(mu[None]), xt, mu, None)
        report[name] = dict(mu=mu[0].tolist(), logvar=None if logvar is None else logvar[0].tolist(),
                            recon=[round(v, 4) for v in model.decode(mu)[0].view(-1).tolist()], bce=bce.item(),
                            kl=kld.item() if model.is_vae else None,
                            negElbo=(bce + kld).item() if model.is_vae else None)
    return report


ABOUT = f"""**Input, AE, VAE**: what the models see (your drawing or upload reduced to 28x28 black and white, as MNIST
was binarised) and each model's reconstruction, decoded at the code z (for the VAE, q(z|x)'s mean); a model you train
on the Train tab joins them there, and the table, computed in your browser.

**The table**: BCE is the reconstruction term, KL = KL(q(z|x) || N(0, I)) the VAE's second term, −ELBO their sum, the
negative evidence lower bound the VAE was trained on. The VAE's BCE is averaged over L = {ELBO_SAMPLES} samples
z ~ q(z|x); the AE's is at its single code.

**The true posterior**: with a 2-D z, p(x) = ∫ p(x|z) p(z) dz can be computed on a grid, so p(z|x) itself can be
drawn (colour) under the encoder's Gaussian q(z|x) (white ellipses: 1 and 2 sigma; blue cross: its mean). The gap
log p(x) − ELBO is KL(q(z|x) || p(z|x)): how far the encoder's answer is from the truth. When log p(x) is below what
99.9% of MNIST's test digits reach (`python -m train.likelihood` computes that floor), the page says the input does not
look like a digit to the VAE.

**The maps**: the 10,000 test digits' codes, coloured by digit. The red cross marks this input's code (at the map's
edge if it lies outside); the red ellipse is the VAE's 2-sigma posterior, often smaller than the cross. A 2-D code
cannot keep every digit apart: 4 and 9, 3, 5 and 8 overlap on both maps, so a drawn 4 may come back as a 9."""


def results(explorers, spectrum, x, source):
    """One input (784,) in {0, 1} -> every output of the tab, by name."""
    report = digit_report(explorers, x)
    ae, vae = report["AE"], report["VAE"]
    return dict(seen=digit_picture(x), ae_recon=ae["recon"], vae_recon=vae["recon"],
                numbers=report_table(report, source, explorers["VAE"].log_px_floor), ae_map=ae["map"],
                vae_map=vae["map"], vae_draws=vae["draws"], posterior=vae.get("posterior"),
                every=every_model(spectrum, x), posterior_note=posterior_line(vae), every_note=every_line(spectrum))


def cleared(explorers, spectrum, numbers):
    """Every output emptied (the maps without marks), with `numbers` in place of the table."""
    return dict(seen=None, ae_recon=None, vae_recon=None, numbers=numbers, ae_map=explorers["AE"].map.image,
                vae_map=explorers["VAE"].map.image, vae_draws=None, posterior=None, every=None, posterior_note="",
                every_note=every_line(spectrum))


def live_part(part, value=None, **kwargs):
    """A part of the page's own view of this tab (ui/static/reconstruct.js): "input" (holds the server's value and
    fires "stroke" when a stroke ends), "numbers" or "maps". Which part it is lives in its template, not in its value:
    the server's answers replace the value, and the page's first answer (the example's) can come before the module
    that mounts the part."""
    return gr.HTML({**(value or {}), "part": part, "tab": "reconstruct"},
                   html_template=f'<div class="rc" data-part="{part}" data-tab="reconstruct"></div>',
                   js_on_load=mount_js("reconstruct.js", ["stroke"] if part == "input" else ()),
                   elem_classes=["rc-part"], **kwargs)


def create_tab(demo, models, own):
    explorers, folders = models.explorers, allowed_folders([models.example_folder] if models.examples else [])
    examples = [str(p) for p in models.examples]
    # what the page needs to compute itself: each model's files (every layer) and map, and where its sketchpad is
    described = {name: export(explorers[name]) for name in ("AE", "VAE")}
    server_views = ["posterior", "posterior-note", "every-model", "every-note"]
    start = dict(models=described, sketch="#sketch", server_views=server_views, x=None, seq=0,
                 message="Draw a digit, or upload one.")
    with gr.Row():
        with gr.Column():
            # a thick brush: a stroke must survive the reduction of 280x280 to 28x28
            sketch = Sketchpad(label="Draw a digit", elem_id="sketch", elem_classes=["digit-sketch"],
                               canvas_size=(280, 280), height=340, layers=False, transforms=(),
                               brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"))
            # the key result right under the input, drawn in the page while the visitor draws
            live = live_part("input", start, elem_id="live-input")
            gr.Markdown("What the models see (28x28, black and white) and what each gives back, computed in your "
                        "browser as you draw.", elem_classes=["caption"])
            upload = gr.Image(label="...or upload an image", elem_id="upload", type="filepath", image_mode=None,
                              sources=["upload", "clipboard"], height=200,
                              value=examples[7] if len(examples) > 7 else None)
            example_set = gr.Examples(examples=[[p] for p in examples], inputs=[upload],
                                      label="MNIST test digits") if examples else None
        with gr.Column():
            live_part("numbers", elem_id="live-numbers")
            posterior = gr.Image(label="VAE: p(z|x), q(z|x)", height=240, format="png", interactive=False,
                                 elem_id="posterior", buttons=[])
            posterior_note = gr.Markdown(elem_id="posterior-note", elem_classes=["caption"])
            # no label badge over this thin strip: each digit has its model's name under it
            every = gr.Image(label="every shipped model", show_label=False, buttons=[],
                             format="png", interactive=False, elem_id="every-model")
            every_note = gr.Markdown(every_line(models.spectrum), elem_id="every-note", elem_classes=["caption"])
            live_part("maps", elem_id="live-maps")
            gr.Markdown("Red cross: the input's code; red ellipse: the VAE's 2-sigma q(z|x).",
                        elem_classes=["caption"])
            with gr.Accordion("about this view", open=False):
                gr.Markdown(ABOUT)
    # The server's own pictures of what the page draws, for API clients (/reconstruct_drawing, /reconstruct_upload)
    with gr.Row(visible=False):
        small = dict(format="png", interactive=False)
        seen, ae_recon, vae_recon = (gr.Image(**small) for _ in range(3))
        numbers = gr.Markdown()
        ae_map, vae_map, vae_draws = (gr.Image(**small) for _ in range(3))
        api_only = gr.Button()
    components = dict(seen=seen, ae_recon=ae_recon, vae_recon=vae_recon, numbers=numbers, ae_map=ae_map,
                      vae_map=vae_map, vae_draws=vae_draws, posterior=posterior, every=every,
                      posterior_note=posterior_note, every_note=every_note)
    outputs = list(components.values())  # the API's order: new outputs go at the end
    page_outputs = [live, posterior, posterior_note, every, every_note]

    def by_component(named):
        return {components[k]: v for k, v in named.items()}

    @handler
    def reconstruct_drawing(drawing):
        x = drawn_digit(drawing, folders, sketch)
        if x is None:  # a cleared canvas: reset quietly
            return by_component(cleared(explorers, models.spectrum, "Draw a digit, or upload one."))
        return by_component(results(explorers, models.spectrum, x, "your drawing"))

    @handler
    def reconstruct_upload(payload):
        x, path = upload_digit(payload, folders)
        return by_component(results(explorers, models.spectrum, x, upload_source(path)))

    def upload_source(path):
        return "the uploaded image" + (", read as a photo of paper (lighting flattened, printed lines and specks "
                                       "removed)" if path == "photo" else "")

    def heavy(x, source, seq, full=False):
        """The server's views of an input the page shows: the true posterior and its line, every model's row, the
        "not a digit" judgement; the page's value with the input (and, for a page without a model file, the
        numbers it would have computed)."""
        vae_report = {}
        vae = explorers["VAE"]
        if vae.model.latent_size == 2:
            mu, sigma, logvar = encode_digit(vae.model, x)
            z = vae.model.sample(mu[None], logvar, ELBO_SAMPLES, generator=torch.Generator().manual_seed(0))
            _, bce, kld = loss_function(vae.model.decode_logits(z), torch.as_tensor(x).view(1, -1), mu[None], logvar)
            view, log_px, _ = posterior_view(vae, x, mu, sigma)
            vae_report = dict(bce=bce.item(), kld=kld.item(), log_px=log_px)
        floor = vae.log_px_floor
        judged = floor is not None and "log_px" in vae_report and vae_report["log_px"] < floor
        value = dict(start, x=bits(x), seq=seq, source=source, message=None,
                     verdict=(f"its log p(x) is {vae_report['log_px']:.0f} nats, below what 99.9% of MNIST's test "
                              f"digits reach ({floor:.0f}); the results are what the models make of it anyway."
                              if judged else ""),
                     computed=page_numbers(explorers, x) if full else None)
        return {live: value, posterior: view if vae_report else None, posterior_note: posterior_line(vae_report),
                every: every_model(models.spectrum, x), every_note: every_line(models.spectrum)}

    @handler
    @torch.inference_mode()
    def stroke(evt: gr.EventData = None):
        """A stroke ended in the page: its 28x28 input (196 hex digits) -> the server's heavier views."""
        data = evt._data if evt is not None and isinstance(evt._data, dict) else {}
        return heavy(from_bits(data), "your drawing", page_seq(data), full=data.get("full") is True)

    @handler
    @torch.inference_mode()
    def upload_page(payload, page=None):
        """An upload (or an example) -> the page's value with its 28x28 input and the server's views; `page`: the
        number the page gave this input (uploading_js), 0 for the example the page opens with."""
        x, path = upload_digit(payload, folders)
        return heavy(x, upload_source(path), page_seq(page))

    def after_error(by):
        """A failed input's results would belong to the previous one: cleared, and the page says why. The server cannot
        tell which request failed; `failed` says what kind it was, and the page takes this answer only if its latest
        request was of that kind and for the input it shows."""
        def after_error_page():
            return {live: dict(start, failed=by, message="No results: that input could not be read (the message in the "
                                                        "corner says why). Draw a digit, or upload another image."),
                    posterior: None, posterior_note: "", every: None,
                    every_note: every_line(models.spectrum)}
        return after_error_page

    def after_clear_page(page=None):
        return {live: dict(start, seq=page_seq(page)), posterior: None, posterior_note: "", every: None,
                every_note: every_line(models.spectrum)}

    # The page: a stroke is computed in the browser; when it ends, one request for the server's heavier views. The page
    # sends one at a time itself (reconstruct.js): gradio's "always_last" would replay the first stroke's data.
    live.stroke(stroke, None, page_outputs, api_name=False, trigger_mode="multiple",
                concurrency_id="images").failure(after_error("stroke"), None, page_outputs, api_name=False, queue=False)
    # .upload, not .change: a change fired twice for each upload, and each ran the whole reconstruction. Each upload
    # (or example, or clear) is a new input the page numbers first (uploading_js), so that its answer is told apart
    # from a late answer to an older input.
    numbered = uploading_js("reconstruct", ["u"])
    upload.upload(upload_page, [upload, live], page_outputs, api_name=False, preprocess=False, js=numbered,
                  concurrency_id="images").failure(after_error("upload"), None, page_outputs, api_name=False, queue=False)
    upload.clear(after_clear_page, live, page_outputs, api_name=False, queue=False, preprocess=False,
                 js=uploading_js("reconstruct", []))
    if example_set is not None:  # a click on an example sets the upload (no upload event): reconstruct it
        example_set.load_input_event.then(upload_page, [upload, live], page_outputs, api_name=False, js=numbered,
                                          preprocess=False, concurrency_id="images")
        demo.load(upload_page, upload, page_outputs, api_name=False, preprocess=False)  # the example
    # API clients: the same endpoints as ever, every picture drawn by the server
    api_only.click(reconstruct_drawing, sketch, outputs, api_name="reconstruct_drawing", preprocess=False,
                   concurrency_id="images")
    api_only.click(reconstruct_upload, upload, outputs, api_name="reconstruct_upload", preprocess=False,
                   concurrency_id="images")
