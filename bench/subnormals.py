"""Subnormal floats in Adam's state after MNIST VAE training, and what they cost Adam's step on the CPU.

    python bench/subnormals.py [--data_dir data] [--epochs 2] [--repeats 200]

Trains the VAE for `epochs` epochs with the trainer's CPU step (train.mlp_step.MLPStep, subnormals kept, as before
`python -m train` flushed them), counts the subnormal entries of Adam's moments per parameter, then times Adam's step
with that state, alternating subnormals kept and flushed (torch.set_flush_denormal), on one thread: the flag is the
calling thread's, so with one thread it covers the whole step.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train.loop import LoopConfig, make_optimizer, make_step  # noqa: E402
from train.mnist import ensure_mnist, load_mnist  # noqa: E402
from vae_models import Autoencoder  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    ensure_mnist(args.data_dir)
    train_x = load_mnist(args.data_dir)["train"][0]
    cfg = LoopConfig(out_dir=Path("."), quiet=True)
    torch.manual_seed(cfg.seed)
    model = Autoencoder("vae")
    adam = make_optimizer(model, cfg)
    step = make_step(model, adam, train_x, cfg)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_x))
        for i in range(0, len(order), cfg.batch_size):
            step(order[i:i + cfg.batch_size])
    tiny = torch.finfo(torch.float32).tiny
    for (name, p), param in zip(model.named_parameters(), adam.params):
        state = adam.state[param]
        counts = [int(((t != 0) & (t.abs() < tiny)).sum()) for t in (state["exp_avg"], state["exp_avg_sq"])]
        if any(counts):
            print(f"{name}: {counts[0]:,} of {p.numel():,} first moments and {counts[1]:,} second moments subnormal")

    _, grads = step.losses_and_grads(torch.index_select(train_x, 0, order[:cfg.batch_size]).flatten(1))
    grads = [g.clone() for g in grads]
    saved = adam.state_dict()
    times = {False: [], True: []}
    for r in range(5):
        for flush in (False, True):
            adam.load_state_dict(saved)  # the same state (and its subnormals) for every timing
            torch.set_flush_denormal(flush)
            t = time.perf_counter()
            for _ in range(args.repeats):
                adam.apply(grads)
            times[flush].append((time.perf_counter() - t) / args.repeats * 1e3)
    torch.set_flush_denormal(False)
    kept, flushed = (statistics.median(times[f]) for f in (False, True))
    print(f"Adam's step, one thread, median of 5 x {args.repeats}: {kept:.3f} ms with subnormals, {flushed:.3f} ms "
          f"flushed ({kept / flushed:.2f}x)")


if __name__ == "__main__":
    main()
