"""How far one rounding difference carries in training: why a change of kernel must keep the weights' bits.

    python bench/divergence.py [--data_dir data] [--steps 900]

Trains the MNIST VAE twice from the same seed on the same batches and noise with the trainer's CPU step
(train/mlp_step.py), once as it is and once with a single product changed: fc1's weight gradient computed in float64
and rounded to float32 (more accurate, so different in the last bit here and there). Prints the largest difference
between the two models' weights after 1, 10, 100, 200, ... steps.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train.adam import Adam  # noqa: E402
from train.loop import LoopConfig  # noqa: E402
from train.mlp_step import MLPStep  # noqa: E402
from train.mnist import load_mnist  # noqa: E402
from vae_models import Autoencoder  # noqa: E402


class Float64WeightGradient(MLPStep):
    """The trainer's step with fc1's weight gradient d^T x summed in float64."""

    def losses_and_grads(self, x):
        losses, grads = super().losses_and_grads(x)
        d_a1 = self._workspace[len(x), self.cfg.n_mc_samples]["d_a1"]
        grads[0].copy_(torch.mm(d_a1.t().double(), x.double()))
        return losses, grads


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--steps", type=int, default=900)
    args = p.parse_args()
    torch.set_flush_denormal(True)  # as `python -m train` trains
    train_x = load_mnist(args.data_dir)["train"][0]
    cfg = LoopConfig(out_dir=Path("."), quiet=True)
    models, checkpoints = [], sorted({1, 10, args.steps, *range(100, args.steps, 100)})
    for step_class in (MLPStep, Float64WeightGradient):
        torch.manual_seed(cfg.seed)
        model = Autoencoder("vae")
        step = step_class(model, Adam(model.parameters(), lr=cfg.lr), train_x, cfg)
        torch.manual_seed(1)  # the same batches and noise for both
        order = torch.cat([torch.randperm(len(train_x)) for _ in range(-(-args.steps * cfg.batch_size // len(train_x)))])
        weights = {}
        for n in range(1, args.steps + 1):
            step(order[(n - 1) * cfg.batch_size:n * cfg.batch_size])
            if n in checkpoints:
                weights[n] = [p.detach().clone() for p in model.parameters()]
        models.append(weights)
    for n in checkpoints:
        diff = max((a - b).abs().max().item() for a, b in zip(models[0][n], models[1][n]))
        print(f"after {n:5d} steps: the largest weight difference {diff:.2g}")


if __name__ == "__main__":
    main()
