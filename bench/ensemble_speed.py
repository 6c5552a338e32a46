"""Seconds per training step: one model alone against M models trained as one batched model (train.ensemble).

    python bench/ensemble_speed.py [--device cpu|cuda] [--members 30] [--steps 20]

Prints, measured side by side in one run on random binary 28x28 images: one VAE's eager step
(train.loop.train_epoch), the batched step of M VAEs (train.ensemble.Group.train_step, each member its own batch
and noise), M times the single step (what training the members one after another costs), and the ratio. On a GPU
the single model's CUDA-graph step is timed too (the trainer's default there); the batched step runs eagerly.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.ensemble import Group, Member  # noqa: E402
from train.loop import CapturedStep, LoopConfig, make_optimizer, train_epoch  # noqa: E402
from vae_models import Autoencoder  # noqa: E402


def timed(fn, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--members", type=int, default=30)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch_size", type=int, default=128)
    args = p.parse_args()
    dev, b, n = args.device, args.batch_size, args.steps
    data = (torch.rand(b * n, 784, device=dev) > 0.5).float()
    order = torch.arange(b * n, device=dev)
    cfg = LoopConfig(out_dir=".", device=dev, quiet=True)
    single = {}
    for path in (("eager", "captured") if dev.startswith("cuda") else ("eager",)):
        torch.manual_seed(0)
        model = Autoencoder("vae").to(dev)
        optimizer = make_optimizer(model, cfg)
        step = CapturedStep(model, optimizer, data, cfg) if path == "captured" else None
        train_epoch(model, optimizer, data, order[:3 * b], cfg, captured=step)  # warm-up
        single[path] = timed(lambda: train_epoch(model, optimizer, data, order, cfg, captured=step), dev) / n
    group = Group([Member("vae", 1.0, s) for s in range(args.members)], 512, 2, 1e-3, 1, dev)
    batches = data.view(n, 1, b, 784).expand(n, args.members, b, 784)
    for i in range(3):
        group.train_step(batches[i])  # warm-up

    def batched():
        for i in range(n):
            group.train_step(batches[i])
    together = timed(batched, dev) / n
    best = min(single.values())
    print(f"device {dev}, batch {b}, {n} steps each")
    for path, s in single.items():
        print(f"one VAE, {path} step:{s * 1e3:10.3f} ms")
    print(f"{args.members} VAEs as one batched step:{together * 1e3:10.3f} ms")
    print(f"{args.members} x one VAE's best step:{args.members * best * 1e3:10.3f} ms")
    print(f"batched / one model: {together / best:.2f}x; the batched step is {args.members * best / together:.2f}x "
          f"faster than training the {args.members} members one after another")


if __name__ == "__main__":
    main()
