"""Pictures for the page: image grids, digits shown large, the latent maps, and PNG files in gradio's cache."""
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
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

ZOOM = 6  # 28x28 digits are shown as 168x168, pixel for pixel
RED = (220, 0, 0)


def to_picture(images, nrow=None, zoom=1, padding=2, pad_value=0.5):
    """(N, C, H, W) in [0, 1] -> one uint8 (H', W', 3) grid picture, optionally enlarged pixel for pixel.

    The layout of torchvision's make_grid (rows of nrow images, `padding` pixels of pad_value around each), written
    here because importing torchvision costs the app's start about 3 seconds."""
    images = images.detach().float().cpu().numpy()
    n, c, h, w = images.shape
    if n == 1:  # as make_grid: one image alone, without a frame
        padding = 0
    nrow = min(nrow or math.ceil(math.sqrt(n)), n)
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), pad_value, np.float32)
    for i, image in enumerate(images):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[top:top + h, left:left + w] = np.moveaxis(image, 0, -1) if c == 3 else image[0][..., None]
    return enlarge((grid.clip(0, 1) * 255).round().astype(np.uint8), zoom)


# The captions' font size in the strip's own pixels: the page never draws a cell narrower than half its width (where
# the row would be, ui/static/strip.js cuts it into rows), so a caption reads at 11 px or more.
CAPTION_SIZE = 22


def labelled_strip(images, captions, zoom=3):
    """(N, 1, 28, 28) in [0, 1] and N captions -> one row of enlarged digits, each with its caption under it.

    Each digit and its caption fill a square cell, so the picture is N times as wide as it is high: the page
    (ui/static/strip.js) cuts it into its cells by that alone, to wrap the row on a narrow screen."""
    tile = 28 * zoom
    font = ImageFont.load_default(size=CAPTION_SIZE)
    text_h = CAPTION_SIZE + 4
    width = height = tile + text_h + 6
    strip = Image.new("RGB", (width * len(images), height), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for i, (image, caption) in enumerate(zip(images, captions)):
        digit = enlarge((image.float().view(28, 28).numpy() * 255).round().astype(np.uint8), zoom)
        strip.paste(Image.fromarray(digit).convert("RGB"), (i * width + (width - tile) // 2, 0))
        left, _, right, _ = draw.textbbox((0, 0), caption, font=font)
        draw.text((i * width + (width - (right - left)) / 2, tile + 4), caption, fill=(0, 0, 0), font=font)
    return np.asarray(strip)


def enlarge(picture, zoom):
    """Each pixel becomes a zoom x zoom square, so small digits stay crisp in the browser."""
    return picture.repeat(zoom, 0).repeat(zoom, 1)


def digit_picture(x):
    """(784,) or (28, 28) in [0, 1] -> a 168x168 uint8 picture, each pixel a ZOOM x ZOOM square."""
    return enlarge((torch.as_tensor(x).float().view(28, 28).numpy() * 255).round().astype(np.uint8), ZOOM)


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

    def clamp(self, z1, z2):
        """The nearest point of the plotted square: a code off the map is drawn at its edge."""
        return min(max(z1, self.xlim[0]), self.xlim[1]), min(max(z2, self.ylim[0]), self.ylim[1])


def render_map(mu, labels, title):
    """Draw the codes once; every later view draws on a copy of this picture.

    The axes cover the central 99% of the codes on each axis (the AE's few far outliers would otherwise shrink
    everything else to a dot); the title says how many codes lie outside."""
    lo = np.minimum(np.percentile(mu, 0.5, axis=0), -2.5)
    hi = np.maximum(np.percentile(mu, 99.5, axis=0), 2.5)
    pad = 0.05 * (hi - lo)
    xlim, ylim = (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
    outside = int(((mu[:, 0] < xlim[0]) | (mu[:, 0] > xlim[1]) | (mu[:, 1] < ylim[0]) | (mu[:, 1] > ylim[1])).sum())
    title = f"{title}: {len(mu):,} test codes" + (f", {outside} outside the plot" if outside else "")
    fig = plt.figure(figsize=(5.2, 4.6), dpi=100)
    ax = fig.add_axes([0.12, 0.1, 0.68, 0.8])
    cax = fig.add_axes([0.83, 0.1, 0.03, 0.8])
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=1.5, vmin=-0.5, vmax=9.5, rasterized=True)
    fig.colorbar(points, cax=cax, ticks=range(10), label="digit")
    ax.set(xlim=xlim, ylim=ylim, xlabel="$z_1$", ylabel="$z_2$")
    ax.set_title(title, fontsize=9)  # above the axes: drawn over the points, it hid some of them
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    x0, y0, x1, y1 = ax.get_window_extent().extents
    plt.close(fig)
    height = image.shape[0]
    return LatentMap(image, xlim, ylim, (x0, height - y1, x1, height - y0))


def draw_map(m, points=(), ellipse=None, path=(), square=None):
    """A copy of the map `m` with marked points, a 2-sigma ellipse (mu, sigma), a path and a square [-s, s]^2.

    Everything is clipped to the axes' box, and a point outside the plotted area is drawn at its edge."""
    picture = Image.fromarray(m.image)
    draw = ImageDraw.Draw(picture)
    if square is not None:
        (x0, y0), (x1, y1) = m.to_pixel(*m.clamp(-square, square)), m.to_pixel(*m.clamp(square, -square))
        draw.rectangle((x0, y0, x1, y1), outline=(60, 60, 60), width=2)
    if len(path) > 1:
        draw.line([m.to_pixel(*m.clamp(*z)) for z in path], fill=RED, width=3)
        for z in path:
            x, y = m.to_pixel(*m.clamp(*z))
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(255, 255, 255), outline=RED, width=2)
    if ellipse is not None:
        (c1, c2), (s1, s2) = ellipse
        (x0, y0), (x1, y1) = m.to_pixel(c1 - 2 * s1, c2 + 2 * s2), m.to_pixel(c1 + 2 * s1, c2 - 2 * s2)
        draw.ellipse((x0, y0, x1, y1), outline=RED, width=2)
    for z in points:
        x, y = m.to_pixel(*m.clamp(*z))
        draw.line((x - 9, y, x + 9, y), fill=RED, width=3)
        draw.line((x, y - 9, x, y + 9), fill=RED, width=3)
    return np.asarray(picture)


def rate_distortion_plot(points, ae=None, chosen=None):
    """train.figures.draw_rate_distortion as a uint8 picture, with the chosen model ringed."""
    from train.figures import draw_rate_distortion

    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=100)
    draw_rate_distortion(ax, points, ae, chosen)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def png_file(picture):
    """A uint8 picture -> the path of its PNG in gradio's cache, written under a temporary name and renamed.

    Why: gradio 6.31 saves a returned array into its cache by rewriting the file in place, so two requests with the
    same output (two visitors clicking the same example) can be served a half-written file ("Too little data for
    declared Content-Length"). A path already in the cache is served as it is, and gradio's delete_cache ages it
    out like any file it wrote itself."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)  # 5x faster than the default, ~1.5x larger
    data = buffer.getvalue()
    folder = Path(gr.utils.get_upload_folder()) / hashlib.sha256(data).hexdigest()
    path = folder / "image.png"
    if path.exists():
        os.utime(path)  # handed out again: not to be deleted on the schedule of its first use
    else:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".png")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return str(path)
