"""VAE Explorer: draw a digit and watch it travel through the latent spaces of an autoencoder and a VAE.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

The models and everything the views need (the test-set codes, the latent maps) are loaded once, here at the top;
each handler below is a small function from inputs to outputs; the gr.Blocks at the bottom wires them.
"""
import argparse
import csv
import functools
import hashlib
import io
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from vae_models import Autoencoder, ConvVAE, decode_grid, loss_function  # noqa: E402
from vae_models.preprocess import InputError, center_crop_face, open_image, preprocess_digit  # noqa: E402

ROOT = Path(__file__).resolve().parent
WEIGHTS = Path(os.environ.get("VAE_EXPLORER_WEIGHTS", ROOT / "weights"))
# A local folder or a Hub repo id holding the CelebA ConvVAE (config.json + model.safetensors).
CELEBA_WEIGHTS = os.environ.get("VAE_EXPLORER_CELEBA", str(WEIGHTS / "celeba-vae"))
MODELS = ("VAE", "AE")
ELBO_SAMPLES = 100  # L for the per-input negative ELBO shown in the Reconstruct tab
ZOOM = 6  # 28x28 digits are shown as 168x168, pixel for pixel


# ---------------------------------------------------------------------------------------------------------- loading
@dataclass
class LatentMap:
    """The scatter of the test-set codes as a picture, with what it takes to go between pixels and latents."""
    image: np.ndarray  # (H, W, 3) uint8
    xlim: tuple
    ylim: tuple
    box: tuple  # the axes' pixel box in the picture: left, top, right, bottom

    def to_pixel(self, z1, z2):
        left, top, right, bottom = self.box
        return (left + (z1 - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (right - left),
                bottom - (z2 - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (bottom - top))

    def to_latent(self, px, py):
        left, top, right, bottom = self.box
        return (self.xlim[0] + (px - left) / (right - left) * (self.xlim[1] - self.xlim[0]),
                self.ylim[0] + (bottom - py) / (bottom - top) * (self.ylim[1] - self.ylim[0]))


def render_map(mu, labels, title):
    """Draw the codes once; every later view draws on a copy of this picture."""
    lo = np.minimum(np.percentile(mu, 0.5, axis=0), -2.5)
    hi = np.maximum(np.percentile(mu, 99.5, axis=0), 2.5)
    pad = 0.05 * (hi - lo)
    xlim, ylim = (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
    fig = plt.figure(figsize=(5.2, 4.6), dpi=100)
    ax = fig.add_axes([0.12, 0.1, 0.68, 0.8])
    cax = fig.add_axes([0.83, 0.1, 0.03, 0.8])
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=1.5, vmin=-0.5, vmax=9.5, rasterized=True)
    fig.colorbar(points, cax=cax, ticks=range(10), label="digit")
    ax.set(xlim=xlim, ylim=ylim, xlabel="$z_1$", ylabel="$z_2$")
    ax.text(0.99, 0.01, title, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, alpha=0.7)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    x0, y0, x1, y1 = ax.get_window_extent().extents
    plt.close(fig)
    height = image.shape[0]
    return LatentMap(image, xlim, ylim, (x0, height - y1, x1, height - y0))


@dataclass
class Explorer:
    """One MNIST model with what its views need: codes of the test set, their map, the training metrics."""
    name: str
    model: Autoencoder
    mu: np.ndarray
    labels: np.ndarray
    map: LatentMap
    metrics: dict
    folder: Path


def load_explorer(name, folder):
    folder = Path(folder)
    model = Autoencoder.from_pretrained(folder, strict=True).eval()
    latents = load_file(folder / "test_latents.safetensors")
    mu, labels = latents["mu"].numpy(), latents["labels"].numpy()
    with open(folder / "perf_metrics.csv") as f:
        metrics = list(csv.DictReader(f))[-1]
    return Explorer(name, model, mu, labels, render_map(mu, labels, f"{name}: 10,000 test codes"), metrics, folder)


def load_faces(source):
    """The CelebA ConvVAE from a local folder or a Hub repo id ("user/name"), or None with the reason."""
    local = Path(source)
    if not (local / "config.json").exists() and (local.is_absolute() or local.exists() or source.count("/") != 1):
        return None, f"No weights in `{source}`."
    try:
        return ConvVAE.from_pretrained(source, strict=True).eval(), ""
    except Exception as e:  # offline, no such repo, or not a ConvVAE: the tab explains instead
        return None, f"Could not load `{source}`: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


EXPLORERS = {name: load_explorer(name, WEIGHTS / f"mnist-{name.lower()}") for name in MODELS}
EXAMPLES = sorted((WEIGHTS / "mnist-vae" / "examples").glob("digit_*.png"))
FACES, FACES_WHY = load_faces(CELEBA_WEIGHTS)


# ---------------------------------------------------------------------------------------------- pure computations
def to_picture(images, nrow=None, zoom=1):
    """(N, C, H, W) in [0, 1] -> one uint8 (H', W', 3) grid picture, optionally enlarged pixel for pixel."""
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images.float().cpu(), nrow=nrow, padding=2, pad_value=0.5)
    return enlarge((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), zoom)


def enlarge(picture, zoom):
    """Each pixel becomes a zoom x zoom square, so small digits stay crisp in the browser."""
    return picture.repeat(zoom, 0).repeat(zoom, 1)


def digit_picture(x):
    """(784,) or (28, 28) in [0, 1] -> a 168x168 uint8 picture, each pixel a ZOOM x ZOOM square."""
    return enlarge((torch.as_tensor(x).float().view(28, 28).numpy() * 255).round().astype(np.uint8), ZOOM)


def draw_map(explorer, points=(), ellipse=None, path=(), square=None):
    """A copy of the explorer's map with a marked point, a 2-sigma ellipse (mu, sigma), a path and a square."""
    m = explorer.map
    picture = Image.fromarray(m.image)
    draw = ImageDraw.Draw(picture)
    if square is not None:
        (x0, y0), (x1, y1) = m.to_pixel(-square, square), m.to_pixel(square, -square)
        draw.rectangle((x0, y0, x1, y1), outline=(60, 60, 60), width=2)
    if len(path) > 1:
        draw.line([m.to_pixel(*z) for z in path], fill=(220, 0, 0), width=3)
        for z in path:
            x, y = m.to_pixel(*z)
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(255, 255, 255), outline=(220, 0, 0), width=2)
    if ellipse is not None:
        (c1, c2), (s1, s2) = ellipse
        (x0, y0), (x1, y1) = m.to_pixel(c1 - 2 * s1, c2 + 2 * s2), m.to_pixel(c1 + 2 * s1, c2 - 2 * s2)
        draw.ellipse((x0, y0, x1, y1), outline=(220, 0, 0), width=2)
    for z in points:
        x, y = m.to_pixel(*z)
        draw.line((x - 9, y, x + 9, y), fill=(220, 0, 0), width=3)
        draw.line((x, y - 9, x, y + 9), fill=(220, 0, 0), width=3)
    return np.asarray(picture)


