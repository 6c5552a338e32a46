"""Seconds per training step on a GPU, three ways, for bench/train_speed.py and bench/celeba_speed.py.

- eager: train.loop.train_epoch stepping kernel by kernel (the CPU's and torchrun's path, `--eager` on one GPU);
- captured: train_epoch replaying the step as a CUDA graph (train.loop.CapturedStep, the default on one GPU),
  with everything the trainer does per step (the index copy, the progress bookkeeping);
- floor: the same captured graph replayed back to back with nothing between, timed with CUDA events: what the
  step costs the GPU itself, the least any loop around it can take.
"""
import time

import torch

from train.loop import CapturedStep, LoopConfig, make_optimizer, train_epoch


def _timed(fn):
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t


def time_steps(make_model, data, batch_size, n_steps, device="cuda"):
    """-> {"eager": s, "captured": s, "floor": s} per step of `batch_size` images from `data` (on the device)."""
    torch.backends.cudnn.deterministic = True  # as the trainer runs on a GPU (exact resumes)
    cfg = LoopConfig(out_dir=".", batch_size=batch_size, device=device, quiet=True)
    n_steps = min(n_steps, len(data) // batch_size)
    order = torch.randperm(len(data))[:n_steps * batch_size]
    warm = order[:3 * batch_size]
    result = {}
    for path in ("eager", "captured"):
        torch.manual_seed(0)
        model = make_model().to(device)
        optimizer = make_optimizer(model, cfg)
        step = CapturedStep(model, optimizer, data, cfg) if path == "captured" else None
        train_epoch(model, optimizer, data, warm, cfg, captured=step)  # warm-up: autotuning, allocator, capture
        result[path] = _timed(lambda: train_epoch(model, optimizer, data, order, cfg, captured=step)) / n_steps
    graph = step.graphs[batch_size]
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(n_steps):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    result["floor"] = start.elapsed_time(end) / 1000 / n_steps
    return result


def report(name, result, per_epoch_steps):
    """Lines to print: ms per step each way, the ratio to the floor, and the steps of one epoch."""
    lines = [f"{name} on {torch.cuda.get_device_name()}:"]
    for path in ("eager", "captured", "floor"):
        ms = result[path] * 1000
        lines.append(f"  {path:9s} {ms:7.3f} ms a step  ({result[path] / result['floor']:.2f}x the floor; "
                     f"an epoch's {per_epoch_steps} steps {result[path] * per_epoch_steps:.2f} s)")
    return "\n".join(lines)
