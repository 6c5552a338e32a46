"""Sample tab: digits decoded from z ~ N(0, I), the same z for the AE and the VAE."""
import random

import gradio as gr
import torch

from vae_models.code_density import sample_code_density

from .explorer import mount_js
from .inputs import MAX_SEED, handler, number, seed as checked_seed, validator
from .pictures import to_picture
from .training import own_model

N_SAMPLES = (1, 400)  # the "how many" control's range: the slider and the check read it


@torch.inference_mode()
def samples_for(model, n, seed, density=None):
    """n decodes of z ~ N(0, I), or of z from a fitted code density, drawn with `seed`, as one grid picture."""
    g = torch.Generator().manual_seed(seed)
    z = model.sample_prior(n, g) if density is None else sample_code_density(density, n, g)
    # a few samples are drawn larger: a single 28x28 sample at zoom 2 would be a stamp
    return to_picture(model.decode(z).view(-1, *model.image_shape), zoom=6 if n <= 4 else 4 if n <= 16 else 2)


def samples(explorers, n, seed, yours=None):
    """Every picture of the tab for n samples drawn with `seed`, by name; the visitor's model's picture names it."""
    n, seed = how_many(n), checked_seed(seed)
    ae = explorers["AE"]
    return dict(ae=samples_for(ae.model, n, seed), vae=samples_for(explorers["VAE"].model, n, seed),
                ae_mixture=samples_for(ae.model, n, seed, ae.density) if ae.density is not None else None,
                own=samples_for(yours.model, n, seed) if yours is not None else None,
                own_note=own_line(yours))


def how_many(n):
    return number(n, "The number of samples", *N_SAMPLES, True)


def own_line(yours=None):
    return (f"Yours: {yours.name}, the same z." if yours is not None else
            "Yours: train a model on the Train tab, and it samples the same z here.")


def look_for(density=None):
    """The sentence under the pictures; the middle picture's part only when the AE has its fitted code density."""
    line = ("What to look for: the VAE's samples look like digits of every class, because the KL term made its codes "
            "fill the prior; the AE's codes do not, so its prior samples are the few digits near the origin and blurs.")
    if density is not None:
        line += (f" The middle picture samples the AE where its codes really are (a mixture of "
                 f"{len(density['weights'])} Gaussians fitted to its training codes after training): then the plain "
                 f"AE generates digits too.")
    return line


def create_tab(demo, models, own):
    explorers = models.explorers
    gr.Markdown("The AE and the VAE decode the same points z, drawn from the prior N(0, I) with the seed below.")
    with gr.Row():
        n_samples = gr.Slider(*N_SAMPLES, value=64, step=1, label="how many", elem_id="sample-n")
        seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed", minimum=0, maximum=MAX_SEED)
        new_seed = gr.Button("New seed")
        sample_btn = gr.Button("Sample z ~ N(0, I)", variant="primary")
    with gr.Row():
        ae_samples = gr.Image(label="AE, z ~ N(0, I)", format="png", interactive=False, elem_id="ae-samples")
        ae_mixture = gr.Image(label="AE, z ~ mixture of its codes", format="png", interactive=False,
                              elem_id="ae-mixture", visible=explorers["AE"].density is not None)
        vae_samples = gr.Image(label="VAE, z ~ N(0, I)", elem_id="vae-samples", format="png", interactive=False)
        with gr.Column(min_width=160):
            # a model trained in the page (the Train tab) samples in the page (ui/static/samples.js)
            gr.HTML({}, html_template='<div class="sm"></div>', js_on_load=mount_js("samples.js"),
                    elem_id="own-samples-page")
            # the server's picture of the visitor's model, kept for API clients (/sample's 4th and 5th outputs); the
            # server holds no visitor's model (training.own_model), so on the page it would be an empty box
            own_samples = gr.Image(label="yours", elem_id="own-samples", format="png", interactive=False,
                                   visible=False)
            own_note = gr.Markdown(own_line(), elem_id="own-note", elem_classes=["caption"], visible=False)
    # what the pictures show, under them: on a phone the pictures come first
    gr.Markdown(look_for(explorers["AE"].density), elem_classes=["caption"])

    @handler
    def sample(n, seed, yours=None):
        yours = own_model(yours)
        out = samples(explorers, n, seed, yours)
        return {ae_samples: out["ae"], vae_samples: out["vae"], ae_mixture: out["ae_mixture"],
                own_samples: out["own"], own_note: out["own_note"]}

    outputs = [vae_samples, ae_samples, ae_mixture, own_samples, own_note]  # the API's order: new ones at the end
    inputs = [n_samples, seed, own]
    checks = validator(how_many, checked_seed, None)  # a bad seed's sentence once, under the seed box
    sample_btn.click(sample, inputs, outputs, api_name=False, preprocess=False, validator=checks)
    # API clients: the same endpoint as ever, its bad values refused with the same sentence as an error (a
    # validator's refusal reaches them as a bare 422)
    gr.Button(visible=False).click(sample, inputs, outputs, api_name="sample", preprocess=False)
    for trigger in (n_samples.release, seed.submit):  # Enter in the seed box, or the slider let go, samples again
        trigger(sample, inputs, outputs, api_name=False, preprocess=False, trigger_mode="always_last", validator=checks)
    new_seed.click(lambda: random.randrange(10**6), None, seed, api_name=False).then(
        sample, inputs, outputs, api_name=False, preprocess=False, validator=checks)
    demo.load(sample, inputs, outputs, api_name=False, preprocess=False, validator=checks)
