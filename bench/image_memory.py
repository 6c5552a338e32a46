"""Peak memory of the app under concurrent worst-case image requests, and how long each takes.

    python bench/image_memory.py [--clients 8] [--port 7862]

Starts `python app.py` in a subprocess, waits until it is idle, then sends `clients` requests at once of each kind:
the largest image the app decodes (16 megapixels of RGBA, 4 bytes a pixel once decoded, in a PNG under the 20 MB
upload limit) as an upload and as the sketch's composite, and
a 10000x10000 PNG (a 97 KB decompression bomb) that must be refused from its header. It samples the server's
resident memory (VmRSS) every 10 ms and prints the peak above idle for each kind.
"""
import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--port", type=int, default=7862)
    args = p.parse_args()
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    side = 4000  # 16 megapixels: the most the app decodes
    tile = rng.integers(0, 256, (50, 50, 4), dtype=np.uint8)
    tile[..., 3] = 255
    Image.fromarray(np.tile(tile, (side // 50, side // 50, 1))).save(out / "largest.png")
    Image.new("L", (10_000, 10_000)).save(out / "bomb.png")

    server = subprocess.Popen([sys.executable, "app.py", "--port", str(args.port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while True:
            try:
                Client(f"http://127.0.0.1:{args.port}/", verbose=False)
                break
            except Exception:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit("the app did not start")
                time.sleep(0.5)
        clients = [Client(f"http://127.0.0.1:{args.port}/", verbose=False) for _ in range(args.clients)]
        time.sleep(2)
        idle = rss_mb(server.pid)
        print(f"idle: {idle:.0f} MB resident")
        kinds = {
            "upload, 16 MP PNG": lambda c: c.predict(handle_file(str(out / "largest.png")),
                                                    api_name="/reconstruct_upload"),
            "sketch, 16 MP PNG": lambda c: c.predict({"background": None, "layers": [],
                                                      "composite": handle_file(str(out / "largest.png"))},
                                                     api_name="/reconstruct_drawing"),
            "sketch, 10000x10000 bomb": lambda c: c.predict({"background": None, "layers": [],
                                                             "composite": handle_file(str(out / "bomb.png"))},
                                                            api_name="/reconstruct_drawing"),
        }
        for name, request in kinds.items():
            peak, done = [idle], threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_mb(server.pid))
                    time.sleep(0.01)

            def timed(c):
                t = time.perf_counter()
                try:
                    request(c)
                    outcome = "answered"
                except Exception as e:  # the bomb is refused: that is the expected outcome
                    outcome = str(e).splitlines()[0][:70]
                return time.perf_counter() - t, outcome

            sampler = threading.Thread(target=sample)
            sampler.start()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(timed, clients))
            done.set()
            sampler.join()
            print(f"{name:26s} {args.clients} at once: peak {peak[0] - idle:6.0f} MB above idle, "
                  f"slowest {max(t for t, _ in results):.2f} s; {results[0][1]}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