@torch.inference_mode()
def encode_digit(explorer, x):
    """x (784,) -> the explorer's mu (2,) and sigma (2,) (zeros for the AE)."""
    mu, logvar = explorer.model.encode(torch.as_tensor(x).view(1, 784))
    sigma = torch.zeros_like(mu) if logvar is None else torch.exp(0.5 * logvar)
    return mu[0], sigma[0], logvar


@torch.inference_mode()
def digit_report(x):
    """For one input (784,) in {0, 1}: each model's reconstruction, its loss terms, and its place on the map."""
    xt = torch.as_tensor(x).view(1, 784)
    out = {}
    for name, explorer in EXPLORERS.items():
        model = explorer.model
        mu, sigma, logvar = encode_digit(explorer, x)
        recon = model.decode(mu)
        if model.is_vae:
            z = model.sample(mu[None], logvar, ELBO_SAMPLES, generator=torch.Generator().manual_seed(0))
            _, bce, kld = loss_function(model.decode_logits(z), xt, mu[None], logvar)
            # a few of those z decoded: the VAE's answer is a distribution, not one picture
            draws = to_picture(model.decode(z[:8, 0]).view(-1, 1, 28, 28), nrow=8, zoom=2)
        else:
            _, bce, kld = loss_function(model.decode_logits(mu[None, None]), xt, mu[None], None)
            draws = None
        ellipse = (mu.tolist(), sigma.tolist()) if model.is_vae else None
        picture = draw_map(explorer, points=[mu.tolist()], ellipse=ellipse)
        out[name] = dict(recon=digit_picture(recon), bce=bce.item(), kld=kld.item(), mu=mu.tolist(),
                         sigma=sigma.tolist(), map=picture, draws=draws)
    return out


