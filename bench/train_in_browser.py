"""The Train tab's cost, side by side in one run: training in the visitor's browser (headless chromium, the page's own
backend choice) against the server trainer's epoch on the same digits, and the server's CPU seconds per visitor's run
before (the server trained it) and after (the page trains it).

    python bench/train_in_browser.py [--digits 10000] [--phone-digits 2000]

Prints: one epoch over --digits training digits in chromium at 1400 px (and the backend it used, and the longest
gap between two draws of the map during the epoch), one epoch over --phone-digits (the page's default) at 390 px,
the server trainer's epoch (train.loop.run_epochs, the same model, batch, Adam and digits, with its test pass), and
the app process's CPU seconds (/proc/PID/stat) over the browser's run. Write `uptime`'s load average beside them.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_training import (CHROMIUM, FLAGS, cpu_seconds, free_port, open_train_tab, start_app,  # noqa: E402
                           start_run, wait_done)


def browser_epoch(url, app_pid, digits, width):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = open_train_tab(browser, url, width)
        cpu0 = cpu_seconds(app_pid)
        start_run(page, kind="vae", seed=0, epochs=1, digits=digits)
        result = wait_done(page, 1, timeout=1_200_000)
        gaps = page.evaluate("document.querySelector('.tv').trainView.drawGaps")
        browser.close()
    return result["rows"][0]["seconds"], result["backend"], max(gaps or [0]) / 1000, cpu_seconds(app_pid) - cpu0


def server_epoch(digits):
    """-> (wall seconds, CPU seconds) of the server trainer's epoch and test pass on the first `digits` of the subset."""
    import torch

    from train.loop import LoopConfig, make_optimizer, run_epochs
    from train.mnist import load_subset
    from vae_models import Autoencoder

    subset = load_subset(ROOT / "weights" / "mnist-subset.safetensors")
    cfg = LoopConfig(out_dir=".", n_epochs=1, seed=0, quiet=True)
    torch.manual_seed(0)
    model = Autoencoder("vae")
    optimizer = make_optimizer(model, cfg)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in run_epochs(model, optimizer, subset["train"][0][:digits], subset["test"][0], cfg):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=10_000)
    parser.add_argument("--phone-digits", type=int, default=2_000)
    args = parser.parse_args()
    port = free_port()
    app = start_app(port)
    try:
        url = f"http://127.0.0.1:{port}/"
        page_s, backend, gap, page_cpu = browser_epoch(url, app.pid, args.digits, 1400)
        phone_s, phone_backend, phone_gap, _ = browser_epoch(url, app.pid, args.phone_digits, 390)
    finally:
        app.terminate()
        app.wait(30)
    server_s, server_cpu = server_epoch(args.digits)
    print(f"one epoch over {args.digits:,} digits, batch 128, Adam, the VAE 784-512-2:")
    print(f"  in the page (headless chromium, 1400 px, {backend}): {page_s:6.1f} s  (longest gap between two draws "
          f"of the map: {gap:.2f} s)")
    print(f"  the server trainer (PyTorch, this CPU):            {server_s:6.1f} s  (page / server: "
          f"{page_s / server_s:.1f}x)")
    print(f"one epoch over {args.phone_digits:,} digits in the page at 390 px ({phone_backend}): {phone_s:.1f} s "
          f"(longest gap between two draws: {phone_gap:.2f} s)")
    print(f"server CPU seconds per visitor's run of 1 epoch over {args.digits:,} digits: before (the server trained "
          f"it) {server_cpu:.1f} s; after (the page trains it) {page_cpu:.2f} s")


if __name__ == "__main__":
    main()
