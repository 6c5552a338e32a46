"""The latent explorer's speed: one decode in the visitor's page (chromium, plain JavaScript, performance.now() around
each of 1,000 decodes) beside one decode_point round trip through the server (gradio_client, the PNGs fetched),
measured in the same run on the same machine.

    python bench/explorer_speed.py [--decodes 1000] [--calls 30] [--port 7962]

A frame at 60 Hz lasts 16.7 ms; the page's goal is a decode under 2 ms.
"""
import own_tmp  # noqa: F401  (first: this run's temporary files in a folder removed at exit)
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMING = """([n, name]) => {
  const s = document.querySelector('#latent-explorer .lx').explorer, d = s.desc, out = new Float32Array(784);
  const times = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const z1 = d.xlim[0] + Math.random() * (d.xlim[1] - d.xlim[0]), z2 = d.ylim[0] + Math.random() * (d.ylim[1] - d.ylim[0]);
    const t = performance.now();
    s.model.decode(z1, z2, undefined, out);
    times.push(performance.now() - t);
  }
  return {times, total: performance.now() - started, model: d.model};
}"""


def summary(ms):
    ms = sorted(ms)
    return (f"median {statistics.median(ms):.3f} ms, mean {statistics.fmean(ms):.3f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.3f} ms, max {ms[-1]:.3f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decodes", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--port", type=int, default=7962)
    args = parser.parse_args()

    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    from ui import build_demo, launch, load_models

    demo = build_demo(load_models(ROOT / "weights"))
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=args.port, quiet=True)
    try:
        page_ms = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("tab", name="Latent space").click()
            for name in ("VAE", "AE"):
                if name != "VAE":
                    page.get_by_role("radio", name=name, exact=True).check()
                page.locator(f"#latent-explorer .lx[data-ready='{name}']").wait_for(state="attached", timeout=60_000)
                page.evaluate(TIMING, [100, name])  # warm-up: let the JIT compile the loop
                result = page.evaluate(TIMING, [args.decodes, name])
                page_ms[name] = result
            browser.close()

        client = Client(url, verbose=False)
        for _ in range(3):
            client.predict("VAE", 0.5, -0.5, api_name="/decode_point")
        trips = []
        for i in range(args.calls):
            started = time.perf_counter()
            client.predict("VAE", -1 + 2 * i / args.calls, 0.5, api_name="/decode_point")
            trips.append(1000 * (time.perf_counter() - started))
    finally:
        demo.close()

    print(f"in the page (chromium, {args.decodes} decodes each, performance.now() around each decode):")
    for name, r in page_ms.items():
        print(f"  {name}: {summary(r['times'])}; {r['total'] / args.decodes:.3f} ms a decode over the whole loop")
    server = statistics.median(trips)
    print(f"through the server (/decode_point with gradio_client, {args.calls} calls, its 2 PNGs fetched): "
          f"{summary(trips)}")
    for name, r in page_ms.items():
        print(f"  round trip / page decode ({name}, medians): {server / statistics.median(r['times']):.0f}x "
              f"(mean over the loop: {server / (r['total'] / args.decodes):.0f}x)")


if __name__ == "__main__":
    main()