def report_table(report):
    vae, ae = report["VAE"], report["AE"]
    return (
        "| model | code z | BCE (nats) | KL (nats) | negative ELBO |\n|---|---|---|---|---|\n"
        f"| AE | ({ae['mu'][0]:.2f}, {ae['mu'][1]:.2f}) | {ae['bce']:.1f} | - | - |\n"
        f"| VAE | mean ({vae['mu'][0]:.2f}, {vae['mu'][1]:.2f}), sigma ({vae['sigma'][0]:.2f}, {vae['sigma'][1]:.2f}) "
        f"| {vae['bce']:.1f} | {vae['kld']:.2f} | {vae['bce'] + vae['kld']:.1f} |\n\n"
        f"The VAE's BCE is averaged over L = {ELBO_SAMPLES} samples z ~ q(z|x); the AE's is at its single code. "
        "The red cross marks the code; the red ellipse is the VAE's 2-sigma posterior."
    )


@torch.inference_mode()
def samples_for(explorer, n, seed):
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed)))
    return to_picture(explorer.model.decode(z).view(-1, 1, 28, 28), zoom=2)


def lerp_path(a, b, steps):
    t = torch.linspace(0, 1, int(steps)).unsqueeze(1)
    return (1 - t) * a + t * b


# ------------------------------------------------------------------------------------------------------ handlers
def png_file(picture):
    """A uint8 picture -> the path of its PNG in gradio's cache, written under a temporary name and renamed.

    Why: gradio 6.31 saves a returned array into its cache by rewriting the file in place, so two requests with the
    same output (two visitors clicking the same example) can be served a half-written file ("Too little data for
    declared Content-Length"). A path already in the cache is served as it is."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)  # 5x faster than the default, ~1.5x larger
    data = buffer.getvalue()
    folder = Path(gr.utils.get_upload_folder()) / hashlib.sha256(data).hexdigest()
    path = folder / "image.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".png")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return str(path)


def serves_pictures(handler):
    """Hand the handler's pictures (uint8 arrays) to gradio as PNG files (see png_file), and a user's unusable image
    (InputError) to the page as one gr.Error sentence."""
    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            out = handler(*args, **kwargs)
        except InputError as e:
            raise gr.Error(str(e)) from None
        if isinstance(out, tuple):
            return tuple(png_file(o) if isinstance(o, np.ndarray) else o for o in out)
        return png_file(out) if isinstance(out, np.ndarray) else out
    return wrapper


def _path(payload):
    """An image input's raw value (its event runs with preprocess=False, so that a file that is not an image
    reaches us and gets our message rather than gradio's) -> the uploaded file's path, or None."""
    return payload.get("path") if isinstance(payload, dict) else payload


def _image_input(payload):
    path = _path(payload)
    if path is None:
        raise gr.Error("Upload an image of a digit first.")
    return preprocess_digit(open_image(path))


def _drawing_input(sketch):
    composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if composite is None:
        raise gr.Error("The canvas is empty: draw a digit with the brush first.")
    return preprocess_digit(np.asarray(composite))


def _reconstruct(x):
    report = digit_report(x)
    return (digit_picture(x), report["AE"]["recon"], report["VAE"]["recon"], report_table(report),
            report["AE"]["map"], report["VAE"]["map"], report["VAE"]["draws"])


@serves_pictures
@torch.inference_mode()
def reconstruct_drawing(sketch):
    """A drawing from the sketchpad -> the 28x28 input, both reconstructions, the numbers, both maps."""
    return _reconstruct(_drawing_input(sketch))


@serves_pictures
@torch.inference_mode()
def reconstruct_upload(path):
    """An uploaded image -> the 28x28 input, both reconstructions, the numbers, both maps."""
    return _reconstruct(_image_input(path))


@serves_pictures
@torch.inference_mode()
def sample(n, seed):
    """n digits decoded from z ~ N(0, I), the same z for the VAE and the AE."""
    n = int(n)
    if not 1 <= n <= 400:
        raise gr.Error("Choose between 1 and 400 samples.")
    return samples_for(EXPLORERS["VAE"], n, seed), samples_for(EXPLORERS["AE"], n, seed)


def _explorer(name):
    if name not in EXPLORERS:
        raise gr.Error(f"Unknown model {name!r}; choose VAE or AE.")
    return EXPLORERS[name]


@serves_pictures
@torch.inference_mode()
def latent_grid_view(model_name, n, lim):
    """The decoded n x n grid over [-lim, lim]^2 and the map with that square drawn on it."""
    explorer = _explorer(model_name)
    n, lim = int(n), float(lim)
    if not (2 <= n <= 40 and 0 < lim <= 50):
        raise gr.Error("The grid takes 2 to 40 points a side and a range between 0 and 50.")
    return to_picture(decode_grid(explorer.model, n, lim), nrow=n), draw_map(explorer, square=lim)


@serves_pictures
@torch.inference_mode()
def decode_point(model_name, z1, z2):
    """One latent point -> its decoded digit and the map with the point marked."""
    explorer = _explorer(model_name)
    digit = explorer.model.decode(torch.tensor([[float(z1), float(z2)]]))
    return digit_picture(digit), draw_map(explorer, points=[(float(z1), float(z2))])


def slider_span(lim):
    """A map's axis limits -> slider (minimum, maximum) on the slider's 0.01 steps, covering the whole axis."""
    return math.floor(lim[0] * 100) / 100, math.ceil(lim[1] * 100) / 100


def slider_ranges(model_name, z1, z2):
    """The z1, z2 sliders span the model's map (the AE's codes reach much further out than the VAE's)."""
    m = _explorer(model_name).map
    return tuple(gr.update(minimum=lo, maximum=hi, value=min(max(float(v), lo), hi))
                 for (lo, hi), v in ((slider_span(m.xlim), z1), (slider_span(m.ylim), z2)))


