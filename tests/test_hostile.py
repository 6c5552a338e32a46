"""A hostile visitor of the hosted app: raw JSON to /gradio_api/call/<endpoint>, as any HTTP client can send it.

Nothing outside gradio's upload cache (and the app's examples) is ever opened, whatever path the payload names;
decoded images are bounded; bad values of every type get the endpoint's own sentence; old cache files are deleted.
"""
import json
import os
import time
import urllib.request

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import ROOT


def call(url, endpoint, data, timeout=60):
    """POST the raw payload, then read the event stream -> ("complete", data) or ("error", message)."""
    request = urllib.request.Request(f"{url}gradio_api/call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    event_id = json.load(urllib.request.urlopen(request, timeout=timeout))["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=timeout) as stream:
        kind = None
        for line in stream.read().decode().splitlines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line.split(":", 1)[1])
    raise AssertionError("no answer")


@pytest.fixture(scope="module")
def url(served_app):
    return served_app[1]


@pytest.fixture(scope="module")
def outside_image(tmp_path_factory):
    """A real digit image the server could read, but which was never uploaded to it."""
    path = tmp_path_factory.mktemp("outside") / "digit.png"
    Image.open(ROOT / "weights" / "mnist-vae" / "examples" / "digit_3.png").save(path)
    return path


def hostile_files(outside_image, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cache_link = tmp_path / "link.png"
    cache_link.symlink_to("/etc/passwd")
    return ["/etc/passwd", "/etc/shadow", "/dev/zero", str(fifo), "app.py", "../../etc/passwd", str(outside_image),
            str(cache_link), "/proc/self/environ"]


@pytest.mark.parametrize("shape", ["bare", "with_meta", "other_type", "url_only"])
def test_no_endpoint_opens_a_file_the_client_names(url, outside_image, tmp_path, shape):
    for path in hostile_files(outside_image, tmp_path):
        payload = {"bare": {"path": path},
                   "with_meta": {"path": path, "meta": {"_type": "gradio.FileData"}},
                   "other_type": {"path": path, "meta": {"_type": "something.Else"}},
                   "url_only": {"path": path, "url": f"file://{path}"}}[shape]
        for endpoint, data in (("reconstruct_upload", [payload]),
                               ("reconstruct_drawing", [{"background": None, "layers": [], "composite": payload}]),
                               ("interpolate", ["VAE", payload, payload, 4])):
            started = time.time()
            kind, answer = call(url, endpoint, data)
            assert kind == "error", (endpoint, path, answer)
            assert time.time() - started < 10  # a FIFO never blocks a worker
            assert "root:" not in json.dumps(answer)


def test_a_file_gradio_received_is_still_served(url, outside_image):
    client = Client(url, verbose=False)
    model_input, *_ = client.predict(handle_file(str(outside_image)), api_name="/reconstruct_upload")
    assert Image.open(model_input).size == (168, 168)


@pytest.mark.parametrize("endpoint, data, message", [
    ("decode_point", ["VAE", None, 0], "z1 must be a number"),
    ("decode_point", ["VAE", "nan", 0], "z1 must be a number"),
    ("decode_point", ["VAE", [1, 2], 0], "z1 must be a number"),
    ("decode_point", ["VAE", 0, "inf"], "z2 must be a number"),
    ("decode_point", [None, 0, 0], "model must be one of"),
    ("decode_point", [["VAE"], 0, 0], "model must be one of"),
    ("sample", [None, 0], "number of samples must be"),
    ("sample", [64, "x"], "seed must be"),
    ("sample", [64, 2**70], "seed must be"),
    ("sample", [2.5, 0], "number of samples must be a whole number"),
    ("latent_grid", ["VAE", 10, "nan"], "range must be"),
    ("latent_grid", ["VAE", [], 2], "grid size must be"),
    ("interpolate", ["VAE", None, None, 4], "Upload an image"),
    ("interpolate", ["VAE", {"path": "x.png"}, None, 4], "not uploaded to this app"),
    ("reconstruct_upload", [None], "Upload an image"),
])
def test_every_wrong_type_gets_the_endpoints_own_sentence(url, endpoint, data, message):
    kind, answer = call(url, endpoint, data)
    assert kind == "error" and message in json.dumps(answer), answer


@pytest.mark.parametrize("endpoint, data", [("interpolate", ["VAE", "just a string", None, 4]),
                                            ("reconstruct_upload", [12]), ("reconstruct_drawing", [[1, 2]]),
                                            ("reconstruct_upload", [{"path": ["a list"]}])])
def test_a_file_input_that_is_not_a_file_payload_is_refused(url, endpoint, data):
    """Gradio's own data model refuses these before any handler runs (with its generic message)."""
    assert call(url, endpoint, data)[0] == "error"


def test_numbers_sent_as_strings_work_and_each_model_has_its_own_range(url):
    """A slider set by the server (a click on the map) comes back as a string; the AE's map reaches z1 = 30 and
    more, far past the VAE's slider."""
    kind, answer = call(url, "decode_point", ["AE", "1.24", "-0.5"])
    assert kind == "complete"
    kind, answer = call(url, "decode_point", ["AE", 30.0, 20.0])
    assert kind == "complete", answer


def test_a_decompression_bomb_in_the_sketch_is_refused_before_decoding(url, tmp_path):
    """10000x10000 (a 97 KB PNG) as the sketch's composite: refused from its header, as for uploads."""
    Image.new("L", (10_000, 10_000)).save(tmp_path / "big.png")
    client = Client(url, verbose=False)
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "big.png"))}
    with pytest.raises(Exception, match="10000x10000 pixels; please upload one of at most 16 megapixels"):
        client.predict(sketch, api_name="/reconstruct_drawing")


