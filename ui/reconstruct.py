"""Reconstruct tab: draw or upload a digit; see what the models see, both reconstructions, the loss terms and the
codes on both maps."""
import gradio as gr
import torch

from vae_models import loss_function

from .inputs import Sketchpad, allowed_folders, drawn_digit, handler, upload_digit
from .pictures import digit_picture, draw_map, labelled_strip, to_picture
from .posterior import posterior_view
from .training import own_model

ELBO_SAMPLES = 100  # L for the per-input negative ELBO


@torch.inference_mode()
def encode_digit(model, x):
    """x (784,) -> mu (2,), sigma (2,) (zeros for the AE), logvar (1, 2) or None."""
    mu, logvar = model.encode(torch.as_tensor(x).view(1, 784))
    sigma = torch.zeros_like(mu) if logvar is None else torch.exp(0.5 * logvar)
    return mu[0], sigma[0], logvar


@torch.inference_mode()
def digit_report(explorers, x):
    """For one input (784,) in {0, 1}: each model's reconstruction, its loss terms, and its place on the map."""
    xt = torch.as_tensor(x).view(1, 784)
    out = {}
    for name, explorer in explorers.items():
        model = explorer.model
        mu, sigma, logvar = encode_digit(model, x)
        if model.is_vae:
            z = model.sample(mu[None], logvar, ELBO_SAMPLES, generator=torch.Generator().manual_seed(0))
            _, bce, kld = loss_function(model.decode_logits(z), xt, mu[None], logvar)
            # a few of those z decoded: the VAE's answer is a distribution, not one picture
            draws = to_picture(model.decode(z[:8, 0]).view(-1, 1, 28, 28), nrow=8, zoom=2)
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
def every_model(spectrum, x, own=None):
    """The input and its reconstruction (decoded at the code, or q's mean) by every model of the spectrum, in a row,
    and by the visitor's own model (trained in the Train tab) last."""
    xt = torch.as_tensor(x).view(1, 784)
    images, captions = [xt.view(1, 28, 28)], ["input"]
    models = [(name.replace("VAE beta=", "beta "), e.model) for name, e in spectrum.items()]
    for name, model in models + ([("yours", own.model)] if own is not None else []):
        images.append(model.decode(model.encode(xt)[0]).view(1, 28, 28))
        captions.append(name)
    return labelled_strip(torch.stack(images), captions)


def report_table(report, source):
    ae, vae = report["AE"], report["VAE"]
    table = (
        f"**Input: {source}.**\n\n"
        "| | code z | sigma | BCE | KL | −ELBO |\n|---|---|---|---|---|---|\n"
        f"| AE | ({ae['mu'][0]:.2f}, {ae['mu'][1]:.2f}) | - | {ae['bce']:.1f} | - | - |\n"
        f"| VAE | ({vae['mu'][0]:.2f}, {vae['mu'][1]:.2f}) | ({vae['sigma'][0]:.2f}, {vae['sigma'][1]:.2f}) "
        f"| {vae['bce']:.1f} | {vae['kld']:.2f} | {vae['bce'] + vae['kld']:.1f} |\n\n"
        "In nats: BCE is the reconstruction term, −ELBO the negative ELBO (BCE + KL); for the VAE the code is "
        "q(z|x)'s mean.\n\n"
    )
    if "log_px" in vae:
        (lo1, lo2), (hi1, hi2) = vae["window"]
        table += (f"**The VAE's true posterior** p(z|x) is the colour in the small square view (white ellipses: "
                  f"q(z|x)'s 1 and 2 sigma; blue cross: its mean): log p(x) = {vae['log_px']:.1f} nats by "
                  f"quadrature, ELBO = {-(vae['bce'] + vae['kld']):.1f}, and their gap, KL(q(z|x) || p(z|x)), "
                  f"{vae['log_px'] + vae['bce'] + vae['kld']:.1f} nats. The view shows z1 in [{lo1:.2f}, {hi1:.2f}], "
                  f"z2 in [{lo2:.2f}, {hi2:.2f}].\n\n")
    return table + (
        f"The VAE's BCE is averaged over L = {ELBO_SAMPLES} samples z ~ q(z|x); the AE's is at its single code. "
        "The red cross marks the code (at the map's edge if it lies outside); the red ellipse is the VAE's 2-sigma "
        "posterior, often smaller than the cross. A 2-D code cannot keep every digit apart: 4 and 9, 3, 5 and 8 "
        "overlap on both maps, so a drawn 4 may come back as a 9. The row of every model runs from the AE (no KL "
        "term) to the VAE whose KL term weighs most (beta 4), then your own model once you have trained one (Train "
        "tab)."
    )