def pick_on_map(model_name, evt: gr.SelectData):
    """A click on the map -> the latent point under it (for the sliders), its digit and the marked map."""
    m = _explorer(model_name).map
    z1, z2 = m.to_latent(*evt.index)
    # a click in the margin (on the axis labels) picks the nearest point of the plotted square
    z1, z2 = round(min(max(z1, m.xlim[0]), m.xlim[1]), 2), round(min(max(z2, m.ylim[0]), m.ylim[1]), 2)
    return (z1, z2, *decode_point(model_name, z1, z2))


@serves_pictures
@torch.inference_mode()
def interpolate(model_name, path_a, path_b, steps):
    """Two digit images -> the decodes along the straight line between their codes, and that path on the map."""
    explorer = _explorer(model_name)
    steps = int(steps)
    if not 2 <= steps <= 30:
        raise gr.Error("Choose between 2 and 30 steps.")
    a, b = (encode_digit(explorer, _image_input(p))[0] for p in (path_a, path_b))
    path = lerp_path(a, b, steps)
    strip = to_picture(explorer.model.decode(path).view(-1, 1, 28, 28), nrow=steps, zoom=3)
    return strip, draw_map(explorer, path=path.tolist())


def _faces():
    if FACES is None:
        raise gr.Error("No CelebA weights are loaded; see the Faces tab for how to get them.")
    return FACES


def _face_input(payload):
    path = _path(payload)
    if path is None:
        raise gr.Error("Upload a face image first.")
    return torch.from_numpy(center_crop_face(open_image(path)))


@serves_pictures
@torch.inference_mode()
def face_samples(n, seed, model=None):
    model = model or _faces()
    z = torch.randn(int(n), model.latent_size, generator=torch.Generator().manual_seed(int(seed)))
    return to_picture(model.decode(z), nrow=min(int(n), 8))


@serves_pictures
@torch.inference_mode()
def face_reconstruct(path, model=None):
    model = model or _faces()
    x = _face_input(path)[None]
    mu, _ = model.encode(x)
    return to_picture(x, zoom=3), to_picture(model.decode(mu), zoom=3)


@serves_pictures
@torch.inference_mode()
def face_interpolate(path_a, path_b, steps, model=None):
    model = model or _faces()
    a, b = (model.encode(_face_input(p)[None])[0][0] for p in (path_a, path_b))
    return to_picture(model.decode(lerp_path(a, b, int(steps))), nrow=int(steps))


def noop() -> str:
    """Does nothing: the baseline of gradio's own round trip for bench/app_latency.py."""
    return "ok"


def metrics_table():
    rows = ["| model | epochs | train loss | test loss | test BCE | test KL |", "|---|---|---|---|---|---|"]
    for name, e in EXPLORERS.items():
        m = e.metrics
        rows.append(f"| {name} | {int(m['epoch']) + 1} | {float(m['train_loss']):.2f} | {float(m['test_loss']):.2f} "
                    f"| {float(m['test_bce']):.2f} | {float(m['test_kld']):.2f} |")
    return "\n".join(rows) + "\n\nLosses are per-image negative ELBO (the AE: BCE) in nats, after the last epoch."


