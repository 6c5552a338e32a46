"""Latent space tab: the decoded grid over [-r, r]^2, one point picked by sliders or a click on the map, and the
straight line between two digits' codes."""
import math

import gradio as gr
import torch

from vae_models import decode_grid, lerp_path

from .inputs import allowed_folders, choice, handler, number, upload_digit
from .pictures import digit_picture, draw_map, to_picture
from .reconstruct import encode_digit

MAX_LIM = 10.0


def slider_span(lim):
    """A map's axis limits -> slider (minimum, maximum) on the slider's 0.01 steps, covering the whole axis."""
    return math.floor(lim[0] * 100) / 100, math.ceil(lim[1] * 100) / 100


def create_tab(demo, models):
    explorers, names = models.spectrum, list(models.spectrum)
    folders = allowed_folders([models.example_folder] if models.examples else [])
    examples = [str(p) for p in models.examples]
    model_pick = gr.Radio(names, value="VAE", label="model")
    with gr.Row():
        grid_n = gr.Slider(2, 40, value=20, step=1, label="grid points a side")
        grid_lim = gr.Slider(0.5, MAX_LIM, value=2.0, step=0.5, label="range: [-r, r]^2")
    with gr.Row():
        grid_img = gr.Image(label="decoded grid (z1 grows to the right, z2 upwards)", elem_id="grid-img",
                            format="png", interactive=False)
        grid_map = gr.Image(label="test-set codes and the grid's square", format="png", interactive=False)
    gr.Markdown("### Pick a point: drag the sliders or click on the map")
    start_map = explorers["VAE"].map
    with gr.Row():
        with gr.Column():
            z1 = gr.Slider(*slider_span(start_map.xlim), value=0, step=0.01, label="z1", elem_id="z1")
            z2 = gr.Slider(*slider_span(start_map.ylim), value=0, step=0.01, label="z2", elem_id="z2")
            point_digit = gr.Image(label="decoded digit", height=200, format="png", interactive=False,
                                   elem_id="point-digit")
        point_map = gr.Image(label="click anywhere on the map", elem_id="point-map", format="png", interactive=False)
    gr.Markdown("### Interpolate between two digits (the straight line between their codes)")
    with gr.Row():
        start, end = (gr.Image(label=label, type="filepath", image_mode=None, height=160,
                               value=examples[i] if len(examples) > i else None)
                      for label, i in (("from", 0), ("to", 1)))
        steps = gr.Slider(2, 30, value=10, step=1, label="steps")
        interp_btn = gr.Button("Interpolate", variant="primary")
    interp_strip = gr.Image(label="the two inputs at the ends; between them the decodes along the path, from one "
                                  "reconstruction to the other",
                            elem_id="interp-strip", format="png", interactive=False)
    interp_map = gr.Image(label="the path on the map", format="png", interactive=False)

    def explorer(name):
        return explorers[choice(name, "The model", names)]

    @handler
    @torch.inference_mode()
    def latent_grid(name, n, lim):
        e = explorer(name)
        n, lim = number(n, "The grid size", 2, 40, True), number(lim, "The range", 0.01, MAX_LIM)
        return {grid_img: to_picture(decode_grid(e.model, n, lim), nrow=n), grid_map: draw_map(e.map, square=lim)}

    @handler
    @torch.inference_mode()
    def decode_point(name, a, b):
        e = explorer(name)
        # each model's own map range (the AE's codes reach much further than the VAE's), widened a little
        (lo1, hi1), (lo2, hi2) = (slider_span(lim) for lim in (e.map.xlim, e.map.ylim))
        a, b = number(a, "z1", min(lo1, -MAX_LIM), max(hi1, MAX_LIM)), number(b, "z2", min(lo2, -MAX_LIM),
                                                                              max(hi2, MAX_LIM))
        digit = e.model.decode(torch.tensor([[a, b]]))
        return {point_digit: digit_picture(digit), point_map: draw_map(e.map, points=[(a, b)])}

    @handler
    def slider_ranges(name, a, b):
        """The z1, z2 sliders span the chosen model's map; their values are kept where they fit."""
        m = explorer(name).map
        out = {}
        for slider, lim, v in ((z1, m.xlim, a), (z2, m.ylim, b)):
            lo, hi = slider_span(lim)
            try:
                v = number(v, "z", -1e9, 1e9)
            except ValueError:
                v = 0.0
            out[slider] = gr.update(minimum=lo, maximum=hi, value=round(min(max(v, lo), hi), 2))
        return out

    @handler
    def pick_on_map(name, evt: gr.SelectData):
        """A click on the map -> the latent point under it (for the sliders), its digit and the marked map."""
        m = explorer(name).map
        a, b = (round(v, 2) for v in m.clamp(*m.to_latent(*evt.index)))  # a click in the margin: nearest edge
        return {z1: a, z2: b, **decode_point.__wrapped__(name, a, b)}

    @handler
    @torch.inference_mode()
    def interpolate(name, path_a, path_b, n):
        e = explorer(name)
        n = number(n, "The number of steps", 2, 30, True)
        xs = [upload_digit(p, folders)[0] for p in (path_a, path_b)]
        a, b = (encode_digit(e.model, x)[0] for x in xs)
        path = lerp_path(a, b, n)
        ends = [torch.as_tensor(x).view(1, *e.model.image_shape) for x in xs]
        strip = torch.cat([ends[0], e.model.decode(path).view(-1, *e.model.image_shape), ends[1]])
        return {interp_strip: to_picture(strip, nrow=n + 2, zoom=3), interp_map: draw_map(e.map, path=path.tolist())}

    grid_inputs = [model_pick, grid_n, grid_lim]
    for trigger in (model_pick.change, grid_n.release, grid_lim.release):
        trigger(latent_grid, grid_inputs, [grid_img, grid_map], api_name=False, preprocess=False)
    demo.load(latent_grid, grid_inputs, [grid_img, grid_map], api_name="latent_grid", preprocess=False)
    point_outputs = [point_digit, point_map]
    for slider in (z1, z2):
        slider.input(decode_point, [model_pick, z1, z2], point_outputs, api_name=False, preprocess=False)
    demo.load(decode_point, [model_pick, z1, z2], point_outputs, api_name="decode_point", preprocess=False)
    model_pick.change(slider_ranges, [model_pick, z1, z2], [z1, z2], api_name=False, preprocess=False).then(
        decode_point, [model_pick, z1, z2], point_outputs, api_name=False, preprocess=False)
    point_map.select(pick_on_map, model_pick, [z1, z2, point_digit, point_map], api_name=False, preprocess=False)
    interp_inputs = [model_pick, start, end, steps]
    interp_btn.click(interpolate, interp_inputs, [interp_strip, interp_map], api_name="interpolate",
                     preprocess=False, concurrency_id="images")
    if len(examples) > 1:
        demo.load(interpolate, interp_inputs, [interp_strip, interp_map], api_name=False, preprocess=False)