def test_an_upload_over_the_size_limit_is_refused(url, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(np.random.default_rng(0).bytes(21_000_000))
    request = urllib.request.Request(f"{url}gradio_api/upload", method="POST", data=b"")
    boundary = "vaeexplorer"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413


@pytest.mark.slow  # timing: a second app, waiting for its cache to be cleaned
def test_old_cache_files_are_deleted(tmp_path, monkeypatch):
    """With delete_cache=(1, 1), the app's answers and a visitor's upload are gone a few seconds later (the pictures
    of the page itself, made once at start, stay)."""
    from ui import build_demo, untrained_models

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    demo = build_demo(untrained_models(), delete_cache=(1, 1))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        page = {p for p in (tmp_path / "cache").rglob("*") if p.is_file()}
        client.predict(8, 1, api_name="/sample")
        Image.new("L", (40, 40)).save(tmp_path / "upload.png")
        with pytest.raises(Exception, match="No digit found"):
            client.predict(handle_file(str(tmp_path / "upload.png")), api_name="/reconstruct_upload")
        written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p not in page]
        assert len(written) >= 3
        deadline = time.time() + 15
        while any(p.exists() for p in written) and time.time() < deadline:
            time.sleep(0.5)
        assert not [p for p in written if p.exists()]
    finally:
        demo.close()


def test_the_report_figures_are_served_and_nothing_else_of_the_repository(served_app):
    import urllib.error
    import urllib.request

    from ui.report import FIGURES, report_markdown

    url = served_app[1].rstrip("/")
    text = report_markdown()
    assert "/gradio_api/file=docs/figures/rate_distortion.png" in text and str(ROOT) not in text  # no server path
    with urllib.request.urlopen(f"{url}/gradio_api/file=docs/figures/rate_distortion.png", timeout=10) as r:
        assert r.status == 200 and r.read(8) == b"\x89PNG\r\n\x1a\n"
    for path in (ROOT / "app.py", ROOT / "docs" / "REPORT.md", ROOT / "weights" / "mnist-vae" / "model.safetensors",
                 FIGURES / ".." / ".." / "app.py", "/etc/passwd", "app.py", "docs/REPORT.md",
                 "docs/figures/../../app.py", "weights/mnist-vae/model.safetensors"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}/gradio_api/file={path}", timeout=10)
        assert e.value.code in (403, 404), path
