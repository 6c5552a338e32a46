"""A hostile visitor of the hosted app: raw JSON to /gradio_api/call/<endpoint>, as any HTTP client can send it.

Nothing outside gradio's upload cache (and the app's examples) is ever opened, whatever path the payload names;
decoded images are bounded; bad values of every type get the endpoint's own sentence; old cache files are deleted.
"""
import json
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import ROOT


def call(url, endpoint, data, timeout=60):
    """POST the raw payload, then read the event stream -> ("complete", data) or ("error", message): the handler's,
    or the app's refusal of the call (a 4xx, ui.limits.Guard) before any event is made."""
    request = urllib.request.Request(f"{url}gradio_api/call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        event_id = json.load(urllib.request.urlopen(request, timeout=timeout))["event_id"]
    except urllib.error.HTTPError as refused:
        assert 400 <= refused.code < 500, refused.code
        return "error", json.load(refused)["error"]
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
    ("interpolate", ["VAE", {"path": "x.png", "meta": {"_type": "gradio.FileData"}}, None, 4],
     "not uploaded to this app"),
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


# Round 2: each resource bounded at one choke point (issue 20). An app of small untrained models, launched with
# ui.launch (the request-size bound is part of it), driven by raw HTTP (httpx) as a hostile client would.

import io  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402


@pytest.fixture(scope="module")
def small_app(untrained_app):
    return untrained_app


def upload(url, data, name="x.png"):
    """Multipart POST to gradio's upload route -> the path the server stored the file under."""
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (name, data)}, timeout=60)
    answer.raise_for_status()
    return answer.json()[0]


def test_a_component_call_as_a_form_without_its_names_is_one_sentence(small_app, capfd):
    """gradio's component_server raised KeyError (a plain 500, a traceback in the log) for a form without
    component_id, or naming a component the page has not."""
    demo, url = small_app
    sketch = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sketch")
    capfd.readouterr()
    for fields in ({"a": "1"}, {"component_id": "x", "session_hash": "s", "fn_name": "accept_blobs"},
                   {"component_id": "99999", "session_hash": "s", "fn_name": "accept_blobs"},
                   {"component_id": str(sketch._id), "fn_name": "accept_blobs"}):
        answer = httpx.post(f"{url}gradio_api/component_server", data=fields, files={"file": ("b", b"x")}, timeout=60)
        assert answer.status_code == 400 and "names its component_id" in answer.json()["error"], (fields, answer.text)
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" not in "".join(capfd.readouterr())


def test_a_form_field_that_is_not_a_file_is_one_sentence_at_the_upload_route(small_app):
    """gradio's upload route raised TypeError (a plain 500, a traceback in the log) for a part without a file name."""
    _, url = small_app
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (None, "not a file")}, timeout=60)  # no name
    assert answer.status_code == 400 and "each 'files' part with a file name" in answer.json()["error"]
    assert len(upload(url, png_bytes(digit_image()))) > 0  # a file still uploads


def test_every_answer_forbids_type_sniffing(small_app):
    """X-Content-Type-Options: nosniff on the page, its modules, an uploaded file served back and a refusal; the
    modules keep types a browser runs with it."""
    _, url = small_app
    stored = upload(url, png_bytes(digit_image()))
    answers = {"page": httpx.get(url, timeout=60), "module": httpx.get(f"{url}vae/static/page.js", timeout=60),
               "upload": httpx.get(f"{url}gradio_api/file={stored}", timeout=60),
               "refusal": httpx.post(f"{url}gradio_api/call/nothing", json={"data": []}, timeout=60)}
    assert {name: a.headers.get("x-content-type-options") for name, a in answers.items()} == dict.fromkeys(
        answers, "nosniff")
    assert answers["module"].headers["content-type"] in ("application/javascript", "text/javascript")
    assert answers["upload"].status_code == 200 and answers["upload"].headers["content-type"] == "image/png"


def raw_call(url, endpoint, data, timeout=60):
    """POST /gradio_api/call/<endpoint> (a new session each time), then read its stream -> (kind, data); a call
    refused before it runs (4xx) is ("error", its sentence)."""
    answer = httpx.post(f"{url}gradio_api/call/{endpoint}", json={"data": data}, timeout=timeout)
    if 400 <= answer.status_code < 500:
        return "error", answer.json()["error"]
    answer.raise_for_status()
    kind = None
    with httpx.stream("GET", f"{url}gradio_api/call/{endpoint}/{answer.json()['event_id']}", timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line.split(":", 1)[1])
    raise AssertionError("no answer")


