"""A seeded generator of malformed requests to the app, and what each answer must not hold (used by
tests/test_refusals.py; also runnable: `python tests/fuzz.py URL [N] [SEED]` against a running app).

Requests are built from the app's own /config: every named endpoint at /gradio_api/call/<name> and every event by
its fn_index at /gradio_api/queue/join (the page's route, events without a name too), plus the other routes that
take an event's data (/run, /api, /call/v2, /stream, /cancel, /reset), the streams (/queue/data, /call/<name>/<id>)
and odd /gradio_api/file= paths. Each request is one mutation of a well-formed call: a wrong type, a missing or
extra field, nested JSON, a huge number, NaN or Infinity, a file payload naming something the server never received.
"""
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

# JSON values of every kind, each a plausible way to be wrong
JUNK = [None, True, False, 0, -1, 1.5, 2**70, 10**300, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), "",
        "x", "1e999", "NaN", "-0", " 3 ", "A" * 5000, [], [1, 2], [[[[[]]]]], {}, {"a": {"b": {"c": [1]}}},
        {"value": 1}, {"__type__": "update"}, "\u0000", "../../etc/passwd"]


def file_payloads(upload_dir):
    """File payloads naming what the server never received, or shaped wrongly."""
    meta = {"_type": "gradio.FileData"}
    paths = ["/etc/passwd", "/proc/self/environ", "/dev/zero", str(ROOT / "app.py"), "app.py", "../../etc/passwd",
             "~", "~/.bashrc", str(Path.home()), upload_dir, f"{upload_dir}/../../etc/passwd",
             f"{upload_dir}/never-uploaded.png", tempfile.gettempdir(), "", "\u0000", "C:\\Windows\\win.ini"]
    out = []
    for p in paths:
        out += [{"path": p}, {"path": p, "meta": meta}, {"path": p, "meta": {"_type": "other"}}, {"path": p, "meta": None}]
    out += [{"path": "data:image/png;base64,iVBORw0KGgo=", "meta": meta},
            {"url": "http://127.0.0.1:1/x.png", "path": "x.png", "meta": meta},
            {"path": ["a list"], "meta": meta}, {"path": 5, "meta": meta}, {"meta": meta}, {"url": "data:,x"},
            {"path": "/etc/passwd", "meta": meta, "is_stream": True}, {"path": "/etc/passwd", "meta": meta, "size": -1},
            {"path": "/etc/passwd", "meta": meta, "orig_name": 3}]
    return out


def sketch_payloads(files):
    tagged = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    return [{"background": None, "layers": [tagged], "composite": None},
            {"background": None, "layers": [tagged] * 3, "composite": tagged},
            {"background": {"path": "data:image/png;base64,AAAA", "meta": {"_type": "gradio.FileData"}},
             "layers": [], "composite": None},
            {"background": None, "layers": [], "composite": {"url": "http://127.0.0.1:1/c.png", "path": "c.png",
                                                             "meta": {"_type": "gradio.FileData"}}},
            {"background": None, "layers": None, "composite": None}, {"background": None, "layers": [None]},
            {"id": 5}, {"id": ["x"]}, {"id": "x" * 500}, {"id": "no-such-drawing", "extra": 1},
            {"composite": "just a string"}, {"layers": "x"}, {"layers": [{}] * 5}] + \
           [{"background": None, "layers": [], "composite": f} for f in files[::7]]


