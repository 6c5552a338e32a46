"""End-to-end latency of every app endpoint through gradio_client, beside a no-op endpoint of the same app.

    python bench/app_latency.py [--calls 30] [--clients 8] [--port 7861]

(The Train tab trains in the visitor's browser and has no endpoint: bench/train_in_browser.py measures it.)

Starts the app (with a no-op endpoint that only this benchmark adds) in a subprocess, reports the time from launch
to the first answer, then for each endpoint the
p50 and p95 of `calls` sequential requests and of `calls` requests per client from `clients` concurrent clients,
and the ratio of each to the no-op's: what our own work costs on top of gradio's round trip.
"""
import own_tmp  # noqa: F401  (first: this run's temporary files in a folder removed at exit)
import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def endpoints(tmp):
    digit = str(sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))[7])
    other = str(sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))[1])
    canvas = np.full((280, 280, 4), 255, np.uint8)
    canvas[60:220, 130:150, :3] = 0
    Image.fromarray(canvas).save(tmp / "drawing.png")
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp / "drawing.png"))}
    return {
        "noop": ((), "/noop"),
        "reconstruct_upload": ((handle_file(digit),), "/reconstruct_upload"),
        "reconstruct_drawing": ((sketch,), "/reconstruct_drawing"),
        "sample (64)": ((64, 0), "/sample"),
        "latent_grid (20x20)": (("VAE", 20, 2.0), "/latent_grid"),
        "decode_point": (("VAE", 0.5, -0.5), "/decode_point"),
        "interpolate (10)": (("VAE", handle_file(digit), handle_file(other), 10), "/interpolate"),
    }


def build(with_noop=True):
    """The app as `python app.py` builds it, plus the no-op endpoint: the baseline of gradio's own round trip."""
    import gradio as gr
    from ui import build_demo, load_models

    demo = build_demo(load_models(ROOT / "weights", ROOT / "weights" / "celeba-vae"))
    if with_noop:
        with demo:
            gr.api(lambda: "ok", api_name="noop")
    return demo


def handler_ms(calls, repeats=20):
    """Each endpoint's own work: its handler called directly in this process (no HTTP, no queue), in ms."""
    from gradio_client.utils import is_file_obj_with_meta

    demo = build()
    handlers = {f"/{fn.api_name}": fn.fn for fn in demo.fns.values() if fn.api_name}

    import shutil
    import gradio as gr

    cache = Path(gr.utils.get_upload_folder()) / "app_latency_bench"
    cache.mkdir(parents=True, exist_ok=True)

    def local(value):  # what the handler receives from gradio (preprocess=False): the raw payload, a cached file
        if isinstance(value, dict) and is_file_obj_with_meta(value):
            return {"path": str(shutil.copy(value["path"], cache / Path(value["path"]).name))}
        if isinstance(value, dict):
            return {**value, "composite": local(value["composite"])}
        return value

    out = {}
    for name, (inputs, api) in calls.items():
        args = [local(v) for v in inputs]
        handlers[api](*args)
        t = time.perf_counter()
        for _ in range(repeats):
            handlers[api](*args)
        out[name] = (time.perf_counter() - t) / repeats * 1000
    return out


def timed(client, args, api_name):
    t = time.perf_counter()
    client.predict(*args, api_name=api_name)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--port", type=int, default=7861)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server subprocess
    args = p.parse_args()
    url = f"http://127.0.0.1:{args.port}/"
    if args.serve:
        from ui import launch
        launch(build(), server_port=args.port)
        return

    t0 = time.perf_counter()
    (ROOT / "test-output").mkdir(exist_ok=True)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(args.port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=open(ROOT / "test-output" / "app_latency_server.log", "w"))
    try:
        while True:
            try:
                client = Client(url, verbose=False)
                client.predict(api_name="/noop")
                break
            except Exception:
                if server.poll() is not None or time.perf_counter() - t0 > 180:
                    sys.exit("the app did not start")
                time.sleep(0.2)
        print(f"launch to first answer: {time.perf_counter() - t0:.2f} s")

        tmp = ROOT / "test-output"
        tmp.mkdir(exist_ok=True)
        calls = endpoints(tmp)
        clients = [Client(url, verbose=False) for _ in range(args.clients)]
        results = {}
        for name, (inputs, api) in calls.items():
            timed(client, inputs, api)  # warm-up
            seq = [timed(client, inputs, api) for _ in range(args.calls)]
            with ThreadPoolExecutor(args.clients) as pool:
                conc = [t for ts in pool.map(lambda c: [timed(c, inputs, api) for _ in range(args.calls // 2)],
                                             clients) for t in ts]
            results[name] = (seq, conc)
        own = handler_ms(calls)
        base_seq, base_conc = (statistics.median(x) for x in results["noop"])
        print(f"{'endpoint':22s} {'handler':>8s} {'seq p50':>8s} {'seq p95':>8s} {'x noop':>7s} | "
              f"{args.clients} clients: {'p50':>7s} {'p95':>8s} {'x noop':>7s}   (ms)")
        for name, (seq, conc) in results.items():
            print(f"{name:22s} {own[name]:8.1f} {percentile(seq, 50):8.1f} {percentile(seq, 95):8.1f} "
                  f"{statistics.median(seq) / base_seq:7.2f} | {'':11s}{percentile(conc, 50):7.1f} "
                  f"{percentile(conc, 95):8.1f} {statistics.median(conc) / base_conc:7.2f}")
        print("handler: the endpoint's own work (inference, pictures, PNG files), called in-process; the rest of "
              "each latency is gradio's round trip: queue, events, and one download per output file.")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
