"""The page computes a drawing itself: side by side in one run, on this machine,
  - the page's work per frame of a stroke in headless chromium (encode + decode + loss terms of the AE and the VAE;
    and the whole frame: preprocessing, both models, the pictures and the table), median and p95;
  - one /reconstruct_drawing round trip through gradio_client (the server preprocesses, encodes, decodes, draws);
  - the server's CPU seconds (utime + stime of the app's process, /proc/PID/stat) and the page's requests per stroke,
    over 20 strokes of 40 pointer moves, for the app before this change (git revision --before, default 5c07a01,
    the last one before the page computed; taken with `git archive`) and for this checkout.

    python bench/page_compute.py [--before 5c07a01] [--strokes 20] [--calls 10] [--port 7971]

Each app runs in its own process (python app.py) with its own gradio cache; the browser is Debian's chromium.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]
TICKS = os.sysconf("SC_CLK_TCK")

MODEL_TIMING = """n => {
  const v = window.vaeExplorerViews.reconstruct, x = v.x, times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    v.models.AE.lossTerms(x); v.models.VAE.lossTerms(x);
    times.push(performance.now() - t);
  }
  return times;
}"""


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def start_app(folder, port, cache):
    env = dict(os.environ, GRADIO_TEMP_DIR=cache, XDG_CACHE_HOME=cache)
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/config", timeout=5).raise_for_status()
            return server
        except (httpx.HTTPError, ValueError):
            if server.poll() is not None or time.time() > deadline:
                sys.exit(f"the app in {folder} did not start")
            time.sleep(1)


def summary(ms):
    ms = sorted(ms)
    return f"median {statistics.median(ms):7.2f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:7.2f} ms"


def strokes(browser, url, pid, n, after):
    """n strokes of 40 moves on Reconstruct -> (CPU seconds and requests per stroke, the page)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator("#sketch canvas").first.wait_for(timeout=60_000)
    if after:
        page.wait_for_function("() => window.vaeExplorerViews && window.vaeExplorerViews.reconstruct && "
                               "window.vaeExplorerViews.reconstruct.models.VAE && "
                               "window.vaeExplorerViews.reconstruct.models.AE", timeout=60_000)
    flying, requests = set(), []
    page.on("request", lambda r: (flying.add(r), requests.append(r.url)))
    page.on("requestfinished", lambda r: flying.discard(r))
    page.on("requestfailed", lambda r: flying.discard(r))

    def settle():  # no request in flight but the event stream for 1 s (the answer and its pictures are in)
        quiet = time.time()
        while time.time() - quiet < 1.0:
            page.wait_for_timeout(100)
            if any("/queue/data" not in r.url for r in flying):
                quiet = time.time()

    page.wait_for_timeout(3000)
    settle()
    box = page.locator("#sketch canvas").first.bounding_box()
    cpu, counts, rng = [], [], np.random.default_rng(0)
    for i in range(n):
        start_cpu, start_requests = cpu_seconds(pid), len(requests)
        x = box["x"] + box["width"] / 2 + rng.uniform(-90, 50)
        y = box["y"] + box["height"] / 2 + rng.uniform(-120, 0)
        page.mouse.move(x, y)
        page.mouse.down()
        for j in range(1, 41):
            page.mouse.move(x + 1.5 * j, y + 3 * j)
            page.wait_for_timeout(16)
        page.mouse.up()
        page.wait_for_timeout(300)
        settle()
        cpu.append(cpu_seconds(pid) - start_cpu)
        counts.append(len(requests) - start_requests)
    return cpu, counts, page


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="5c07a01", help="the git revision to compare with (default 5c07a01: the app "
                        "before the page computed, where the server encoded every stroke)")
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--port", type=int, default=7971)
    args = parser.parse_args()

    from gradio_client import Client, handle_file
    from PIL import Image
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="page-compute-"))
    before = work / "before"
    before.mkdir()
    archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    rows = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
            for name, folder, port in (("before", before, args.port), ("after", ROOT, args.port + 1)):
                cache = str(work / f"cache-{name}")
                server = start_app(folder, port, cache)
                url = f"http://127.0.0.1:{port}/"
                try:
                    cpu, counts, page = strokes(browser, url, server.pid, args.strokes, name == "after")
                    rows[name] = (cpu, counts)
                    if name == "after":
                        frames = page.evaluate("() => window.vaeExplorerViews.reconstruct.timings")
                        models = page.evaluate(MODEL_TIMING, 200)
                        canvas = np.full((280, 280, 4), 255, np.uint8)
                        canvas[60:220, 130:150, :3] = 0
                        Image.fromarray(canvas).save(work / "drawing.png")
                        client = Client(url, verbose=False)
                        sketch = {"background": None, "layers": [], "composite": handle_file(str(work / "drawing.png"))}
                        client.predict(sketch, api_name="/reconstruct_drawing")  # warm
                        trips = []
                        for _ in range(args.calls):
                            t = time.perf_counter()
                            client.predict(sketch, api_name="/reconstruct_drawing")
                            trips.append((time.perf_counter() - t) * 1000)
                    page.close()
                finally:
                    server.terminate()
                    server.wait(timeout=30)
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} CPUs")
    print(f"page, AE + VAE encode, decode and loss terms ({len(models)} runs): {summary(models)}")
    print(f"page, whole frame of a stroke ({len(frames)} frames):             {summary(frames)}")
    print(f"server, one /reconstruct_drawing round trip ({len(trips)} calls):    {summary(trips)}")
    print(f"per stroke over {args.strokes} strokes of 40 moves:  server CPU s (median, mean)   page requests (median)")
    for name, (cpu, counts) in rows.items():
        print(f"  {name:<6} ({args.before if name == 'before' else 'this checkout'}):"
              f"{' ' * (26 - len(args.before if name == 'before' else 'this checkout'))}"
              f"{statistics.median(cpu):.3f}, {statistics.fmean(cpu):.3f}             {statistics.median(counts):.0f}")
    b, a = (statistics.fmean(rows[k][0]) for k in ("before", "after"))
    print(f"server CPU per stroke, before / after: {b / a:.1f}x")


if __name__ == "__main__":
    main()
