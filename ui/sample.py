"""Sample tab: digits decoded from z ~ N(0, I), the same z for the AE and the VAE."""
import random

import gradio as gr
import torch

from .inputs import MAX_SEED, handler, number
from .pictures import to_picture


@torch.inference_mode()
def samples_for(model, n, seed):
    """n decodes of z ~ N(0, I) drawn with `seed`, as one grid picture."""
    z = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed))
    return to_picture(model.decode(z).view(-1, 1, 28, 28), zoom=2)


def create_tab(demo, models):
    explorers = models.explorers
    gr.Markdown("Each picture decodes the same points z drawn from the prior N(0, I). What to look for: the VAE's "
                "samples look like digits, because its codes fill the prior; the AE's codes do not, so most of its "
                "samples are blurs or the few digits near the origin.")
    with gr.Row():
        n_samples = gr.Slider(1, 400, value=64, step=1, label="how many")
        seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed", minimum=0, maximum=MAX_SEED)
        new_seed = gr.Button("New seed")
        sample_btn = gr.Button("Sample z ~ N(0, I)", variant="primary")
    with gr.Row():
        ae_samples = gr.Image(label="AE", format="png", interactive=False)
        vae_samples = gr.Image(label="VAE (same z)", elem_id="vae-samples", format="png", interactive=False)

    @handler
    def sample(n, seed):
        n, seed = number(n, "The number of samples", 1, 400, True), number(seed, "The seed", 0, MAX_SEED, True)
        return {ae_samples: samples_for(explorers["AE"].model, n, seed),
                vae_samples: samples_for(explorers["VAE"].model, n, seed)}

    outputs = [vae_samples, ae_samples]
    sample_btn.click(sample, [n_samples, seed], outputs, api_name="sample", preprocess=False)
    new_seed.click(lambda: random.randrange(10**6), None, seed, api_name=False).then(
        sample, [n_samples, seed], outputs, api_name=False, preprocess=False)
    demo.load(sample, [n_samples, seed], outputs, api_name=False, preprocess=False)
