"""Are the samples digits? A small classifier trained on real MNIST reads 10,000 samples of each generator.

    python bench/sample_quality.py [--weights weights] [--data_dir data] [--n 10000] [--seed 0]

Trains a small convolutional classifier on the binarised MNIST training set (2 epochs, seeded), prints its test
accuracy, then classifies decodes of z ~ N(0, I) through the VAE and the AE, and of z ~ the mixture fitted to the AE's
training codes, and through the beta-VAEs when they are there. A sample counts as recognised when the classifier
gives one digit at least 90%; the class histogram shows whether every digit is generated. Last, the conditional VAE:
n/10 samples of each digit y (z ~ N(0, I), decoded with y), and how often the classifier reads them as y.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.classifier import read, train_classifier  # noqa: E402
from train.mnist import load_mnist  # noqa: E402
from vae_models import Autoencoder, ConditionalVAE, load_pretrained  # noqa: E402
from vae_models.code_density import load_code_density, sample_code_density  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--data_dir", default=str(ROOT / "data"))
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t = time.perf_counter()
    net, accuracy = train_classifier(load_mnist(args.data_dir), args.seed)
    print(f"classifier: {accuracy:.2%} on the MNIST test set (trained {time.perf_counter() - t:.0f} s)")
    vae = load_pretrained(Autoencoder, Path(args.weights) / "mnist-vae")
    ae = load_pretrained(Autoencoder, Path(args.weights) / "mnist-ae")
    density = load_code_density(Path(args.weights) / "mnist-ae")
    g = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.n, 2, generator=g)
    with torch.inference_mode():
        sources = {"VAE, z ~ N(0, I)": vae.decode(z), "AE, z ~ N(0, I)": ae.decode(z)}
        if density is not None:
            sources["AE, z ~ code mixture"] = ae.decode(sample_code_density(density, args.n, g))
        for folder in sorted(Path(args.weights).glob("mnist-vae-beta*")):
            sources[f"VAE {folder.name[10:]}, z ~ N(0, I)"] = load_pretrained(Autoencoder, folder).decode(z)
    print(f"{'samples':24s} {'recognised':>10s}   share of each digit among the recognised, 0 to 9")
    for name, images in sources.items():
        ok, histogram = read(net, images.round())  # binarised like the data the classifier learned
        print(f"{name:24s} {ok:10.1%}   " + " ".join(f"{h:4.0%}" for h in histogram.tolist()))
    if (Path(args.weights) / "mnist-cvae").is_dir():
        conditional(net, load_pretrained(ConditionalVAE, Path(args.weights) / "mnist-cvae"), args.n // 10, g)


@torch.inference_mode()
def conditional(net, cvae, n, g):
    """n samples of each digit y from the CVAE: the share the classifier reads as y (its top answer), and as y with
    at least 90%."""
    print(f"\nCVAE, {n} samples of each digit (z ~ N(0, I), decoded with y): read as y, top answer / at least 90% sure")
    tops, sures = [], []
    for k in range(cvae.n_classes):
        images = cvae.decode(torch.randn(n, 2, generator=g), k).round()
        p = torch.cat([net(images[i:i + 1000].view(-1, 1, 28, 28)).softmax(1) for i in range(0, n, 1000)])
        confident, label = p.max(1)
        tops.append((label == k).float().mean().item())
        sures.append(((label == k) & (confident >= 0.9)).float().mean().item())
        print(f"  {k}: {tops[-1]:6.1%} / {sures[-1]:6.1%}")
    print(f"  all: {sum(tops) / len(tops):6.1%} / {sum(sures) / len(sures):6.1%}; the lowest digit: "
          f"{min(tops):.1%} / {min(sures):.1%}")


if __name__ == "__main__":
    main()
