"""Latent space tab: the decoded grid over [-r, r]^2, one point picked by sliders or a click on the map, and the
straight line between two digits' codes."""
import math

import gradio as gr
import torch

from vae_models import decode_grid, lerp_path

from .explorer import explorer, export, grid_js, pin_js
from .explorer import value as explorer_value
from .inputs import allowed_folders, choice, handler, number, upload_digit
from .pictures import digit_picture, draw_map, to_picture
from .reconstruct import encode_digit

MAX_LIM = 10.0
GRID_N = (2, 40)  # each control's range, read by the control and by its check
GRID_LIM = (0.5, MAX_LIM)
STEPS = (2, 30)


def slider_span(lim):
    """A map's axis limits -> slider (minimum, maximum) on the slider's 0.01 steps, covering the whole axis."""
    return math.floor(lim[0] * 100) / 100, math.ceil(lim[1] * 100) / 100


def create_tab(demo, models, own):
    explorers, names = models.spectrum, list(models.spectrum)
    folders = allowed_folders([models.example_folder] if models.examples else [])
    examples = [str(p) for p in models.examples]
    model_pick = gr.Radio(names, value="VAE", label="model")
    with gr.Row():
        grid_n = gr.Slider(*GRID_N, value=20, step=1, label="grid points a side", elem_id="grid-n")
        grid_lim = gr.Slider(*GRID_LIM, value=2.0, step=0.5, label="range: [-r, r]^2", elem_id="grid-range")
    descriptions = {name: export(e) for name, e in explorers.items()}  # each model's decoder file for the page
    view = explorer(descriptions["VAE"], elem_id="latent-explorer")
    gr.Markdown("Or pick a point exactly: the sliders (the arrow keys move them by 0.01)")
    start_map = explorers["VAE"].map
    with gr.Row():
        z1 = gr.Slider(*slider_span(start_map.xlim), value=0, step=0.01, label="z1", elem_id="z1")
        z2 = gr.Slider(*slider_span(start_map.ylim), value=0, step=0.01, label="z2", elem_id="z2")
    # The server's own decodes, for API clients (/latent_grid, /decode_point); the page decodes in the browser.
    with gr.Row(visible=False):
        grid_img, grid_map, point_digit, point_map = (gr.Image(format="png", interactive=False) for _ in range(4))
        api_only = gr.Button()
    gr.Markdown("### Interpolate between two digits (the straight line between their codes)")
    with gr.Row():
        # upload or paste, as on Reconstruct (no webcam box); a 28x28 example is drawn as large as the box (page.css)
        start, end = (gr.Image(label=label, type="filepath", image_mode=None, height=160, elem_id=f"interp-{label}",
                               sources=["upload", "clipboard"], value=examples[i] if len(examples) > i else None)
                      for label, i in (("from", 0), ("to", 1)))
        steps = gr.Slider(*STEPS, value=10, step=1, label="steps")
        interp_btn = gr.Button("Interpolate", variant="primary")
    interp_strip = gr.Image(label="the path, decoded", elem_id="interp-strip",
                            format="png", interactive=False)
    interp_map = gr.Image(label="the path on the map", format="png", interactive=False, elem_id="interp-map")

    def model_of(name):
        return explorers[choice(name, "The model", names)]

    @handler
    @torch.inference_mode()
    def latent_grid(name, n, lim):
        e = model_of(name)
        n, lim = number(n, "The grid size", *GRID_N, True), number(lim, "The range", *GRID_LIM)
        return {grid_img: to_picture(decode_grid(e.model, n, lim), nrow=n), grid_map: draw_map(e.map, square=lim)}

    @handler
    @torch.inference_mode()
    def decode_point(name, a, b):
        e = model_of(name)
        # each model's own map range (the AE's codes reach much further than the VAE's), widened a little
        (lo1, hi1), (lo2, hi2) = (slider_span(lim) for lim in (e.map.xlim, e.map.ylim))
        a, b = number(a, "z1", min(lo1, -MAX_LIM), max(hi1, MAX_LIM)), number(b, "z2", min(lo2, -MAX_LIM),
                                                                              max(hi2, MAX_LIM))
        digit = e.model.decode(torch.tensor([[a, b]]))
        return {point_digit: digit_picture(digit), point_map: draw_map(e.map, points=[(a, b)])}

    @handler
    def slider_ranges(name, a, b):
        """The z1, z2 sliders span the chosen model's map; their values are kept where they fit."""
        m = model_of(name).map
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
    def show_model(name, a, b, n, lim):
        """The explorer shows the chosen model, pinned where the sliders are, with the grid the sliders set."""
        e = model_of(name)
        a, b = e.map.clamp(number(a, "z1", -1e9, 1e9), number(b, "z2", -1e9, 1e9))
        grid = number(n, "The grid size", *GRID_N, True), number(lim, "The range", *GRID_LIM)
        return {view: explorer_value(descriptions[e.name], (a, b), grid)}

    @handler
    def pinned(name, evt: gr.EventData):
        """A click (or a lifted finger) on the page's map -> the sliders, on the plotted square and their steps."""
        m, data = model_of(name).map, evt._data if isinstance(evt._data, dict) else {}
        a, b = m.clamp(number(data.get("z1"), "z1", -1e9, 1e9), number(data.get("z2"), "z2", -1e9, 1e9))
        return {z1: round(a, 2), z2: round(b, 2)}

    @handler
    @torch.inference_mode()
    def interpolate(name, path_a, path_b, n):
        e = model_of(name)
        n = number(n, "The number of steps", *STEPS, True)
        xs = [upload_digit(p, folders)[0] for p in (path_a, path_b)]
        a, b = (encode_digit(e.model, x)[0] for x in xs)
        path = lerp_path(a, b, n)
        ends = [torch.as_tensor(x).view(1, *e.model.image_shape) for x in xs]
        strip = torch.cat([ends[0], e.model.decode(path).view(-1, *e.model.image_shape), ends[1]])
        return {interp_strip: to_picture(strip, nrow=n + 2, zoom=3), interp_map: draw_map(e.map, path=path.tolist())}

    def reinterpolate(name, path_a, path_b, n):
        """The same path through another model's space; with an input missing, the old model's path is cleared."""
        if path_a is None or path_b is None:
            return {interp_strip: None, interp_map: None}
        return interpolate(name, path_a, path_b, n)

    # In the page, without the server: the grid follows its sliders while they move, the pinned point follows z1, z2.
    for slider in (grid_n, grid_lim):
        for trigger in (slider.input, slider.change):
            trigger(None, [grid_n, grid_lim], None, js=grid_js("latent-explorer"))
    for slider in (z1, z2):
        slider.change(None, [z1, z2], None, js=pin_js("latent-explorer"))
    model_pick.change(slider_ranges, [model_pick, z1, z2], [z1, z2], api_name=False, preprocess=False).then(
        show_model, [model_pick, z1, z2, grid_n, grid_lim], view, api_name=False, preprocess=False)
    view.pin(pinned, model_pick, [z1, z2], api_name=False, preprocess=False)
    api_only.click(latent_grid, [model_pick, grid_n, grid_lim], [grid_img, grid_map], api_name="latent_grid",
                   preprocess=False)
    api_only.click(decode_point, [model_pick, z1, z2], [point_digit, point_map], api_name="decode_point",
                   preprocess=False)
    interp_inputs = [model_pick, start, end, steps]
    interp_btn.click(interpolate, interp_inputs, [interp_strip, interp_map], api_name="interpolate",
                     preprocess=False, concurrency_id="images")
    if len(examples) > 1:
        demo.load(interpolate, interp_inputs, [interp_strip, interp_map], api_name=False, preprocess=False)
    # another model: the path between the same two inputs, through its latent space
    model_pick.change(reinterpolate, interp_inputs, [interp_strip, interp_map], api_name=False, preprocess=False,
                      concurrency_id="images")
