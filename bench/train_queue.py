"""Does a flood of training runs make the rest of the app unavailable or slow?

    python bench/train_queue.py [--port 7863] [--sessions 64] [--calls 20]

Starts `python app.py`, times `calls` calls of /reconstruct_upload (the example digit) one after another when idle;
then sends `sessions` calls of /train ["VAE", "1", i, 20, 10000], each from a new session, all at once, and times
the same reconstruct calls while they are queued, refused or running. Prints how many got 503, how many training
runs were refused at once, and the p50 latency of /reconstruct_upload meanwhile against idle (goal: no 503, within
2x of idle; one training run shares the server's cores with the reconstructs, by design).
"""
import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=7863)
    p.add_argument("--sessions", type=int, default=64)
    p.add_argument("--calls", type=int, default=20)
    args = p.parse_args()
    url = f"http://127.0.0.1:{args.port}/"
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(args.port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while True:
            try:
                httpx.get(f"{url}config", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit("the app did not start")
                time.sleep(1)
        example = ROOT / "weights" / "mnist-vae" / "examples" / "digit_3.png"
        path = httpx.post(f"{url}gradio_api/upload", files={"files": ("d.png", example.read_bytes())},
                          timeout=60).json()[0]
        statuses = []

        def call(endpoint, data, timeout=600):
            answer = httpx.post(f"{url}gradio_api/call/{endpoint}", json={"data": data}, timeout=timeout)
            statuses.append(answer.status_code)
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}"
            with httpx.stream("GET", f"{url}gradio_api/call/{endpoint}/{answer.json()['event_id']}",
                              timeout=timeout) as s:
                text = "".join(s.iter_text())
            return "error: " + text.rsplit("data:", 1)[-1].strip()[:90] if "event: error" in text else "complete"

        def reconstructs():
            times = []
            for _ in range(args.calls):
                t = time.perf_counter()
                assert call("reconstruct_upload", [{"path": path, "meta": {"_type": "gradio.FileData"}}]) == "complete"
                times.append(time.perf_counter() - t)
            return statistics.median(times)

        idle = reconstructs()
        trains = [None] * args.sessions

        def train(i):
            try:
                trains[i] = call("train", ["VAE", "1", i, 20, 10000])
            except httpx.HTTPError:  # the runs still going when the server is stopped at the end
                trains[i] = "cut"

        threads = [threading.Thread(target=train, args=(i,), daemon=True) for i in range(args.sessions)]
        for t in threads:
            t.start()
        time.sleep(1)
        busy = reconstructs()
        refused = [t for t in trains if t and t.startswith("error")]
        print(f"{args.sessions} training calls from {args.sessions} sessions: {statuses.count(503)} answered 503 "
              f"(of {len(statuses)} requests in all); {len(refused)} refused at once, e.g. {refused[:1]}")
        print(f"/reconstruct_upload p50: idle {idle * 1000:.0f} ms, during the flood {busy * 1000:.0f} ms "
              f"({busy / idle:.2f}x)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
