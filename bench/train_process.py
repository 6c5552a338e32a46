"""The 3-epoch training command as a whole process (start, data, epochs, export), against the reference script.

    python bench/train_process.py [--epochs 3] [--repeats 3] [--data_dir data] [--threads N]

Runs, alternating in one run so that both meet the same machine, `python -m train --autoencoder_type vae --n_epochs 3
--quiet` (into a temporary folder removed at the end) and bench/reference_vae.py (pytorch/examples' vae/main.py with
the same model), each `repeats` times, and prints each process's wall time and CPU time (user + sys), their medians
and the ratios reference / project. Also `python -m train --help` alone, the start every command pays. The load
average is printed before and after: on a busy machine the wall times are upper bounds, the CPU times less so.
"""
import own_tmp  # noqa: F401  (first: this run's temporary files in a folder removed at exit)
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd, env=None):
    """Run cmd from the repository root -> (wall seconds, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for both processes (default: torch's own choice, one a core); on a busy "
                        "machine 1 gives the steadier ratios")
    args = p.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    data = str(Path(args.data_dir).absolute())
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{os.cpu_count()} CPUs; threads {args.threads or 'torch default'}", flush=True)
    # the project's data cache and the reference's torchvision files are made once, before any timing
    subprocess.run([sys.executable, "-c", f"from train.mnist import load_mnist; load_mnist({data!r})"], cwd=ROOT,
                   check=True)
    times = {"project": [], "reference": [], "help": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            out = Path(tmp) / str(r)
            runs = {
                "project": [sys.executable, "-m", "train", "--autoencoder_type", "vae", "--n_epochs", str(args.epochs),
                            "--data_dir", data, "--out_dir", str(out / "results"), "--weights_dir", str(out / "w"),
                            "--quiet"],
                "reference": [sys.executable, "bench/reference_vae.py", "--epochs", str(args.epochs),
                              "--data_dir", data, "--out", str(out / "reference")],
                "help": [sys.executable, "-m", "train", "--help"],
            }
            for name in (("project", "reference", "help") if r % 2 == 0 else ("reference", "project", "help")):
                times[name].append(timed(runs[name], env))
            print(f"repeat {r}: " + ", ".join(f"{n} {w:.2f} s wall, {c:.2f} s CPU" for n, (w, c) in
                                               ((n, times[n][-1]) for n in times)), flush=True)
    med = {n: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for n, t in times.items()}
    print(f"{args.epochs}-epoch VAE as a whole process, medians of {args.repeats}: "
          f"reference {med['reference'][0]:.2f} s wall ({med['reference'][1]:.2f} s CPU), "
          f"project {med['project'][0]:.2f} s wall ({med['project'][1]:.2f} s CPU): "
          f"the project is {med['reference'][0] / med['project'][0]:.2f}x faster in wall time, "
          f"{med['reference'][1] / med['project'][1]:.2f}x in CPU time")
    print(f"python -m train --help: {med['help'][0]:.2f} s wall ({med['help'][1]:.2f} s CPU)")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
