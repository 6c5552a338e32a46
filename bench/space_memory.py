"""The app's memory as a Space would run it: resident after start, and the peak under 8 clients at once.

    python bench/space_memory.py [--clients 8] [--calls 4] [--port 7980]

Copies exactly the files `python space.py --dry-run` lists into a temporary folder (so this also shows that they
suffice to serve the app), starts `python app.py` there in a subprocess, and reads the server's resident memory from
/proc: VmRSS once it answers, then `clients` gradio_client clients each call every endpoint of
bench/app_latency.py `calls` times (the Train tab trains in the visitor's browser: no server work), and
VmHWM, the resident peak of the whole run. A free CPU Space has 16 GB of memory and 2 vCPUs.
"""
import own_tmp  # noqa: F401  (first: this run's temporary files in a folder removed at exit)
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app_latency import endpoints  # noqa: E402
from space import space_files  # noqa: E402


def memory_mb(pid):
    """(VmRSS, VmHWM) of a process in MB: resident now, and the resident peak since it started."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--port", type=int, default=7980)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        space, work = Path(tmp) / "space", Path(tmp) / "work"
        for f in space_files():
            (space / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, space / f)
        work.mkdir()
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "app.py", "--port", str(args.port)], cwd=space,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{args.port}/"
            while True:
                if server.poll() is not None:
                    sys.exit(f"error: the app exited with code {server.returncode} before answering.")
                try:
                    client = Client(url, verbose=False)
                    break
                except Exception:  # not up yet
                    time.sleep(0.5)
            calls = endpoints(work)
            calls.pop("noop")
            client.predict(*calls["decode_point"][0], api_name="/decode_point")
            started = time.perf_counter() - t0
            rss, _ = memory_mb(server.pid)
            print(f"files: {len(space_files())} (python space.py --dry-run); up and answering after {started:.1f} s")
            print(f"resident after start and one answer: {rss:.0f} MB")

            failures = []

            def call(c, call_args, api_name):
                try:
                    c.predict(*call_args, api_name=api_name)
                except Exception as e:  # counted and shown: the memory is measured all the same
                    failures.append(f"{api_name}: {type(e).__name__}: {str(e)[:120]}")

            def visitor(k):
                c = Client(url, verbose=False)
                for _ in range(args.calls):
                    for call_args, api_name in calls.values():
                        call(c, call_args, api_name)

            t1 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(visitor, range(args.clients)))
            if server.poll() is not None:
                sys.exit(f"error: the app exited with code {server.returncode} under the load.")
            rss_after, peak = memory_mb(server.pid)
            print(f"{args.clients} clients x {args.calls} rounds of {len(calls)} endpoints, one Train run of 3 "
                  f"epochs: {time.perf_counter() - t1:.0f} s")
            print(f"resident peak (VmHWM): {peak:.0f} MB; resident afterwards: {rss_after:.0f} MB")
            print(f"{len(failures)} of {args.clients * args.calls * len(calls) + 1} calls failed"
                  + "".join(f"\n  {f}" for f in failures))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
