"""Everything the trainer writes to disk: image grids, figures, metrics, checkpoints; each write is atomic."""
import csv
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures go to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from safetensors import safe_open  # noqa: E402

METRIC_COLUMNS = ["epoch", "train_loss", "test_loss", "lr", "train_bce", "train_kld", "test_bce", "test_kld"]


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` (same suffix, so writers can infer the format); on success it replaces
    `path` in one rename, so a reader or a crash never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_grid(images, path, nrow=8):
    """images: (N, C, H, W) in [0, 1] -> one PNG grid (torchvision's make_grid + save_image)."""
    from torchvision.utils import save_image  # here, not at the top: torchvision takes seconds to import (the app)

    with atomic_path(path) as tmp:
        save_image(images.detach().float().cpu(), tmp, nrow=nrow, padding=2, pad_value=0.5)


def save_class_grids(grids, path, per_row=5):
    """grids: one (n*n, C, H, W) decoded grid per class -> one PNG of the grids side by side, per_row to a row."""
    from torchvision.utils import make_grid, save_image

    n = round(len(grids[0]) ** 0.5)
    tiles = torch.stack([make_grid(g.detach().float().cpu(), nrow=n, padding=1, pad_value=1.0) for g in grids])
    with atomic_path(path) as tmp:
        save_image(tiles, tmp, nrow=per_row, padding=8, pad_value=0.5)


def write_json(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_metrics(rows, path, columns=METRIC_COLUMNS):
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_metrics(path):
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_loss_curve(rows, path, title=""):
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax.plot(epochs, [r["test_loss"] for r in rows], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per image (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def plot_latent_scatter(mu, labels, path, title=""):
    """The test-set codes mu (N, 2), coloured by digit, with a colour bar (manifold.png)."""
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def checkpoint_tensors(model, optimizer, epoch, extra=None):
    """What a checkpoint holds, copied to the CPU now (so the run can go on changing its tensors while the copy is
    written): -> (tensors, metadata) for write_checkpoint."""
    def copy(t):
        return t.detach().to("cpu", copy=True).contiguous()

    tensors = {f"model.{k}": copy(v) for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for pid, s in state["state"].items():
        for k, v in s.items():
            tensors[f"optim.{pid}.{k}"] = copy(torch.as_tensor(v))
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {"epoch": json.dumps(epoch), "param_groups": json.dumps(state["param_groups"]),
            "extra": json.dumps(extra or {})}
    return tensors, meta


def write_checkpoint(path, tensors, meta):
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


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
        r, d = points[n]["test"]
        ax.annotate(f"beta {points[n]['beta']:g}", (r, d), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if n == chosen:
            for split in ("test", "train"):
                ax.plot(*points[n][split], "o", ms=13, mfc="none", mec="red", mew=2.2, zorder=3)
    if ae:
        for split, color in (("test", "tab:blue"), ("train", "tab:orange")):
            ax.axhline(ae[split], color=color, ls="--", lw=1)
            ax.text(hi_r, ae[split], f"AE ({split})", ha="right", va="bottom", fontsize=8, color=color)
            if chosen == "AE":
                ax.plot([lo_r], [ae[split]], "o", ms=13, mfc="none", mec="red", mew=2.2, clip_on=False, zorder=3)
    ax.set(xlim=(lo_r, hi_r), ylim=(lo_d, hi_d), xlabel="rate R = KL (nats)", ylabel="distortion D = BCE (nats)")
    ax.legend(loc="center right", fontsize=8)


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


def save_checkpoint(path, model, optimizer, epoch, extra=None):
    """Model, Adam state and RNG state after `epoch`, as one safetensors file (no pickle): tensors by name, the
    rest as JSON in the header's metadata."""
    write_checkpoint(path, *checkpoint_tensors(model, optimizer, epoch, extra))


class BackgroundWriter:
    """Writes files one after another on a thread, so the GPU trains on while PNGs are encoded and checkpoints
    written. Callers hand over CPU copies. A failed write raises at the next submit or at close()."""

    def __init__(self):
        self.pool, self.pending = ThreadPoolExecutor(max_workers=1), []

    def submit(self, fn, *args):
        self.check()
        self.pending.append(self.pool.submit(fn, *args))

    def check(self):
        done = [f for f in self.pending if f.done()]
        self.pending = [f for f in self.pending if not f.done()]
        for f in done:
            f.result()

    def wait(self):
        """Wait for every write so far; raise the first failure."""
        pending, self.pending = self.pending, []
        for f in pending:
            f.result()

    def close(self):
        try:
            self.wait()
        finally:
            self.pool.shutdown()


def load_checkpoint(path, model, optimizer):
    """Restore what save_checkpoint wrote (strictly) and return (epoch, extra)."""
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    match_parameter_layout(optimizer)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return json.loads(meta["epoch"]), json.loads(meta["extra"])


def match_parameter_layout(optimizer):
    """Give every per-parameter state tensor (Adam's exp_avg, exp_avg_sq) its parameter's device, dtype and strides.

    Why: the checkpoint stores contiguous tensors, and load_state_dict moves them to the parameter's device and
    dtype but not its memory layout; CUDA's fused Adam then refuses a channels_last parameter whose moments are
    contiguous ("must have same dtype, device, and layout"). The step counters keep the form load_state_dict gave
    them (a float32 tensor on the parameter's device for fused Adam)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def export_weights(model, weights_dir, extra_files=(), write_extras=None):
    """save_pretrained (config.json + model.safetensors) plus the run's files, into `weights_dir`.

    Everything is written first into a new temporary folder beside it (a unique name: no folder of the user's is ever
    touched), then each file is renamed into place, the weights last. Only the files this export writes are replaced;
    anything else in or beside `weights_dir` stays as it was."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir.parent, prefix=f".{weights_dir.name}.export-") as tmp:
        tmp = Path(tmp)
        model.save_pretrained(tmp)
        for f in extra_files:
            shutil.copy2(f, tmp / Path(f).name)
        if write_extras is not None:
            write_extras(tmp)
        last = {"config.json": 1, "model.safetensors": 2}
        for f in sorted((p for p in tmp.rglob("*") if p.is_file()), key=lambda p: last.get(p.name, 0)):
            target = weights_dir / f.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
