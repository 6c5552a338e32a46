"""Time one MNIST training epoch: the project's trainer against the assignment's reference pipeline, side by side.

    python bench/train_speed.py [--data_dir data] [--kind vae] [--repeats 3] [--device cpu|cuda] [--threads N]

On a GPU (the default where there is one) it prints instead the eager step, the trainer's CUDA-graph step and the
graph's floor side by side for one epoch of real MNIST (bench/step_timing.py).

Reference: torchvision's MNIST dataset with ToTensor and rounding per image, a DataLoader(batch_size=128,
shuffle=True), the same model, Adam and loss. Project: train.loop.run_epochs (the trainer's loop, without its test
pass) with the trainer's step (train.loop.make_step: on the CPU the MLP's backward written out, train/mlp_step.py)
on the binarised set in memory.
Floor: the step's five large matrix products alone (fc1 and fc4 forward, fc4's two gradients, fc1's weight
gradient; the 2-wide latent layers are negligible), same shapes, once per batch of an epoch: what no loop can beat on
this CPU. All three are timed `repeats` times, alternating in one run, and the medians are compared.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vae_models import Autoencoder, gaussian_kl  # noqa: E402
from train.loop import LoopConfig, make_optimizer, make_step, run_epochs  # noqa: E402
from train.mnist import ensure_mnist, load_mnist  # noqa: E402


def reference_epoch(model, optimizer, loader):
    """The per-sample pipeline as in pytorch/examples vae/main.py."""
    model.train()
    for x, _ in loader:
        x = x.view(-1, 784)
        optimizer.zero_grad()
        mu, logvar = model.encode(x)
        recon = model.decode(model.sample(mu, logvar)[0])
        loss = F.binary_cross_entropy(recon, x, reduction="sum")
        if logvar is not None:
            loss = loss + gaussian_kl(mu, logvar).sum()
        loss.backward()
        optimizer.step()


def gemm_floor(n_images, batch_size=128, data=784, hidden=512):
    """Seconds for the five large matrix products of every step of one epoch, alone."""
    x, h = torch.rand(batch_size, data), torch.rand(batch_size, hidden)
    w1, w4 = torch.rand(data, hidden), torch.rand(hidden, data)
    g_out, g_h = torch.rand(batch_size, data), torch.rand(batch_size, hidden)
    t = time.perf_counter()
    for _ in range(-(-n_images // batch_size)):
        x @ w1, h @ w4  # forward: fc1, fc4
        g_out @ w4.T, h.T @ g_out, x.T @ g_h  # backward: fc4's input and weight gradients, fc1's weight gradient
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--kind", choices=["ae", "vae"], default="vae")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch's CPU threads (default: torch's own choice, one a core); on a busy machine 1 gives "
                        "the steadier ratios, as a waiting thread spins and is counted as CPU time")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cpu":  # as `python -m train` does for these models (train.mlp_step.subnormals_flushed), before
        torch.set_flush_denormal(True)  # torch's threads start; the reference pipeline gains from it too
    if args.device.startswith("cuda"):
        from step_timing import report, time_steps

        train_x = load_mnist(args.data_dir)["train"][0].to(args.device)
        for r in range(args.repeats):
            result = time_steps(lambda: Autoencoder(args.kind), train_x, 128, len(train_x) // 128)
            print(report(f"MNIST {args.kind.upper()}, batch 128, repeat {r}", result, -(-len(train_x) // 128)),
                  flush=True)
        return

    from torchvision import datasets, transforms
    ensure_mnist(args.data_dir)
    dataset = datasets.MNIST(args.data_dir, train=True, download=False,
                             transform=transforms.Compose([transforms.ToTensor(), torch.round]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
    train_x = load_mnist(args.data_dir)["train"][0]
    cfg = LoopConfig(out_dir=Path("."), quiet=True, n_epochs=args.repeats)

    torch.manual_seed(cfg.seed)
    ref_model = Autoencoder(args.kind)
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=cfg.lr)
    torch.manual_seed(cfg.seed)
    model = Autoencoder(args.kind)
    opt = make_optimizer(model, cfg)

    ref_times, our_times, floor_times = [], [], []  # (wall, CPU) seconds: on a busy machine CPU time is the steadier
    # one epoch per next(): the trainer's own shuffles and its own step (on the CPU the MLP's written-out backward)
    trainer = run_epochs(model, opt, train_x, None, cfg, captured=make_step(model, opt, train_x, cfg))

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - t, time.process_time() - c

    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    for r in range(args.repeats):
        ref_times.append(timed(lambda: reference_epoch(ref_model, ref_opt, loader)))
        our_times.append(timed(lambda: next(trainer)))
        floor_times.append(timed(lambda: gemm_floor(len(train_x))))
        print(f"repeat {r}: reference {ref_times[-1][0]:.2f} s ({ref_times[-1][1]:.2f} s CPU), project "
              f"{our_times[-1][0]:.2f} s ({our_times[-1][1]:.2f} s CPU), GEMM floor {floor_times[-1][0]:.2f} s "
              f"({floor_times[-1][1]:.2f} s CPU)", flush=True)
    (ref, ours, floor), (ref_c, ours_c, floor_c) = ([statistics.median(t[i] for t in times)
                                                     for times in (ref_times, our_times, floor_times)] for i in (0, 1))
    print(f"{args.kind.upper()} epoch of {len(train_x):,} images on {torch.get_num_threads()} threads: "
          f"reference pipeline {ref:.2f} s, project trainer {ours:.2f} s (speed-up {ref / ours:.2f}x), "
          f"GEMM floor {floor:.2f} s (the epoch is {ours / floor:.2f}x its floor)")
    print(f"in CPU time: reference {ref_c:.2f} s, project {ours_c:.2f} s (speed-up {ref_c / ours_c:.2f}x), floor "
          f"{floor_c:.2f} s (the epoch is {ours_c / floor_c:.2f}x its floor); load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
