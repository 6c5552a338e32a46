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
    for total in range(int(lo_d), int(hi_d + hi_r) + 1, 2):
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
            ax.text(lo_r + 0.02 * hi_r, ae[split], f"AE ({split})", ha="left", va="bottom", fontsize=8, color=color)
            if chosen == "AE":
                ax.plot([lo_r], [ae[split]], "o", ms=13, mfc="none", mec="red", mew=2.2, clip_on=False, zorder=3)
    ax.set(xlim=(lo_r, hi_r), ylim=(lo_d, hi_d), xlabel="rate R = KL (nats)", ylabel="distortion D = BCE (nats)")
    ax.legend(loc="center right", fontsize=8)
    label_points(ax, [(f"beta {points[n]['beta']:g}", points[n]["test"]) for n in order],
                 [points[n][split] for n in order for split in ("test", "train")])


def label_points(ax, labels, marks):
    """Write each (text, (x, y)) beside its point, at the first of a few places clear of the red ring (13 points
    wide) around a point, of every mark in `marks`, of the texts already on `ax` and of the labels placed before."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    ring = 8 * ax.figure.dpi / 72  # pixels: the ring's radius and a little more
    taken = [t.get_window_extent(renderer) for t in ax.texts]
    for x, y in marks:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox([[px - ring, py - ring], [px + ring, py + ring]]))
    places = [((9, 4), "left", "bottom"), ((9, -4), "left", "top"), ((-9, 4), "right", "bottom"),
              ((-9, -4), "right", "top"), ((0, 11), "center", "bottom"), ((0, -11), "center", "top")]
    for text, xy in labels:
        for offset, ha, va in places:
            label = ax.annotate(text, xy, textcoords="offset points", xytext=offset, ha=ha, va=va, fontsize=8)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in taken) or (offset, ha, va) == places[-1]:
                break
            label.remove()
        taken.append(box)


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
