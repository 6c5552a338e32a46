"""Time training steps of the CelebA ConvVAE with the project's loop, and project 100 epochs of 50,000 faces.

    python bench/celeba_speed.py [--device cuda] [--steps 20] [--batch_size 128]

Runs train.loop.train_epoch on random uint8 64x64 images held in memory as the trainer holds its cache (on the GPU
when there is one), after warm-up steps, and prints seconds per step, images per second and the projection.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train.loop import LoopConfig, make_optimizer, train_epoch  # noqa: E402
from vae_models import ConvVAE  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch_size", type=int, default=128)
    args = p.parse_args()
    cfg = LoopConfig(out_dir=Path("."), batch_size=args.batch_size, device=args.device, quiet=True)
    torch.manual_seed(0)
    model = ConvVAE().to(args.device)
    if args.device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg)
    data = torch.randint(0, 256, ((args.steps + 3) * args.batch_size, 3, 64, 64), dtype=torch.uint8).to(args.device)
    warm = torch.arange(3 * args.batch_size)
    train_epoch(model, optimizer, data, warm, cfg)  # warm-up: cuDNN autotuning, allocator
    order = torch.arange(3 * args.batch_size, len(data))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    train_epoch(model, optimizer, data, order, cfg)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t) / args.steps
    per_epoch = seconds * 50_000 / args.batch_size
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"ConvVAE (latent 128), batch {args.batch_size} on {name}: {seconds * 1000:.1f} ms per step, "
          f"{args.batch_size / seconds:.0f} images/s; an epoch of 50,000 faces {per_epoch:.1f} s, "
          f"100 epochs {per_epoch * 100 / 60:.1f} min (training steps only)")


if __name__ == "__main__":
    main()