def create_tab(demo, models, own):
    explorers, folders = models.explorers, allowed_folders([models.example_folder] if models.examples else [])
    examples = [str(p) for p in models.examples]
    with gr.Row():
        with gr.Column():
            # a thick brush: a stroke must survive the reduction of 280x280 to 28x28
            sketch = Sketchpad(label="Draw a digit", elem_id="sketch", elem_classes=["digit-sketch"],
                               canvas_size=(280, 280),
                                  height=340, layers=False, transforms=(),
                                  brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"))
            # the key result right under the input: on a phone the columns stack, and this stays in view
            with gr.Row():
                # min_width: the three stay side by side on a phone, the input between its reconstructions' reach
                # (no buttons on these three: on a phone they would cover the labels)
                small = dict(height=160, format="png", interactive=False, min_width=60, buttons=[])
                seen = gr.Image(label="Input, 28x28", elem_id="seen", **small)
                ae_recon = gr.Image(label="AE", **small)
                vae_recon = gr.Image(label="VAE", **small)
            upload = gr.Image(label="...or upload an image", elem_id="upload", type="filepath", image_mode=None,
                              sources=["upload", "clipboard"], height=200,
                              value=examples[7] if len(examples) > 7 else None)
            if examples:
                gr.Examples(examples=[[p] for p in examples], inputs=[upload], label="MNIST test digits")
        with gr.Column():
            numbers = gr.Markdown(elem_id="numbers")
            with gr.Row():
                vae_draws = gr.Image(label="VAE: 8 decodes of z ~ q(z|x)", height=120, format="png",
                                     interactive=False, scale=2)
                posterior = gr.Image(label="VAE: p(z|x), q(z|x)", height=240,
                                     format="png", interactive=False, elem_id="posterior", scale=1)
            # no label badge over this thin strip: each digit has its model's name under it
            every = gr.Image(label="every model: AE, beta 0.1 ... 4, yours", show_label=False, buttons=[],
                             format="png", interactive=False, elem_id="every-model")
            with gr.Row():
                ae_map = gr.Image(label="AE latent space", value=explorers["AE"].map.image, format="png",
                                  interactive=False)
                vae_map = gr.Image(label="VAE latent space", value=explorers["VAE"].map.image, format="png",
                                   interactive=False)
    outputs = [seen, ae_recon, vae_recon, numbers, ae_map, vae_map, vae_draws, posterior, every]

    def show(x, source, yours):
        report = digit_report(explorers, x)
        return {seen: digit_picture(x), ae_recon: report["AE"]["recon"], vae_recon: report["VAE"]["recon"],
                numbers: report_table(report, source), ae_map: report["AE"]["map"],
                vae_map: report["VAE"]["map"], vae_draws: report["VAE"]["draws"],
                posterior: report["VAE"].get("posterior"), every: every_model(models.spectrum, x, yours)}

    @handler
    def reconstruct_drawing(drawing, yours=None):
        yours = own_model(yours)
        x = drawn_digit(drawing, folders, sketch)
        if x is None:  # a cleared canvas: reset quietly
            return {seen: None, ae_recon: None, vae_recon: None, numbers: "Draw a digit, or upload one.",
                    ae_map: explorers["AE"].map.image, vae_map: explorers["VAE"].map.image, vae_draws: None,
                    posterior: None, every: None}
        return show(x, "your drawing", yours)

    @handler
    def reconstruct_upload(payload, yours=None):
        yours = own_model(yours)
        x, path = upload_digit(payload, folders)
        return show(x, "the uploaded image" + (", read as a photo of paper (lighting flattened, printed lines and "
                                               "specks removed)" if path == "photo" else ""), yours)

    sketch.change(reconstruct_drawing, [sketch, own], outputs, api_name="reconstruct_drawing", preprocess=False,
                  trigger_mode="always_last", concurrency_id="images")
    upload.change(reconstruct_upload, [upload, own], outputs, api_name="reconstruct_upload", preprocess=False,
                  concurrency_id="images")
    if examples:
        demo.load(reconstruct_upload, [upload, own], outputs, api_name=False, preprocess=False)  # the example