class Fuzzer:
    def __init__(self, config, seed, upload_dir):
        self.rng = random.Random(seed)
        self.deps = [d for d in config["dependencies"]]
        self.kinds = {c["id"]: c.get("type") for c in config["components"]}
        # each component's value on the page: a well-formed call, whose answer is read for server paths too
        self.defaults = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
        self.named = [d for d in self.deps if d.get("api_name") and d.get("api_visibility", "public") != "private"]
        self.files = file_payloads(upload_dir)
        self.sketches = sketch_payloads(self.files)

    def value(self, kind):
        r = self.rng.random()
        if kind in ("image", "file") or (kind == "imageeditor" and r < 0.3):
            return self.rng.choice(self.files + JUNK)
        if kind == "imageeditor":
            return self.rng.choice(self.sketches + JUNK)
        if kind == "dataset":
            return self.rng.choice([-1, 10**6, 1.5, "0", [0], None, {"index": 0}, True, 2**70, float("nan")])
        return self.rng.choice(JUNK + self.files[:4])

    def data(self, dep, simple):
        kinds = [self.kinds.get(i) for i in dep["inputs"]]
        if self.rng.random() < 0.15:  # as the page sends it
            return [None if k in ("state", "image", "imageeditor") else self.defaults.get(i)
                    for i, k in zip(dep["inputs"], kinds) if not (simple and k == "state")]
        if simple:  # the simple API leaves out the session's State
            kinds = [k for k in kinds if k != "state"] if self.rng.random() < 0.7 else kinds
        data = [None] * len(kinds)
        for i in self.rng.sample(range(len(kinds)), k=min(len(kinds), self.rng.randint(1, 3))):
            data[i] = self.value(kinds[i])
        r = self.rng.random()
        if r < 0.1 and data:
            data = data[: self.rng.randrange(len(data))]  # too few
        elif r < 0.2:
            data = data + [self.rng.choice(JUNK)] * self.rng.randint(1, 3)  # too many
        elif r < 0.28:
            return self.rng.choice([None, 5, "x", {"a": 1}, float("nan"), nested(60)])  # not a list
        return data

    def body(self, base):
        r = self.rng.random()
        if r < 0.1:
            base[self.rng.choice(["extra", "fn_index", "event_id", "trigger_id", "event_data", "batched",
                                  "simple_format", "request", "oauth_token"])] = self.rng.choice(JUNK)
        elif r < 0.15:
            base.pop("data", None)
        elif r < 0.22:
            base["session_hash"] = self.rng.choice([5, None, "", "x" * 5000, "../../x", {"a": 1}, "ok-session"])
        return base

    def request(self):
        """-> (method, path, raw body bytes or None, how its answer is read: None, "call" or "join")."""
        r = self.rng.random()
        if r < 0.38:
            dep = self.rng.choice(self.named)
            name = dep["api_name"]
            body = self.body({"data": self.data(dep, simple=True)})
            return "POST", f"call/{name}", dumps(body), "call"
        if r < 0.74:
            dep = self.rng.choice(self.deps)
            fn_index = dep["id"] if self.rng.random() < 0.85 else self.rng.choice(
                [len(self.deps) + 7, -1, 10**9, "3", 2.5, None, True, 2**80])
            body = self.body({"fn_index": fn_index, "data": self.data(dep, simple=False),
                              "session_hash": "fz" + "%08x" % self.rng.getrandbits(32), "event_data": None,
                              "trigger_id": self.rng.choice([None, None, 0, -5, 10**9, "x"])})
            return "POST", "queue/join", dumps(body), "join"
        if r < 0.84:
            path = self.rng.choice(["/etc/passwd", "~", "~/.bashrc", "~root", "..", "../../../etc/passwd",
                                    "%2e%2e/%2e%2e/etc/passwd", "/proc/self/environ", str(ROOT / "app.py"), "app.py",
                                    "docs/figures/nothing.png", "docs/figures/../../app.py", "x" * 3000, "%00",
                                    "/dev/zero", str(Path.home()), tempfile.gettempdir(), "weights/", ".",
                                    "http://127.0.0.1:1/x", "file:///etc/passwd", "data:,x", "\\\\server\\share"])
            return "GET", "file=" + path, None, None
        dep = self.rng.choice(self.deps)
        name = self.rng.choice([d["api_name"] for d in self.named] + ["no_such_endpoint", "predict", "..", "x" * 300])
        body = dumps(self.body({"fn_index": dep["id"], "data": self.data(dep, simple=False),
                                "session_hash": "fz%08x" % self.rng.getrandbits(32)}))
        return self.rng.choice([
            ("POST", f"run/{name}", body, None), ("POST", f"api/{name}", body, None),
            ("POST", f"call/v2/{name}", dumps({"a": self.rng.choice(JUNK)}), None),
            ("POST", f"stream/{self.rng.choice(['x', 'fz1', '0' * 32])}", body, None),
            ("POST", "cancel", dumps({"session_hash": self.rng.choice(JUNK[:6] + ["fz1"]),
                                      "fn_index": self.rng.choice([0, -1, 10**9, "x"]), "event_id": "x"}), None),
            ("POST", "reset", dumps({"event_id": self.rng.choice(JUNK[:6])}), None),
            ("GET", f"call/{name}/{'%032x' % self.rng.getrandbits(128)}", None, "stream"),
            ("GET", f"queue/data?session_hash=fz-unknown-{self.rng.getrandbits(20)}", None, "stream"),
            ("POST", f"call/{name}", b"{\"data\": NaN}", "call"), ("POST", "queue/join", b"{not json", "join"),
            ("POST", f"call/{name}", b"[1, 2]", "call"), ("POST", f"call/{name}", dumps(nested(400)), "call"),
        ])


def as_the_page(url, skip=()):
    """Call every named endpoint once with the page's own values (no file: those answer "upload first")
    -> {name: the answer's text}."""
    url = url.rstrip("/") + "/"
    answers = {}
    with httpx.Client(timeout=300) as client:
        fuzzer = Fuzzer(client.get(f"{url}config").json(), 0, "")
        for dep in fuzzer.named:
            name = dep["api_name"]
            if name in skip:
                continue
            data = [fuzzer.defaults.get(i) if fuzzer.kinds.get(i) not in ("image", "imageeditor") else None
                    for i in dep["inputs"] if fuzzer.kinds.get(i) != "state"]
            answer = client.post(f"{url}gradio_api/call/{name}", json={"data": data})
            answers[name] = (read_stream(client, f"{url}gradio_api/call/{name}/{answer.json()['event_id']}", 300)
                             if answer.status_code == 200 else answer.text)
    return answers


