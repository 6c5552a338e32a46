"""Time training steps of the CelebA ConvVAE with the project's loop, and project 100 epochs of 50,000 faces.

    python bench/celeba_speed.py [--device cuda] [--steps 200] [--batch_size 128]

Runs train.loop.train_epoch on random uint8 64x64 images held in memory as the trainer holds its cache (on the GPU
when there is one), after warm-up steps, and prints seconds per step, images per second and the projection. On a
GPU it prints the eager step, the trainer's CUDA-graph step and the graph's floor side by side
(bench/step_timing.py), for batches of --batch_size and of 256 and 512.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train.loop import LoopConfig, make_optimizer, train_epoch  # noqa: E402
from vae_models import ConvVAE  # noqa: E402

EPOCH = 50_000


def conv_vae():
    return ConvVAE().to("cuda", memory_format=torch.channels_last)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 200 on a GPU, 20 on the CPU)")
    p.add_argument("--batch_size", type=int, default=128)
    args = p.parse_args()
    if args.device.startswith("cuda"):
        from step_timing import report, time_steps

        steps = args.steps or 200
        for batch in dict.fromkeys([args.batch_size, 256, 512]):
            data = torch.randint(0, 256, (steps * batch, 3, 64, 64), dtype=torch.uint8, device="cuda")
            result = time_steps(conv_vae, data, batch, steps)
            per_epoch = -(-EPOCH // batch)
            print(report(f"ConvVAE (latent 128), batch {batch}", result, per_epoch), flush=True)
            print(f"  100 epochs of {EPOCH:,} faces: {result['captured'] * per_epoch * 100:.1f} s of captured steps "
                  f"({result['eager'] * per_epoch * 100:.1f} s eager)", flush=True)
            del data
        return

    steps = args.steps or 20
    cfg = LoopConfig(out_dir=Path("."), batch_size=args.batch_size, device=args.device, quiet=True)
    torch.manual_seed(0)
    model = ConvVAE()
    optimizer = make_optimizer(model, cfg)
    data = torch.randint(0, 256, ((steps + 3) * args.batch_size, 3, 64, 64), dtype=torch.uint8)
    train_epoch(model, optimizer, data, torch.arange(3 * args.batch_size), cfg)  # warm-up: allocator
    order = torch.arange(3 * args.batch_size, len(data))
    t = time.perf_counter()
    train_epoch(model, optimizer, data, order, cfg)
    seconds = (time.perf_counter() - t) / steps
    per_epoch = seconds * EPOCH / args.batch_size
    print(f"ConvVAE (latent 128), batch {args.batch_size} on the CPU, {torch.get_num_threads()} threads: "
          f"{seconds * 1000:.1f} ms per step, {args.batch_size / seconds:.0f} images/s; an epoch of 50,000 faces "
          f"{per_epoch:.1f} s, 100 epochs {per_epoch * 100 / 60:.1f} min (training steps only)")


if __name__ == "__main__":
    main()
