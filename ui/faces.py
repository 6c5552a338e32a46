"""Faces tab: the convolutional VAE on 64x64 CelebA faces, when the server has its weights."""
import gradio as gr
import torch

from vae_models import lerp_path

from .inputs import MAX_SEED, allowed_folders, handler, number, uploaded_file, validator
from .inputs import seed as checked_seed
from .pictures import to_picture
from .preprocess import face_input, open_image


@torch.inference_mode()
def face_samples(model, n, seed):
    z = model.sample_prior(n, torch.Generator().manual_seed(seed))
    return to_picture(model.decode(z), nrow=min(n, 8))


@torch.inference_mode()
def face_reconstruct(model, image):
    x = torch.from_numpy(face_input(image))[None]
    mu, _ = model.encode(x)
    return to_picture(x, zoom=3), to_picture(model.decode(mu), zoom=3)


@torch.inference_mode()
def face_interpolate(model, image_a, image_b, steps):
    a, b = (model.encode(torch.from_numpy(face_input(i))[None])[0][0] for i in (image_a, image_b))
    return to_picture(model.decode(lerp_path(a, b, steps)), nrow=steps)


def create_tab(demo, models, own):
    model, folders = models.faces, allowed_folders()
    if model is None:
        gr.Markdown(f"### No face model here\n{models.faces_note}")
        return

    def image(payload):
        return open_image(uploaded_file(payload, folders, "a face image"))

    with gr.Row():
        face_n = gr.Slider(1, 64, value=16, step=1, label="how many")
        face_seed = gr.Number(value=0, precision=0, label="seed", minimum=0, maximum=MAX_SEED)
        face_btn = gr.Button("Sample faces", variant="primary")
    face_grid = gr.Image(label="samples", format="png", interactive=False)
    def how_many(n):
        return number(n, "The number of faces", 1, 64, True)

    sample = handler(lambda n, s: face_samples(model, how_many(n), checked_seed(s)))
    # the page: a bad seed's sentence once, under the seed box; API clients: the endpoint as ever (sample.py's reason)
    face_btn.click(sample, [face_n, face_seed], face_grid, api_name=False, preprocess=False,
                   validator=validator(how_many, checked_seed))
    gr.Button(visible=False).click(sample, [face_n, face_seed], face_grid, api_name="face_samples", preprocess=False)
    with gr.Row():
        face_in = gr.Image(label="a face (cropped as in training, 64x64)", type="filepath")
        face_seen = gr.Image(label="what the model sees", format="png", interactive=False)
        face_out = gr.Image(label="reconstruction", format="png", interactive=False)
    face_in.change(handler(lambda p: face_reconstruct(model, image(p))), face_in, [face_seen, face_out],
                   api_name="face_reconstruct", preprocess=False, concurrency_id="images")
    with gr.Row():
        face_a = gr.Image(label="from", type="filepath")
        face_b = gr.Image(label="to", type="filepath")
        face_steps = gr.Slider(2, 16, value=8, step=1, label="steps")
        face_interp_btn = gr.Button("Interpolate")
    face_strip = gr.Image(label="interpolation", format="png", interactive=False)
    face_interp_btn.click(
        handler(lambda a, b, n: face_interpolate(model, image(a), image(b), number(n, "The number of steps", 2, 16,
                                                                                   True))),
        [face_a, face_b, face_steps], face_strip, api_name="face_interpolate", preprocess=False,
        concurrency_id="images")