# --------------------------------------------------------------------------------------------------------- layout
INTRO = """# VAE Explorer
An **autoencoder** (AE) squeezes each 28x28 digit into a point z in 2-D and back; a **variational autoencoder** (VAE)
maps it to a whole Gaussian q(z|x) and is trained on the negative ELBO: reconstruction (BCE) plus KL(q(z|x) || N(0, I)).
Both were trained on MNIST for 100 epochs with the same architecture (784-512-2-512-784)."""

def output_image(**kwargs):
    """An output picture, sent as PNG: lossless, so a 28x28 digit stays crisp."""
    return gr.Image(format="png", interactive=False, **kwargs)


COMPARISON = """What to look for: the AE's codes spread far from the origin in long arms, so the grid over [-2, 2]^2
(and every sample from N(0, I)) sees only the few digits near the origin. The KL term packs the VAE's codes into a
round cloud around the origin: its grid shows every digit with smooth transitions, and its samples look like digits,
at the price of blurrier reconstructions. docs/REPORT.md explains it in full."""

with gr.Blocks(title="VAE Explorer") as demo:
    gr.Markdown(INTRO)
    with gr.Tab("Reconstruct"):
        with gr.Row():
            with gr.Column():
                # a thick brush: a stroke must survive the reduction of 280x280 to 28x28
                sketch = gr.Sketchpad(label="Draw a digit", elem_id="sketch", type="numpy", canvas_size=(280, 280),
                                      height=340, brush=gr.Brush(default_size=14, colors=["#000000"],
                                                                 color_mode="fixed"))
                upload = gr.Image(label="...or upload an image", elem_id="upload", type="filepath", image_mode=None,
                                  sources=["upload", "clipboard"], height=200,
                                  value=str(EXAMPLES[7]) if len(EXAMPLES) > 7 else None)
                gr.Examples(examples=[[str(p)] for p in EXAMPLES], inputs=[upload], label="MNIST test digits")
            with gr.Column():
                with gr.Row():
                    seen = output_image(label="What the models see (28x28, binarised)", height=200, elem_id="seen")
                    ae_recon = output_image(label="AE reconstruction", height=200)
                    vae_recon = output_image(label="VAE reconstruction", height=200)
                numbers = gr.Markdown(elem_id="numbers")
                vae_draws = output_image(label="the VAE decoding 8 samples z ~ q(z|x) of this input", height=120)
                with gr.Row():
                    ae_map = output_image(label="AE latent space", value=EXPLORERS["AE"].map.image)
                    vae_map = output_image(label="VAE latent space", value=EXPLORERS["VAE"].map.image)
        outputs = [seen, ae_recon, vae_recon, numbers, ae_map, vae_map, vae_draws]
        sketch.change(reconstruct_drawing, sketch, outputs, api_name="reconstruct_drawing", trigger_mode="always_last")
        upload.change(reconstruct_upload, upload, outputs, api_name="reconstruct_upload", preprocess=False)
        demo.load(reconstruct_upload, upload, outputs, api_name=False, preprocess=False)  # the example, at once

    with gr.Tab("Sample"):
        with gr.Row():
            n_samples = gr.Slider(1, 400, value=64, step=1, label="how many")
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
            sample_btn = gr.Button("Sample z ~ N(0, I)", variant="primary")
        with gr.Row():
            vae_samples = output_image(label="VAE", elem_id="vae-samples")
            ae_samples = output_image(label="AE (same z)")
        sample_btn.click(sample, [n_samples, seed], [vae_samples, ae_samples], api_name="sample")
        demo.load(sample, [n_samples, seed], [vae_samples, ae_samples], api_name=False)

    with gr.Tab("Latent space"):
        model_pick = gr.Radio(list(MODELS), value="VAE", label="model")
        with gr.Row():
            grid_n = gr.Slider(2, 40, value=20, step=1, label="grid points a side")
            grid_lim = gr.Slider(0.5, 10, value=2.0, step=0.5, label="range: [-r, r]^2")
        with gr.Row():
            grid_img = output_image(label="decoded grid (z1 grows to the right, z2 upwards)", elem_id="grid-img")
            grid_map = output_image(label="test-set codes and the grid's square")
        gr.Markdown("### Pick a point: drag the sliders or click on the map")
        with gr.Row():
            with gr.Column():
                start_map = EXPLORERS["VAE"].map
                z1 = gr.Slider(*slider_span(start_map.xlim), value=0, step=0.01, label="z1", elem_id="z1")
                z2 = gr.Slider(*slider_span(start_map.ylim), value=0, step=0.01, label="z2")
                point_digit = output_image(label="decoded digit", height=200)
            point_map = output_image(label="click anywhere on the map", elem_id="point-map")
        gr.Markdown("### Interpolate between two digits (the straight line between their codes)")
        with gr.Row():
            start, end = (gr.Image(label=label, type="filepath", image_mode=None, height=160,
                                   value=str(EXAMPLES[i]) if len(EXAMPLES) > i else None)
                          for label, i in (("from", 3), ("to", 8)))
            steps = gr.Slider(2, 30, value=10, step=1, label="steps")
            interp_btn = gr.Button("Interpolate", variant="primary")
        interp_strip = output_image(label="decodes along the path", elem_id="interp-strip")
        interp_map = output_image(label="the path on the map")

        grid_inputs = [model_pick, grid_n, grid_lim]
        for trigger in (model_pick.change, grid_n.release, grid_lim.release):
            trigger(latent_grid_view, grid_inputs, [grid_img, grid_map], api_name=False)
        demo.load(latent_grid_view, grid_inputs, [grid_img, grid_map], api_name="latent_grid")
        for slider in (z1, z2):
            slider.input(decode_point, [model_pick, z1, z2], [point_digit, point_map], api_name=False)
        demo.load(decode_point, [model_pick, z1, z2], [point_digit, point_map], api_name="decode_point")
        model_pick.change(slider_ranges, [model_pick, z1, z2], [z1, z2], api_name=False).then(
            decode_point, [model_pick, z1, z2], [point_digit, point_map], api_name=False)
        point_map.select(pick_on_map, model_pick, [z1, z2, point_digit, point_map], api_name=False)
        interp_btn.click(interpolate, [model_pick, start, end, steps], [interp_strip, interp_map],
                         api_name="interpolate", preprocess=False)

    with gr.Tab("AE vs VAE"):
        gr.Markdown(metrics_table())
        gr.Markdown(COMPARISON)
        for title, view in (("Decoded grid over [-2, 2]^2", lambda e: to_picture(decode_grid(e.model, 20, 2.0), 20)),
                            ("Test-set codes (the square is the grid's [-2, 2]^2)", lambda e: draw_map(e, square=2.0)),
                            ("64 samples, z ~ N(0, I) (the same z for both)", lambda e: samples_for(e, 64, 0)),
                            ("Loss curves", lambda e: str(e.folder / "loss_curve.png"))):
            gr.Markdown(f"### {title}")
            with gr.Row():
                for name in ("AE", "VAE"):
                    output_image(value=view(EXPLORERS[name]), label=name)

    with gr.Tab("Faces"):
        if FACES is None:
            gr.Markdown(f"""### No CelebA weights here yet
{FACES_WHY} This tab shows a convolutional VAE trained on 64x64 CelebA faces, once its weights exist.
Train them with `python -m train celeba --data_dir data/celeba` (see README.md: CelebA cannot be downloaded by the
app), or point the app at a Hub repo or folder that has them: `VAE_EXPLORER_CELEBA=<user>/<repo> python app.py`.""")
        else:
            with gr.Row():
                face_n = gr.Slider(1, 64, value=16, step=1, label="how many")
                face_seed = gr.Number(value=0, precision=0, label="seed")
                face_btn = gr.Button("Sample faces", variant="primary")
            face_grid = output_image(label="samples")
            face_btn.click(face_samples, [face_n, face_seed], face_grid, api_name="face_samples")
            with gr.Row():
                face_in = gr.Image(label="a face (centre-cropped to 64x64)", type="filepath")
                face_seen = output_image(label="what the model sees")
                face_out = output_image(label="reconstruction")
            face_in.change(face_reconstruct, face_in, [face_seen, face_out], api_name="face_reconstruct",
                           preprocess=False)
            with gr.Row():
                face_a = gr.Image(label="from", type="filepath")
                face_b = gr.Image(label="to", type="filepath")
                face_steps = gr.Slider(2, 16, value=8, step=1, label="steps")
                face_interp_btn = gr.Button("Interpolate")
            face_strip = output_image(label="interpolation")
            face_interp_btn.click(face_interpolate, [face_a, face_b, face_steps], face_strip,
                                  api_name="face_interpolate", preprocess=False)
    gr.api(noop, api_name="noop")

demo.queue(default_concurrency_limit=4, max_size=64)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve VAE Explorer.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    args = parser.parse_args()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share)
