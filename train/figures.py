"""The trainer's pictures: image grids, loss curves, latent maps, the rate-distortion plane. Each file is written
atomically (train.artifacts.atomic_path); draw_rate_distortion and spectrum_points also serve the app's Compare tab."""
import torch

from .artifacts import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures go to files; no display needed), for the report's figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(**kwargs):
    """A matplotlib Figure without pyplot, whose import (its backends, its figure manager) a training run need not
    pay for; savefig renders it with Agg. -> (fig, ax)."""
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    return fig, fig.subplots()


def save_figure(fig, path, tight=True):
    """fig -> a PNG at path (atomically), then closed: every figure of the trainer and the report ends here."""
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    if fig.canvas.manager is not None:  # made by pyplot (the report's): pyplot holds it until it is closed
        pyplot().close(fig)


def make_grid(images, nrow=8, padding=2, pad_value=0.0):
    """torchvision.utils.make_grid, written here because importing torchvision costs a short run about a second:
    (N, C, H, W) (or one (C, H, W)) -> (3, H', W') with nrow images a row, padding pixels of pad_value around each;
    one image alone is returned without a frame. tests/test_train.py compares both, pixel for pixel."""
    images = images.detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.size(1) == 1:
        images = images.expand(-1, 3, -1, -1)
    if len(images) == 1:
        return images[0].clone()
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for k, image in enumerate(images):
        top, left = padding + (k // cols) * (h + padding), padding + (k % cols) * (w + padding)
        grid[:, top:top + h, left:left + w] = image
    return grid


def save_image(images, path, **grid):
    """torchvision.utils.save_image: make_grid(images, **grid) -> an RGB PNG (x * 255 rounded half up), atomically."""
    from PIL import Image

    picture = make_grid(images, **grid).mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(picture.numpy()).save(tmp, format="PNG")


def save_grid(images, path, nrow=8):
    """images: (N, C, H, W) in [0, 1] -> one PNG grid."""
    save_image(images, path, nrow=nrow, padding=2, pad_value=0.5)


def save_class_grids(grids, path, per_row=5):
    """grids: one (n*n, C, H, W) decoded grid per class -> one PNG of the grids side by side, per_row to a row."""
    n = round(len(grids[0]) ** 0.5)
    tiles = torch.stack([make_grid(g, nrow=n, padding=1, pad_value=1.0) for g in grids])
    save_image(tiles, path, nrow=per_row, padding=8, pad_value=0.5)


def plot_loss_curve(rows, path, title=""):
    epochs = [r["epoch"] for r in rows]
    fig, ax = new_figure(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax.plot(epochs, [r["test_loss"] for r in rows], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per image (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_latent_scatter(mu, labels, path, title=""):
    """The test-set codes mu (N, 2), coloured by digit, with a colour bar (manifold.png)."""
    fig, ax = new_figure(figsize=(6, 5), dpi=100)
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    save_figure(fig, path)


def draw_rate_distortion(ax, points, ae=None, chosen=None):
    """The rate-distortion plane of Alemi et al. (2018) on `ax`: each VAE's distortion D (BCE) against its rate R (KL),
    on the test set (filled) and the training set (hollow: the last epoch's running averages), joined in beta order,
    grey lines of constant D + R (the negative ELBO), the AE's distortions as horizontal lines, `chosen` ringed.
    points: {name: {"beta": b, "test": (R, D), "train": (R, D)}}; ae: {"test": D, "train": D} or None."""
    order = sorted(points, key=lambda n: points[n]["beta"])
    every = [points[n][split] for n in order for split in ("test", "train")]
    rates, dists = [r for r, _ in every], [d for _, d in every] + ([ae["test"], ae["train"]] if ae else [])
    lo_r, hi_r, lo_d, hi_d = 0.0, max(rates) * 1.2 + 0.5, min(dists) - 2, max(dists) + 2
    for total in range(int(lo_d), int(hi_d + hi_r) + 1, 2):  # zorder 0: labels may cross these (label_points)
        ax.plot([lo_r, hi_r], [total - lo_r, total - hi_r], color="0.88", lw=0.8, zorder=0)
    for split, style in (("test", dict(marker="o", color="tab:blue")),
                         ("train", dict(marker="o", mfc="white", color="tab:orange"))):
        ax.plot([points[n][split][0] for n in order], [points[n][split][1] for n in order], "-", label=split,
                zorder=2, **style)
    for n in order:
        if n == chosen:
            for split in ("test", "train"):
                ax.plot(*points[n][split], "o", ms=13, mfc="none", mec="red", mew=2.2, zorder=3)
    if ae:
        for split, color in (("test", "tab:blue"), ("train", "tab:orange")):
            ax.axhline(ae[split], color=color, ls="--", lw=1)
            # beside the ring drawn at the axis when the AE is chosen, not under it
            ax.annotate(f"AE ({split})", (lo_r, ae[split]), textcoords="offset points", xytext=(9, 1), ha="left",
                        va="bottom", fontsize=8, color=color)
            if chosen == "AE":
                ax.plot([lo_r], [ae[split]], "o", ms=13, mfc="none", mec="red", mew=2.2, clip_on=False, zorder=3)
    ax.set(xlim=(lo_r, hi_r), ylim=(lo_d, hi_d), xlabel="rate R = KL (nats)", ylabel="distortion D = BCE (nats)")
    ax.legend(loc="center right", fontsize=8)
    label_points(ax, [(f"beta {points[n]['beta']:g}", points[n]["test"]) for n in order],
                 [points[n][split] for n in order for split in ("test", "train")])


def label_points(ax, labels, marks):
    """Write each (text, (x, y)) next to its own point, placed when the figure is drawn (a title or tight_layout
    added later moves the points on the screen). Each label takes the place, among a few around its point, that
    overlaps no mark in `marks` (with room for the red ring, 13 points wide), no other text or label and no legend,
    stays inside the axes, crosses no line drawn at zorder >= 1 (the grey ELBO lines beneath, zorder 0, cover the
    whole plane) and has no other mark nearer to it than its own point; where no place does all of that, the one
    that breaks the fewest of them, in that order of weight. -> the labels (matplotlib Annotations)."""
    from matplotlib.artist import Artist

    class Placer(Artist):
        """Drawn first among the axes' artists (zorder -1): moves the labels to their places, now that the axes'
        final size and every other artist's box are known."""

        def draw(self, renderer):
            _place(ax, texts, marks, renderer)

    texts = [ax.annotate(text, xy, textcoords="offset points", xytext=(0, 0), fontsize=8) for text, xy in labels]
    placer = Placer()
    placer.set_zorder(-1)
    ax.add_artist(placer)
    return texts


# the places tried around a point, nearest first: (dx, dy) in points; the text is aligned away from its point
PLACES = [(d * dx, d * dy) for d in (8, 13, 20)
          for dx, dy in ((1, 0.5), (1, -0.5), (-1, 0.5), (-1, -0.5), (0, 1.4), (0, -1.4), (1, 0), (-1, 0))]


def _place(ax, texts, marks, renderer):
    import numpy as np
    from matplotlib.transforms import Bbox

    ring = 7.6 * ax.figure.dpi / 72  # pixels: the red ring's outer radius (13 points wide, 2.2 thick)
    points = ax.transData.transform(np.asarray(marks, float).reshape(-1, 2))
    taken = [Bbox([[x - ring, y - ring], [x + ring, y + ring]]) for x, y in points]
    taken += [t.get_window_extent(renderer) for t in ax.texts if t not in texts and t.get_visible()]
    if ax.get_legend() is not None:
        taken.append(ax.get_legend().get_window_extent(renderer))
    lines = [line.get_transform().transform_path(line.get_path()) for line in ax.lines
             if line.get_zorder() >= 1 and line.get_linestyle() not in ("None", "", " ") and len(line.get_xydata()) > 1]
    frame = ax.get_window_extent(renderer)

    def cost(box, own, k, others):
        """What a place breaks, weighted: a box it covers, leaving the axes > a line it crosses > another mark
        nearer than its own; then its rank in PLACES."""
        outside = not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1)
        near = _distance(box, own)
        return (1000 * (sum(box.overlaps(b) for b in others) + outside)
                + 100 * sum(path.intersects_bbox(box.padded(2), filled=False) for path in lines)  # 2 px: a graze
                + 50 * any(_distance(box, p) <= near for p in points if np.hypot(*(p - own)) > 0.5) + k)

    def best_place(text, others):
        own, best = ax.transData.transform(text.xy), None
        for k, (dx, dy) in enumerate(PLACES):
            ha, va = "left" if dx > 0 else "right" if dx < 0 else "center", "bottom" if dy > 0 else "top" if dy < 0 \
                else "center"
            text.xyann = (dx, dy)
            text.set(ha=ha, va=va)
            box = text.get_window_extent(renderer)
            c = cost(box, own, k, others)
            if best is None or c < best[0]:
                best = c, (dx, dy), ha, va, box
        _, text.xyann, ha, va, box = best
        text.set(ha=ha, va=va)
        return box

    # each label in turn at its best place given those before it; then a few rounds in which each moves to its best
    # place given all the others (a label placed early may have taken the one place a later one had)
    boxes = []
    for text in texts:
        boxes.append(best_place(text, taken + boxes))
    for _ in range(3):
        for i, text in enumerate(texts):
            boxes[i] = best_place(text, taken + boxes[:i] + boxes[i + 1:])


def _distance(box, point):
    """Pixels from a point to the nearest edge of a box (0 inside it)."""
    x, y = point
    return float(((max(box.x0 - x, 0, x - box.x1)) ** 2 + (max(box.y0 - y, 0, y - box.y1)) ** 2) ** 0.5)


def spectrum_points(metrics):
    """{name: (beta or None, the last perf_metrics.csv row)} -> (points, ae) for draw_rate_distortion."""
    points, ae = {}, None
    for name, (beta, m) in metrics.items():
        if beta is None:
            ae = {"test": float(m["test_bce"]), "train": float(m["train_bce"])}
        else:
            points[name] = {"beta": beta, "test": (float(m["test_kld"]), float(m["test_bce"])),
                            "train": (float(m["train_kld"]), float(m["train_bce"]))}
    return points, ae
