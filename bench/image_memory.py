"""Peak memory of the app under concurrent worst-case hostile requests, and what stays resident after them.

    python bench/image_memory.py [--clients 8] [--port 7862] [--mixed 1000]

Starts `python app.py` in a subprocess, waits until it is idle, then sends `clients` requests at once of each kind,
by raw HTTP as a hostile client would (a new session each time), sampling the server's resident memory (VmRSS) every
10 ms, and prints the peak above idle for each kind:
- the largest image the app decodes (16 megapixels of RGBA, in a PNG under the 20 MB upload limit), as an upload,
  and through the page-load event that shows the example (fn_index, no api_name);
- an ICO and an ICNS whose entry is a 13300x13300 PNG (the directory says 256x256);
- a progressive CMYK JPEG of 8000x8000 (every coefficient is held until the last scan);
- the sketchpad's blob store: 80 pieces of 3.9 MB under new ids, and a layer index of 100,000,000;
- a 30 MB string for a number.
Then `mixed` requests of all those kinds, 8 at a time, and the resident memory after them against idle.
"""
import argparse
import io
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def files():
    """-> {name: bytes} of the worst cases (made once, kept in test-output/)."""
    out = ROOT / "test-output" / "hostile"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "cmyk.jpg").exists():
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 256, (50, 50, 4), dtype=np.uint8)
        tile[..., 3] = 255
        Image.fromarray(np.tile(tile, (80, 80, 1))).save(out / "largest.png")  # 4000x4000
        buffer = io.BytesIO()
        Image.new("RGBA", (13300, 13300)).save(buffer, "PNG")
        png = buffer.getvalue()
        (out / "bomb.ico").write_bytes(struct.pack("<HHH", 0, 1, 1) +
                                       struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png)
        entry = b"ic10" + struct.pack(">I", 8 + len(png)) + png
        (out / "bomb.icns").write_bytes(b"icns" + struct.pack(">I", 8 + len(entry)) + entry)
        smooth = Image.linear_gradient("L").resize((8000, 8000))  # about 1 MB, as in the issue
        Image.merge("CMYK", [smooth, smooth.rotate(90), smooth, smooth]).save(out / "cmyk.jpg", "JPEG",
                                                                               progressive=True, quality=50)
    return {p.name: p.read_bytes() for p in out.iterdir()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--port", type=int, default=7862)
    p.add_argument("--mixed", type=int, default=1000)
    args = p.parse_args()
    data = files()
    url = f"http://127.0.0.1:{args.port}/"
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(args.port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while True:
            try:
                config = httpx.get(f"{url}config", timeout=5).json()
                break
            except (httpx.HTTPError, ValueError):
                if server.poll() is not None or time.time() > deadline:
                    sys.exit("the app did not start")
                time.sleep(1)
        fns = config["dependencies"]
        load_index = next(i for i, d in enumerate(fns) if d.get("api_name") != "reconstruct_upload"
                          and d["targets"] and d["targets"][0][1] == "load" and len(d["inputs"]) == 2
                          and any(f.get("api_name") == "reconstruct_upload" and f["inputs"] == d["inputs"] for f in fns))
        sketch = next(c["id"] for c in config["components"] if c.get("type") == "imageeditor")  # Reconstruct's

        def upload(name):
            return httpx.post(f"{url}gradio_api/upload", files={"files": (name, data[name])}, timeout=120).json()[0]

        def call(endpoint, payload):
            answer = httpx.post(f"{url}gradio_api/call/{endpoint}", json={"data": payload}, timeout=120)
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}"
            with httpx.stream("GET", f"{url}gradio_api/call/{endpoint}/{answer.json()['event_id']}",
                              timeout=120) as s:
                text = "".join(s.iter_text())
            return "error" if "event: error" in text else "answered"

        def join(index, payload):
            session = uuid.uuid4().hex
            httpx.post(f"{url}gradio_api/queue/join", timeout=120,
                       json={"fn_index": index, "data": payload, "session_hash": session, "trigger_id": None})
            with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session},
                              timeout=120) as s:
                for line in s.iter_lines():
                    if "process_completed" in line:
                        return "answered" if '"success":true' in line.replace(" ", "") else "error"
            return "no answer"

        def blob(kind, index=None, size=3_900_000):
            fields = {"component_id": str(sketch), "session_hash": uuid.uuid4().hex, "fn_name": "accept_blobs",
                      "type": kind, "id": uuid.uuid4().hex, **({"index": str(index)} if index is not None else {})}
            return f"HTTP {httpx.post(f'{url}gradio_api/component_server', data=fields, timeout=120, files={'file': ('b', b'x' * size)}).status_code}"

        paths = {name: upload(name) for name in data}

        def image(name):
            return [{"path": paths[name], "meta": {"_type": "gradio.FileData"}}]

        kinds = {
            "upload, 16 MP PNG": lambda: call("reconstruct_upload", image("largest.png")),
            "page-load event, 16 MP PNG": lambda: join(load_index, image("largest.png") + [None]),
            "ICO holding 13300x13300 PNG": lambda: call("reconstruct_upload", image("bomb.ico")),
            "ICNS holding 13300x13300": lambda: call("reconstruct_upload", image("bomb.icns")),
            "progressive CMYK JPEG 8000^2": lambda: call("reconstruct_upload", image("cmyk.jpg")),
            "blob store, 10 x 3.9 MB each": lambda: [blob("composite") for _ in range(10)][-1],
            "blob, layer index 1e8": lambda: blob("layer", 100_000_000, 1),
            "30 MB string for a number": lambda: call("sample", [4, "9" * 30_000_000]),
        }
        time.sleep(3)
        idle = rss_mb(server.pid)
        print(f"idle: {idle:.0f} MB resident")
        for name, request in kinds.items():
            peak, done = [idle], threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_mb(server.pid))
                    time.sleep(0.01)

            def timed(_):
                t = time.perf_counter()
                outcome = request()
                return time.perf_counter() - t, outcome

            sampler = threading.Thread(target=sample)
            sampler.start()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(timed, range(args.clients)))
            done.set()
            sampler.join()
            print(f"{name:30s} {args.clients} at once: peak {peak[0] - idle:6.0f} MB above idle, kept "
                  f"{rss_mb(server.pid) - idle:5.0f} MB, slowest {max(t for t, _ in results):6.2f} s; {results[0][1]}")
        mixed = list(kinds.values())
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: mixed[i % len(mixed)](), range(args.mixed)))
        time.sleep(5)
        print(f"after {args.mixed} mixed hostile requests ({time.perf_counter() - started:.0f} s): "
              f"{rss_mb(server.pid):.0f} MB resident, {rss_mb(server.pid) - idle:+.0f} MB against idle")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
