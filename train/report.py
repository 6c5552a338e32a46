"""python -m train report: every figure of docs/REPORT.md, from the shipped weights, and the evaluation it quotes."""
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from . import artifacts

# copied as they are from each weights folder, prefixed with the model's name
COPIED = ("reconstruction_99.png", "sample_99.png", "manifold_digits.png", "manifold.png")


def plot_both_loss_curves(folders, path):
    """The train and test curves of the AE and the VAE side by side, on one loss scale."""
    fig, axes = plt.subplots(1, len(folders), figsize=(5 * len(folders), 3.6), dpi=100, sharey=True)
    for ax, (name, folder) in zip(axes, folders.items()):
        rows = artifacts.read_metrics(Path(folder) / "perf_metrics.csv")
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [r["train_loss"] for r in rows], label="train")
        ax.plot(epochs, [r["test_loss"] for r in rows], label="test")
        best = min(rows, key=lambda r: r["test_loss"])
        ax.scatter([best["epoch"]], [best["test_loss"]], color="C1", zorder=3, s=12)
        ax.annotate(f"best test {best['test_loss']:.1f} (epoch {best['epoch']})", (best["epoch"], best["test_loss"]),
                    textcoords="offset points", xytext=(5, 12), fontsize=8)
        ax.set(title=f"MNIST {name}", xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("loss per image (nats)")
    axes[0].set_ylim(top=170)
    fig.tight_layout()
    with artifacts.atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def write_report_figures(folders, out_dir, evaluation_lines, measurement_lines=()):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_both_loss_curves(folders, out_dir / "loss_curves.png")
    for name, folder in folders.items():
        for f in COPIED:
            shutil.copy2(Path(folder) / f, out_dir / f"{name.lower()}_{f}")
    with artifacts.atomic_path(out_dir / "evaluation.txt") as tmp:
        tmp.write_text("\n".join(evaluation_lines) + "\n")
    if measurement_lines:
        with artifacts.atomic_path(out_dir / "measurements.txt") as tmp:
            tmp.write_text("\n".join(measurement_lines) + "\n")


@torch.inference_mode()
def measure_claims(folders, data):
    """The numbers behind the report's sentences about the two latent spaces, each computed here, not assumed.

    folders: {"AE": path, "VAE": path}; data: load_mnist's dict. Returns printable lines."""
    from vae_models import Autoencoder, load_pretrained

    (train_x, _), (test_x, test_y) = data["train"], data["test"]
    lines = []
    for name, folder in folders.items():
        model = load_pretrained(Autoencoder, folder)
        for split, x in (("train", train_x), ("test", test_x)):
            bce, entropy = 0.0, 0.0
            for i in range(0, len(x), 2000):
                xb = x[i:i + 2000]
                logits = model.decode_logits(model.encode(xb)[0])
                bce += F.binary_cross_entropy_with_logits(logits, xb, reduction="sum").item()
                p = torch.sigmoid(logits)  # the entropy of the reconstruction's Bernoulli pixels: its blur, in nats
                entropy += F.binary_cross_entropy_with_logits(logits, p, reduction="sum").item()
            lines.append(f"{name} {split}: BCE at z = mu {bce / len(x):.2f} nats per image; entropy of the "
                         f"reconstruction {entropy / len(x):.2f} nats")
        mu = model.encode(test_x)[0]
        inside = (mu.abs() <= 2).all(1).float()
        per_class = ", ".join(f"{d}: {inside[test_y == d].mean().item():.0%}" for d in range(10))
        lines.append(f"{name}: {inside.mean().item():.1%} of the test codes lie in [-2, 2]^2 (by digit: {per_class}); "
                     f"codes span z1 in [{mu[:, 0].min():.1f}, {mu[:, 0].max():.1f}], "
                     f"z2 in [{mu[:, 1].min():.1f}, {mu[:, 1].max():.1f}]")
        d = torch.cdist(mu, mu)
        d.fill_diagonal_(float("inf"))
        votes = test_y[d.topk(10, largest=False).indices]  # leave-one-out 10-nearest neighbours among the test codes
        knn = torch.mode(votes, 1).values
        lines.append(f"{name}: 10-nearest-neighbour accuracy of the digit from its test code {(knn == test_y).float().mean():.1%}")
        rows = artifacts.read_metrics(Path(folder) / "perf_metrics.csv")
        rises = [r["epoch"] for prev, r in zip(rows, rows[1:]) if r["train_loss"] > prev["train_loss"]]
        lines.append(f"{name}: the training loss (running average per epoch) rose at epochs {rises}")
    return lines
