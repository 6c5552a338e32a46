"""python -m train report: every figure of docs/REPORT.md, from the shipped weights, and the evaluation it quotes."""
import shutil
from pathlib import Path

import matplotlib.pyplot as plt

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


def write_report_figures(folders, out_dir, evaluation_lines):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_both_loss_curves(folders, out_dir / "loss_curves.png")
    for name, folder in folders.items():
        for f in COPIED:
            shutil.copy2(Path(folder) / f, out_dir / f"{name.lower()}_{f}")
    with artifacts.atomic_path(out_dir / "evaluation.txt") as tmp:
        tmp.write_text("\n".join(evaluation_lines) + "\n")
