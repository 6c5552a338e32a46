"""The Train tab's epoch time with no HTTP and no client on the machine: its handler called in-process.

    python bench/train_tab_speed.py [--epochs 3] [--digits 10000] [--kind VAE]

Builds the app from the shipped weights, runs the /train handler (the generator the page streams) and prints each
epoch's seconds as the handler measures them (training, test pass and the pictures) and the number of updates.
bench/app_latency.py --training measures the same through gradio_client, whose process shares the machine.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Visitor:
    session_hash = "bench"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--digits", type=int, default=10_000)
    p.add_argument("--kind", default="VAE", choices=["VAE", "AE"])
    args = p.parse_args()
    from ui import build_demo, load_models

    demo = build_demo(load_models(ROOT / "weights"))
    train = next(f.fn for f in demo.fns.values() if f.api_name == "train")
    started, updates, rows = time.perf_counter(), 0, []
    for out in train(args.kind, "1", 0, args.epochs, args.digits, Visitor()):
        updates += 1
        rows = next((v for v in out.values() if isinstance(v, list) and v and "seconds" in v[-1]), rows)
    total = time.perf_counter() - started
    print(f"{args.kind}, {args.digits:,} digits: epochs (training, test pass, pictures) "
          + ", ".join(f"{r['seconds']:.2f}" for r in rows) + f" s; {updates} updates in {total:.1f} s (the first run "
          "of a process also waits for torch.optim's first import, about 2 s)")


if __name__ == "__main__":
    main()