def join(url, fn_index, data, timeout=60):
    """POST /gradio_api/queue/join for an event by its index (events without an api_name too), as the page does,
    and read the session's stream -> ("complete" or "error", the message)."""
    session = uuid.uuid4().hex
    body = {"fn_index": fn_index, "data": data, "session_hash": session, "event_data": None, "trigger_id": None}
    answer = httpx.post(f"{url}gradio_api/queue/join", json=body, timeout=timeout)
    answer.raise_for_status()
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return ("complete" if message.get("success") else "error"), message.get("output")
    raise AssertionError("no answer")


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def ico_holding(png):
    """A one-entry ICO whose directory says 256x256 (width and height bytes 0) and whose entry is the given PNG."""
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def icns_holding(png):
    """An ICNS with one 'ic10' (1024x1024 declared) entry holding the given PNG."""
    entry = b"ic10" + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def digit_image(side=64):
    image = Image.new("L", (side, side))
    image.paste(255, (side // 3, side // 5, side // 2, 4 * side // 5))
    return image


@pytest.mark.parametrize("kind", ["ico", "icns"])
def test_icons_are_not_decoded_whatever_their_directory_says(kind):
    """An ICO or ICNS entry may hold a PNG of any size, known only once decoded (issue 20, item 1): not read."""
    from ui.preprocess import InputError, open_image

    data = (ico_holding if kind == "ico" else icns_holding)(png_bytes(digit_image()))
    with pytest.raises(InputError, match="upload a PNG, JPEG, GIF, BMP, WebP or TIFF"):
        open_image(io.BytesIO(data))


def test_an_icon_upload_gets_one_sentence_over_http(small_app):
    url = small_app[1]
    path = upload(url, ico_holding(png_bytes(digit_image())), "digit.ico")
    kind, answer = raw_call(url, "reconstruct_upload", [{"path": path, "meta": {"_type": "gradio.FileData"}}])
    assert kind == "error" and "PNG, JPEG, GIF, BMP, WebP or TIFF" in json.dumps(answer), answer


def test_a_progressive_cmyk_jpeg_is_refused_by_what_its_decode_costs():
    """Every coefficient of a progressive JPEG is held until its last scan, whatever the draft size (item 2):
    4000x4000 CMYK is 128 MB of coefficients; the same picture as a baseline JPEG is read (drafted)."""
    from ui.preprocess import InputError, open_image

    image = digit_image(500).resize((4000, 4000)).convert("CMYK")
    progressive, baseline = io.BytesIO(), io.BytesIO()
    image.save(progressive, "JPEG", progressive=True, quality=50)
    image.save(baseline, "JPEG", quality=50)
    with pytest.raises(InputError, match="progressive CMYK JPEG of 4000x4000"):
        open_image(progressive)
    assert max(open_image(baseline).size) <= 1024


def test_only_the_first_frame_of_an_animation_is_decoded():
    from ui.preprocess import open_image

    frames = [digit_image(200)] + [Image.new("L", (200, 200), 128)] * 30
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    image = open_image(gif)
    assert image.size == (200, 200) and np.asarray(image.convert("L")).max() == 255


@pytest.mark.slow  # many clients at once, or a long run: CI runs it
def test_every_decode_shares_the_same_slots_page_load_events_too(small_app, monkeypatch):
    """8 decodes at once, 4 through /reconstruct_upload and 4 through the page-load event that shows the example
    (fn_index of an event without api_name, item 3): never more than DECODE_SLOTS decode at the same time."""
    from ui import preprocess

    demo, url = small_app
    load_index = next(i for i, fn in demo.fns.items()  # Reconstruct's page-load event: it reads the example
                      if fn.name == "upload_page" and any(event == "load" for _, event in fn.targets))
    path = upload(url, png_bytes(digit_image(300)))
    from PIL import ImageFile

    inside, most, lock, original = [0], [0], threading.Lock(), ImageFile.ImageFile.load

    def slow_load(self):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.4)
        try:
            return original(self)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)  # every file decoder's entry
    payload = {"path": path, "meta": {"_type": "gradio.FileData"}}
    calls = [lambda: raw_call(url, "reconstruct_upload", [payload])] * 4 + \
            [lambda: join(url, load_index, [payload] + [None] * (len(demo.fns[load_index].inputs) - 1))] * 4
    answers = [None] * len(calls)
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, calls[i]())) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(a is not None and a[0] == "complete" for a in answers), answers
    assert 1 <= most[0] <= preprocess.DECODE_SLOTS


def blob(url, demo, kind, key, data, index=None):
    sketch = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sketch")
    fields = {"component_id": str(sketch._id), "session_hash": uuid.uuid4().hex, "fn_name": "accept_blobs",
              "type": kind, "id": key}
    if index is not None:
        fields["index"] = str(index)
    return httpx.post(f"{url}gradio_api/component_server", data=fields, files={"file": ("blob", data)}, timeout=60)


