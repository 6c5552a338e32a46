"""Sample tab: digits decoded from z ~ N(0, I), the same z for the AE and the VAE."""
import random

import gradio as gr
import torch

from vae_models.code_density import sample_code_density

from .inputs import MAX_SEED, handler, number
from .pictures import to_picture
from .training import own_model


@torch.inference_mode()
def samples_for(model, n, seed, density=None):
    """n decodes of z ~ N(0, I), or of z from a fitted code density, drawn with `seed`, as one grid picture."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_size, generator=g) if density is None else sample_code_density(density, n, g)
    # a few samples are drawn larger: a single 28x28 sample at zoom 2 would be a stamp
    return to_picture(model.decode(z).view(-1, 1, 28, 28), zoom=6 if n <= 4 else 4 if n <= 16 else 2)


def create_tab(demo, models, own):
    explorers = models.explorers
    gr.Markdown("The AE and the VAE decode the same points z drawn from the prior N(0, I). What to look for: the "
                "VAE's samples look like digits of every class, because the KL term made its codes fill the prior; "
                "the AE's codes do not, so its prior samples are the few digits near the origin and blurs. The third "
                "picture samples the AE where its codes really are (a mixture of 10 Gaussians fitted to its "
                "training codes after training): then the plain AE generates digits too.")
    with gr.Row():
        n_samples = gr.Slider(1, 400, value=64, step=1, label="how many")
        seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed", minimum=0, maximum=MAX_SEED)
        new_seed = gr.Button("New seed")
        sample_btn = gr.Button("Sample z ~ N(0, I)", variant="primary")
    with gr.Row():
        ae_samples = gr.Image(label="AE, z ~ N(0, I)", format="png", interactive=False)
        ae_mixture = gr.Image(label="AE, z ~ mixture fitted to its codes", format="png", interactive=False,
                              elem_id="ae-mixture", visible=explorers["AE"].density is not None)
        vae_samples = gr.Image(label="VAE, z ~ N(0, I) (the same z as the AE's left)", elem_id="vae-samples",
                               format="png", interactive=False)
        own_samples = gr.Image(label="your model (train one in the Train tab), the same z", elem_id="own-samples",
                               format="png", interactive=False)

    @handler
    def sample(n, seed, yours=None):
        yours = own_model(yours)
        n, seed = number(n, "The number of samples", 1, 400, True), number(seed, "The seed", 0, MAX_SEED, True)
        ae = explorers["AE"]
        return {ae_samples: samples_for(ae.model, n, seed), vae_samples: samples_for(explorers["VAE"].model, n, seed),
                ae_mixture: samples_for(ae.model, n, seed, ae.density) if ae.density is not None else None,
                own_samples: samples_for(yours.model, n, seed) if yours is not None else None}

    outputs = [vae_samples, ae_samples, ae_mixture, own_samples]
    inputs = [n_samples, seed, own]
    sample_btn.click(sample, inputs, outputs, api_name="sample", preprocess=False)
    new_seed.click(lambda: random.randrange(10**6), None, seed, api_name=False).then(
        sample, inputs, outputs, api_name=False, preprocess=False)
    demo.load(sample, inputs, outputs, api_name=False, preprocess=False)