def nested(depth):
    value = [1]
    for _ in range(depth):
        value = {"a": [value]}
    return value


def dumps(value):
    return json.dumps(value).encode()  # NaN and Infinity as JavaScript writes them


def read_stream(client, url, timeout=20.0):
    """An event stream -> its text, until the event's end, the stream's end or `timeout` seconds."""
    text = []
    try:
        with client.stream("GET", url, timeout=timeout) as s:
            text.append(f"HTTP {s.status_code}\n")
            lines = s.iter_lines()
            for line in lines:
                text.append(line + "\n")
                if line.startswith("event: complete") or line.startswith("event: error"):
                    text.append(next(lines, "") + "\n")
                    break
                if '"process_completed"' in line:
                    break
    except httpx.TimeoutException:
        text.append("(timed out)\n")
    return "".join(text)


def null_error(text):
    """True when an answer holds an error without a message: gradio's {"error": null}."""
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        try:
            message = json.loads(line[5:])
        except ValueError:
            continue
        if message is None and "event: error" in text:
            return True
        if isinstance(message, dict):
            output = message.get("output")
            if message.get("msg") == "process_completed" and not message.get("success") and \
                    (not isinstance(output, dict) or not output.get("error")):
                return True
            if "error" in message and message["error"] is None and message.get("msg") != "process_completed":
                return True
    try:
        whole = json.loads(text)
        return isinstance(whole, dict) and "error" in whole and whole["error"] is None
    except ValueError:
        return False


def server_paths(upload_dir):
    """Folders of this server that no answer may name (gradio's own upload cache may: its file outputs live there)."""
    from ui.explorer import CANDIDATES

    return [str(ROOT), str(Path.home()), sys.prefix, *map(str, CANDIDATES), "site-packages"]


def leaks(text, forbidden, upload_dir, sent):
    """The server paths `text` names that the request did not send itself."""
    found = []
    for f in forbidden:
        for m in re.finditer(re.escape(f), text):
            found.append(text[max(0, m.start() - 60): m.end() + 60])
    return [f for f in found if f.strip() and f not in sent]


def run(url, n, seed, upload_dir, config=None):
    """Send n generated requests -> a list of (request, problem) for every answer that broke a rule."""
    url = url.rstrip("/") + "/gradio_api/"
    forbidden = server_paths(upload_dir)
    problems = []
    with httpx.Client(timeout=30) as client:
        config = config or client.get(url.rsplit("gradio_api/", 1)[0] + "config").json()
        fuzzer = Fuzzer(config, seed, upload_dir)
        for _ in range(n):
            method, path, body, read = fuzzer.request()
            sent = (path + (body or b"").decode(errors="replace"))
            try:
                answer = client.request(method, url + path, content=body,
                                        headers={"Content-Type": "application/json"} if body is not None else {})
                text = f"HTTP {answer.status_code}\n" + answer.text[:20000]
                status = answer.status_code
                if status == 200 and read in ("call", "join"):
                    stream = (f"{url}{path}/{answer.json()['event_id']}" if read == "call" else
                              f"{url}queue/data?session_hash={json.loads(body)['session_hash']}")
                    text += read_stream(client, stream)
                elif read == "stream":
                    text = read_stream(client, url + path, timeout=5)
                    status = int(text.split()[1]) if text.startswith("HTTP") else 200
            except httpx.TimeoutException:
                problems.append(((method, path, body), "timed out"))
                continue
            except httpx.TransportError as e:  # the server closed the connection without an answer
                problems.append(((method, path, body), f"no answer: {e}"))
                continue
            if status >= 500:
                problems.append(((method, path, body), f"status {status}: {text[:300]}"))
            if null_error(text):
                problems.append(((method, path, body), f"an error without a message: {text[:300]}"))
            for leak in leaks(text, forbidden, upload_dir, sent):
                if leak not in sent:
                    problems.append(((method, path, body), f"a server path: {leak}"))
    return problems


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    target, count, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100, int(sys.argv[3]) if len(sys.argv) > 3 else 0
    import gradio as gr

    for request, problem in run(target, count, seed, gr.utils.get_upload_folder()):
        print(request[0], request[1], (request[2] or b"")[:150], "->", problem[:300])


SERVE = """
import sys
sys.path.insert(0, {root!r})
from ui import build_demo, launch, untrained_models
from conftest import ROOT
models = untrained_models()
models.examples = sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))
demo = build_demo(models)
_, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True{extra})
print("URL", url, flush=True)
demo.block_thread()
"""


def serve(cache, log, extra=""):
    """The app of small untrained models in a process of its own (its log in `log`) -> (process, url)."""
    import subprocess
    import time

    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "PYTHONPATH": str(ROOT / "tests")}
    out = open(log, "w")
    process = subprocess.Popen([sys.executable, "-u", "-c", SERVE.format(root=str(ROOT), extra=extra)], cwd=ROOT,
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        found = re.search(r"^URL (\S+)", Path(log).read_text(), re.M)
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            raise RuntimeError(Path(log).read_text()[-2000:])
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the app did not start")


def resident_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