@pytest.mark.slow  # many clients at once, or a long run: CI runs it
def test_the_sketchpads_blob_store_is_bounded(small_app):
    """gradio keeps every blob it is sent under a new id, forever, and grows a layer list to any index (item 4)."""
    from ui import inputs

    demo, url = small_app
    sketch = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sketch")
    assert blob(url, demo, "layer", "absurd", b"x", index=100_000_000).status_code >= 400
    assert blob(url, demo, "composite", "huge", b"x" * (inputs.MAX_BLOB_BYTES + 1)).status_code >= 400
    for i in range(inputs.MAX_BLOB_IDS + 20):
        assert blob(url, demo, "composite", f"id{i}", b"x" * 1000).status_code == 200
    assert len(sketch._blobs) <= inputs.MAX_BLOB_IDS
    assert "id0" not in sketch._blobs and f"id{inputs.MAX_BLOB_IDS + 19}" in sketch._blobs  # the oldest went first


def test_a_request_larger_than_any_input_is_refused_before_it_is_stored(small_app):
    """A 1 MB string for a number (item 5): 413 and one sentence, no event created."""
    url = small_app[1]
    answer = httpx.post(f"{url}gradio_api/call/sample", json={"data": [4, "9" * 1_000_000]}, timeout=60)
    assert answer.status_code == 413 and "larger than any input" in answer.json()["error"]
    session = uuid.uuid4().hex
    answer = httpx.post(f"{url}gradio_api/queue/join", timeout=60,
                        json={"fn_index": 0, "data": ["x" * 1_000_000], "session_hash": session})
    assert answer.status_code == 413
    assert raw_call(url, "sample", [4, 0])[0] == "complete"  # ordinary calls are untouched


def test_a_file_payload_naming_an_address_is_refused_before_gradio_fetches_it(small_app):
    """gradio downloads a file payload whose path is a URL into its cache, whole, before any handler runs (and from
    the Hugging Face hosts without any check): such a payload is refused first, on every route and in every field."""
    url = small_app[1]
    address = {"path": "https://huggingface.co/some/repo/resolve/main/huge.bin", "meta": {"_type": "gradio.FileData"}}
    for route, body in (("call/reconstruct_upload", {"data": [address, None]}),
                        ("queue/join", {"fn_index": 3, "data": [address, None], "session_hash": uuid.uuid4().hex}),
                        ("call/reconstruct_drawing", {"data": [{"background": None, "layers": [address],
                                                                "composite": None}, None]})):
        answer = httpx.post(f"{url}gradio_api/{route}", json=body, timeout=60)
        assert answer.status_code == 400 and "as uploads, not as addresses" in answer.json()["error"], route
    assert raw_call(url, "sample", [4, 0])[0] == "complete"  # ordinary calls are untouched


def test_a_float_tiff_of_nan_gets_one_sentence(small_app, tmp_path):
    Image.new("F", (300, 300), float("nan")).save(tmp_path / "x.tiff")
    url = small_app[1]
    path = upload(url, (tmp_path / "x.tiff").read_bytes(), "x.tiff")
    kind, answer = raw_call(url, "reconstruct_upload", [{"path": path, "meta": {"_type": "gradio.FileData"}}])
    assert kind == "error" and "not numbers" in json.dumps(answer), answer


def test_a_code_density_with_wrong_keys_or_nan_stops_the_app_with_one_sentence(tmp_path):
    import torch
    from safetensors.torch import save_file

    from vae_models import WeightsError
    from vae_models.code_density import load_code_density

    good = {"weights": torch.tensor([0.5, 0.5]), "means": torch.zeros(2, 2), "covariances": torch.eye(2).repeat(2, 1, 1)}
    save_file(good, tmp_path / "code_density.safetensors")
    assert load_code_density(tmp_path)["means"].shape == (2, 2)
    for bad in ({"w": good["weights"], "means": good["means"], "covariances": good["covariances"]},
                {**good, "means": torch.full((2, 2), float("nan"))},
                {**good, "covariances": -torch.eye(2).repeat(2, 1, 1)},
                {**good, "weights": torch.tensor([0.5, 0.6])}):
        save_file(bad, tmp_path / "code_density.safetensors")
        with pytest.raises(WeightsError, match="not a mixture of Gaussians"):
            load_code_density(tmp_path)


def test_a_20000_layer_sketch_payload_is_refused_by_its_size_without_a_log_line_per_layer(small_app, capfd):
    """Item 9: gradio's own check would log a traceback for each of 20,000 /etc/passwd layers (about 60,000 lines);
    the request-size bound refuses it first, with one sentence."""
    url = small_app[1]
    capfd.readouterr()
    layers = [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}] * 20_000
    answer = httpx.post(f"{url}gradio_api/call/reconstruct_drawing", timeout=60,
                        json={"data": [{"background": None, "layers": layers, "composite": None}]})
    assert answer.status_code == 413 and "larger than any input" in answer.json()["error"]
    out, err = capfd.readouterr()
    assert len((out + err).splitlines()) <= 5, out + err
