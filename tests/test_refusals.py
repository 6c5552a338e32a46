"""Every malformed request gets a 4xx and one sentence, never gradio's {"error": null}, a 500 or a traceback in the
log; no answer names a path of the server; the client's address comes from a proxy only when the proxy is named;
the served folder keeps only the files of the models this process serves (issue 34).

The app is the one of small untrained models (test_hostile's small_app), driven by raw HTTP as any client can.
"""
import json
import os
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

import fuzz
from conftest import ROOT
from test_hostile import small_app, upload, png_bytes, digit_image  # noqa: F401 (the fixture)

TAG = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def url(small_app):  # noqa: F811
    return small_app[1]


def quiet(capfd):
    """What the app logged since the last call, which must hold no traceback."""
    out, err = capfd.readouterr()
    return out + err


def assert_refused(answer, capfd, *words):
    """A 4xx with one sentence (naming `words`), no path of the server in it, and nothing in the log."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    sentence = answer.json()["error"]
    assert isinstance(sentence, str) and sentence.endswith(".") and "\n" not in sentence, sentence
    for word in words:
        assert word in sentence, sentence
    assert not re.search(r"/(root|home|tmp|work|etc)\b", sentence), sentence
    assert "Traceback" not in quiet(capfd)
    return sentence


def post(url, route, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}gradio_api/{route}", content=data, headers={"Content-Type": "application/json"},
                      timeout=60)


def fn_index(demo, name):
    return next(i for i, fn in demo.fns.items() if fn.api_name == name)


# Each case of the issue, each a 500 or an {"error": null} with a traceback on main before this change.

def test_load_example_with_a_non_index(url, capfd):
    quiet(capfd)
    for index in ("x", -1, 10**6, 1.5, None):
        assert_refused(post(url, "call/load_example", {"data": [index]}), capfd, "example")


def test_too_few_inputs(url, capfd):
    quiet(capfd)
    assert_refused(post(url, "call/decode_point", {"data": ["VAE"]}), capfd, "takes 3 inputs, not 1")


def test_extra_inputs(url, capfd):
    quiet(capfd)
    assert_refused(post(url, "call/decode_point", {"data": ["VAE", 0, 0, 1, 2]}), capfd, "takes 3 inputs, not 5")


def test_a_file_payload_without_meta(url, capfd):
    path = upload(url, png_bytes(digit_image()))
    quiet(capfd)
    assert_refused(post(url, "call/reconstruct_upload", {"data": [{"path": path}]}), capfd, "file payload")
    # the same upload with its tag is read
    answer = post(url, "call/reconstruct_upload", {"data": [{"path": path, "meta": TAG}]})
    assert answer.status_code == 200


@pytest.mark.parametrize("part", [
    {"layers": [{"path": "/etc/passwd", "meta": TAG}]},
    {"composite": {"path": "data:image/png;base64,iVBORw0KGgo=", "meta": TAG}},
    {"composite": {"url": "http://127.0.0.1:1/c.png", "path": "c.png", "meta": TAG}},
    {"background": {"path": "/etc/passwd", "meta": TAG}},
    {"layers": [None]},
])
def test_a_sketch_carrying_gradios_file_tag(url, capfd, part):
    quiet(capfd)
    sketch = {"background": None, "layers": [], "composite": None, **part}
    assert_refused(post(url, "call/reconstruct_drawing", {"data": [sketch]}), capfd)


@pytest.mark.parametrize("path", ["/etc/passwd", "app.py", "../../etc/passwd", "~", "/proc/self/environ"])
def test_a_path_outside_the_allowed_folders(url, capfd, path):
    quiet(capfd)
    assert_refused(post(url, "call/reconstruct_upload", {"data": [{"path": path, "meta": TAG}]}), capfd,
                   "not uploaded to this app")


def test_a_file_payload_where_a_number_goes(url, capfd):
    """gradio moves every file payload of every input into its cache, and fails on a "meta" that is not a dict."""
    quiet(capfd)
    for value in ({"path": "/etc/passwd", "meta": None}, {"path": "/etc/passwd", "meta": TAG}):
        assert_refused(post(url, "call/decode_point", {"data": ["VAE", value, 0]}), capfd, "not a file")


def test_an_unknown_fn_index(url, capfd):
    quiet(capfd)
    for index in (10**6, -1, "3", True, 2**80):
        body = {"fn_index": index, "data": [], "session_hash": uuid.uuid4().hex}
        assert_refused(post(url, "queue/join", body), capfd, "no event of that index")


def test_a_page_side_function_by_its_fn_index(small_app, capfd):  # noqa: F811
    """A js-only event (no server function): gradio would preprocess its inputs, then fail."""
    demo, url = small_app
    index = next(i for i, fn in demo.fns.items() if fn.fn is None and fn.inputs)
    quiet(capfd)
    body = {"fn_index": index, "data": [0] * len(demo.fns[index].inputs), "session_hash": uuid.uuid4().hex}
    assert_refused(post(url, "queue/join", body), capfd, "no event of that index")


def test_wrong_types_of_the_call_itself(url, capfd):
    quiet(capfd)
    for body in ({"data": "x"}, {"data": {"a": 1}}, [1, 2], "x", None):
        assert_refused(post(url, "call/sample", body), capfd)
    for body in ({"fn_index": 3, "data": [None, None], "session_hash": 5},
                 {"fn_index": 3, "data": [None, None], "session_hash": "x" * 500},
                 {"fn_index": 3, "data": [None, None], "session_hash": "s1", "trigger_id": "x"}):
        assert_refused(post(url, "queue/join", body), capfd)


def test_missing_and_extra_fields(url, capfd):
    quiet(capfd)
    assert_refused(post(url, "call/sample", {}), capfd)
    assert_refused(post(url, "call/sample", {"data": [4, 0], "fn_index": 99}), capfd)
    assert_refused(post(url, "queue/join", {"fn_index": 3, "session_hash": "s1"}), capfd)
    assert_refused(post(url, "queue/join", {"fn_index": 3, "data": [None, None], "session_hash": "s1",
                                            "request": {"headers": {}}}), capfd)
    # gradio's /call/v2 (named fields): a field it does not know, or none, was a 500
    assert_refused(post(url, "call/v2/sample", {"nope": 1}), capfd)
    assert_refused(post(url, "call/v2/decode_point", {}), capfd)


def test_nested_json(url, capfd):
    quiet(capfd)
    assert_refused(post(url, "call/decode_point", {"data": ["VAE", fuzz.nested(20), 0]}), capfd, "nested")
    deep = b"[" * 5000 + b"]" * 5000  # past Python's own recursion limit when gradio parses it
    assert_refused(post(url, "call/decode_point", b'{"data": ["VAE", ' + deep + b", 0]}"), capfd, "nested")


def test_huge_numbers(url, capfd):
    quiet(capfd)
    assert_refused(post(url, "call/decode_point", b'{"data": ["VAE", 1' + b"0" * 400 + b', 0]}'), capfd, "digits")
    assert_refused(post(url, "call/decode_point", b'{"data": ["VAE", 1e400, 0]}'), capfd, "finite")
    # a number the handler refuses itself keeps the handler's sentence
    answer = post(url, "call/sample", {"data": [4, 2**70]})
    assert answer.status_code == 200


@pytest.mark.parametrize("body", [b'{"data": NaN}', b'{"data": ["VAE", NaN, 0]}', b'{"data": ["VAE", Infinity, 0]}',
                                  b'{"data": ["VAE", -Infinity, 0]}', b"{not json"])
def test_nan_and_infinity(url, capfd, body):
    quiet(capfd)
    assert_refused(post(url, "call/interpolate", body), capfd)
    join = body.replace(b'{"data"', b'{"fn_index": 3, "session_hash": "s1", "data"')
    assert_refused(post(url, "queue/join", join), capfd)


def test_an_unknown_session_hash(url, capfd):
    quiet(capfd)
    answer = httpx.get(f"{url}gradio_api/queue/data", params={"session_hash": "never-joined"}, timeout=20)
    assert_refused(answer, capfd, "No such session")
    assert_refused(httpx.get(f"{url}gradio_api/queue/data", timeout=20), capfd)


def test_a_repeated_event_id(url, capfd):
    """An event's answer is read once; a second read (or an id never made) was a stream that broke mid-answer."""
    event_id = post(url, "call/sample", {"data": [4, 0]}).json()["event_id"]
    text = fuzz.read_stream(httpx.Client(), f"{url}gradio_api/call/sample/{event_id}")
    assert "event: complete" in text
    quiet(capfd)
    again = httpx.get(f"{url}gradio_api/call/sample/{event_id}", timeout=20)
    assert_refused(again, capfd, "No such event")
    assert_refused(httpx.get(f"{url}gradio_api/call/sample/{uuid.uuid4().hex}", timeout=20), capfd, "No such event")


def test_routes_the_issue_did_not_name(url, capfd):
    """/run and /api (gradio's direct calls, the page's route for events outside the queue), /stream, /cancel."""
    quiet(capfd)
    for route in ("run/predict", "api/decode_point"):
        assert_refused(post(url, route, {"fn_index": 10**6, "data": []}), capfd)
        assert_refused(post(url, route, b'{"data": NaN}'), capfd)
    assert_refused(post(url, "stream/x", {"data": []}), capfd)
    assert_refused(post(url, "cancel", {"session_hash": 5, "fn_index": 0, "event_id": "x"}), capfd)
    # /run and /api ran a queued event at once, past the queue and its caps (one client held the others' calls 10 s
    # back); by name or by fn_index (gradio reads the body's fn_index before the name)
    queued = next(d["id"] for d in httpx.get(f"{url}config", timeout=30).json()["dependencies"]
                  if d["api_name"] == "sample")
    for route, body in (("run/decode_point", {"data": ["VAE", 0.5, 0]}), ("api/decode_point", {"data": ["VAE", 0, 0]}),
                        ("run/predict", {"fn_index": queued, "data": [16, 7, None]}),
                        ("run/latent_grid", {"fn_index": queued, "data": [16, 7, None]})):
        assert_refused(post(url, route, body), capfd, "waits its turn in the queue")


# No path of the server in any answer

@pytest.mark.parametrize("path", ["~", "~/.bashrc", "/etc/passwd", "app.py", "docs/figures/../../app.py", "..",
                                  "weights/", str(ROOT / "app.py"), "%2e%2e/%2e%2e/etc/passwd"])
def test_a_refused_file_names_no_path(url, capfd, path):
    quiet(capfd)
    answer = httpx.get(f"{url}gradio_api/file={path}", timeout=20)
    sentence = assert_refused(answer, capfd)
    assert "/" not in sentence and str(Path.home()) not in answer.text and str(ROOT) not in answer.text


def test_a_file_address_is_not_fetched(url, capfd):
    """gradio fetches a public http(s) address given to /gradio_api/file= and streams it back; this app has none."""
    quiet(capfd)
    assert_refused(httpx.get(f"{url}gradio_api/file=http://127.0.0.1:1/x", timeout=20), capfd, "not addresses")


def test_the_report_figures_are_still_served(url):
    answer = httpx.get(f"{url}gradio_api/file=docs/figures/rate_distortion.png", timeout=20)
    assert answer.status_code == 200 and answer.content[:4] == b"\x89PNG"


def test_no_answer_names_a_server_folder(url):
    """Every named endpoint, called as the page calls it: the answers name files by URL or in
    gradio's upload cache, never a folder of the server (the spectrum's decoder was /root/.cache/... before)."""
    forbidden = fuzz.server_paths("")
    answers = fuzz.as_the_page(url, skip=("train",))  # minutes of training; its answer is a picture and a sentence
    assert "event: complete" in answers["spectrum"]
    for name, text in answers.items():
        assert not fuzz.leaks(text, forbidden, "", ""), (name, text[:500])


# The client's address

def address_app(**launch_kwargs):
    import gradio as gr

    from ui import launch

    def address(request: gr.Request):
        return request.client.host

    with gr.Blocks() as demo:
        gr.Button().click(address, None, gr.Textbox(), api_name="address")
    _, url, _ = launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs)
    return demo, url


def seen_address(url, headers):
    answer = httpx.post(f"{url}gradio_api/call/address", json={"data": []}, headers=headers, timeout=60)
    text = fuzz.read_stream(httpx.Client(), f"{url}gradio_api/call/address/{answer.json()['event_id']}")
    return json.loads(text.split("data:", 1)[1].splitlines()[0])[0]


def test_x_forwarded_for_is_trusted_only_from_a_named_proxy():
    demo, url = address_app()
    try:
        assert seen_address(url, {"X-Forwarded-For": "203.0.113.9"}) == "127.0.0.1"
    finally:
        demo.close()
    demo, url = address_app(forwarded_allow_ips="127.0.0.1")
    try:
        assert seen_address(url, {"X-Forwarded-For": "203.0.113.9"}) == "203.0.113.9"
    finally:
        demo.close()


def test_the_flag_takes_addresses_and_networks_only(capsys, monkeypatch):
    import app

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert app.parse_args([]).forwarded_allow_ips == ""
    monkeypatch.setenv("SPACE_ID", "someone/vae-explorer")  # on a Space: its proxy's network, unless the variable says
    assert app.parse_args([]).forwarded_allow_ips == "10.0.0.0/8"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.0.0/16")
    assert app.parse_args([]).forwarded_allow_ips == "10.1.0.0/16"
    assert app.parse_args(["--forwarded-allow-ips", "10.0.0.0/8, ::1"]).forwarded_allow_ips == "10.0.0.0/8, ::1"
    assert app.parse_args(["--forwarded-allow-ips", "*"]).forwarded_allow_ips == "*"
    with pytest.raises(SystemExit):
        app.parse_args(["--forwarded-allow-ips", "proxy.example"])
    assert "'proxy.example' is not an address or a network" in capsys.readouterr().err


# The served folder

def test_prune_deletes_only_old_files_of_the_apps_own_names_not_served(tmp_path):
    from ui.explorer import prune, write_once

    served = write_once(b"weights of today", "vae", ".safetensors", tmp_path)
    old = [tmp_path / "vae-0123456789abcdef.safetensors", tmp_path / "ae-map-fedcba9876543210.png",
           tmp_path / "tmpab_cd123.part"]
    recent = tmp_path / "cvae-1111111111111111.safetensors"  # another process may be serving it
    foreign = [tmp_path / "notes.txt", tmp_path / "vae-0123.safetensors", tmp_path / "VAE-0123456789abcdef.png"]
    for path in old + foreign + [recent]:
        path.write_bytes(b"x")
    (tmp_path / "sub-0123456789abcdef.png").mkdir()
    link = tmp_path / "link-0123456789abcdef.png"
    link.symlink_to("/etc/passwd")
    a_day_ago = time.time() - 2 * 24 * 3600
    for path in old + foreign + [served]:
        os.utime(path, (a_day_ago, a_day_ago))
    deleted = prune(tmp_path, keep={served.resolve()})
    assert sorted(deleted) == sorted(old)
    assert served.exists() and recent.exists() and all(p.exists() for p in foreign)
    assert link.is_symlink() and Path("/etc/passwd").exists() and (tmp_path / "sub-0123456789abcdef.png").is_dir()


def test_a_reused_export_is_touched_so_no_other_process_prunes_it(tmp_path):
    from ui.explorer import prune, write_once

    path = write_once(b"same bytes", "ae", ".safetensors", tmp_path)
    os.utime(path, (0, 0))
    assert write_once(b"same bytes", "ae", ".safetensors", tmp_path) == path
    assert prune(tmp_path, keep=set()) == [] and path.exists()


# The fuzz

def check_fuzz(url, n, seed, log_text):
    problems = fuzz.run(url, n, seed, fuzz_upload_dir())
    assert not problems, "\n".join(f"{r[0]} {r[1][:80]} {(r[2] or b'')[:200]!r} -> {p[:300]}" for r, p in problems[:20])
    assert "Traceback" not in log_text()


def fuzz_upload_dir():
    import gradio as gr

    return gr.utils.get_upload_folder()


def test_a_seeded_fuzz_gets_no_5xx_no_null_error_no_traceback_and_no_path(url, capfd):
    """100 malformed requests over every named endpoint, every fn_index and /gradio_api/file= (the quick set)."""
    quiet(capfd)
    check_fuzz(url, 100, 0, lambda: quiet(capfd))


@pytest.mark.slow  # a second app in its own process, 2 x 600 requests: about a minute
def test_a_fuzz_of_1200_requests_leaves_the_app_well_and_its_memory_near_idle(tmp_path):
    """Idle: once every endpoint has answered once (a training run loads its digits then, 190 MB, once)."""
    process, url = fuzz.serve(tmp_path / "cache", tmp_path / "app.log")
    try:
        fuzz.as_the_page(url)
        idle = fuzz.resident_mb(process.pid)
        for seed in (1, 2):
            problems = fuzz.run(url, 600, seed, str(Path(os.path.realpath(tmp_path / "cache"))))
            assert not problems, "\n".join(f"{r[0]} {r[1][:80]} {(r[2] or b'')[:200]!r} -> {p[:300]}"
                                           for r, p in problems[:20])
        log = (tmp_path / "app.log").read_text()
        assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
        assert fuzz.resident_mb(process.pid) - idle < 200
        assert httpx.post(f"{url}gradio_api/call/sample", json={"data": [4, 0]}, timeout=60).status_code == 200
    finally:
        process.kill()
        process.wait()


def test_event_data_is_what_the_page_sends(small_app, capfd):  # noqa: F811
    """The events whose handler reads gr.EventData (the stroke, the CVAE's stroke, the map's pin): gradio looked for
    files in any event data first, and answered a file payload with a server path and a traceback in the log."""
    demo, url = small_app[0], small_app[1]
    readers = [i for i, fn in demo.fns.items() if fn.fn is not None and fn.collects_event_data]
    assert len(readers) >= 3
    quiet(capfd)
    for index in readers:
        for bad in ({"value": {"path": "/etc/passwd"}}, {"x": {"path": "/etc/passwd"}}, {"x": "f" * 5000},
                    {"seq": True}, {"z1": "0"}, [1, 2], "x", 7, {"x": "0" * 196, "other": 1}):
            body = {"fn_index": index, "data": [None] * len(demo.fns[index].inputs), "session_hash": uuid.uuid4().hex,
                    "event_data": bad, "trigger_id": None}
            assert_refused(post(url, "queue/join", body), capfd, "event's data")
    pin = next(i for i in readers if len(demo.fns[i].inputs) == 1)  # the pin (the model's name; the strokes: none)
    body = {"fn_index": pin, "data": [None] * len(demo.fns[pin].inputs), "session_hash": uuid.uuid4().hex,
            "event_data": {"z1": 0.5, "z2": -1}, "trigger_id": None}
    assert post(url, "queue/join", body).status_code == 200


def test_a_component_function_this_app_does_not_have(small_app, capfd):  # noqa: F811
    """/component_server with an unknown component or function name was a plain 500 and a KeyError in the log."""
    demo, url = small_app[0], small_app[1]
    quiet(capfd)
    known = next(iter(demo.blocks))
    for body in ({"component_id": 99999, "fn_name": "x", "data": None, "session_hash": "s1"},
                 {"component_id": known, "fn_name": "__init__", "data": None, "session_hash": "s1"},
                 {"component_id": [1], "fn_name": "x", "data": None, "session_hash": "s1"},
                 {"component_id": True, "fn_name": "x", "data": None, "session_hash": "s1"}, [], "x"):
        assert_refused(post(url, "component_server", body), capfd, "no such component function")


def test_uploads_are_budgeted_per_address_and_stop_before_the_disk_fills(tmp_path):
    from ui.limits import Refusal, UploadBudget

    budget = UploadBudget(budget=100, window=600, min_free=0, folder=str(tmp_path))
    for _ in range(5):
        budget.charge("10.0.0.1", 20, now=0)
    with pytest.raises(Refusal) as refused:
        budget.charge("10.0.0.1", 1, now=1)
    assert refused.value.status == 429 and "last 10 minutes" in refused.value.sentence
    budget.charge("10.0.0.2", 100, now=1)  # another address has its own budget
    budget.charge("10.0.0.1", 20, now=601)  # and the first one's spending leaves the window
    full = UploadBudget(min_free=budget.free() + 1, folder=str(tmp_path / "not yet made"))
    with pytest.raises(Refusal) as refused:
        full.charge("10.0.0.3", 1, now=0)
    assert refused.value.status == 507


def test_one_address_has_at_most_half_the_queue_waiting():
    """One client joining as fast as it could filled gradio's 64-place queue in a second and kept every other visitor
    out (503): an address may have MAX_WAITING_PER_CLIENT events waiting, and the others still get in. The queue of a
    real app (not started, so its events stay waiting), real gradio Events from real requests."""
    from gradio.queueing import Event
    from starlette.requests import Request

    from ui import build_demo, untrained_models
    from ui.limits import MAX_WAITING_PER_CLIENT, QUEUE_SIZE, Guard, Refusal

    demo = build_demo(untrained_models())
    guard, queue = Guard(None, demo), demo._queue
    assert queue.max_size == QUEUE_SIZE and MAX_WAITING_PER_CLIENT == QUEUE_SIZE // 2
    fn = next(f for f in demo.fns.values() if f.api_name == "sample")

    def waits(address):
        request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": (address, 5000)})
        queue.create_event_queue_for_fn(fn)
        queue.event_queue_per_concurrency_id[fn.concurrency_id].queue.append(Event(uuid.uuid4().hex, fn, request, None))

    for _ in range(MAX_WAITING_PER_CLIENT - 1):
        waits("203.0.113.7")
    guard.left(guard.waiting_place("203.0.113.7"))  # one place left for this address
    waits("203.0.113.7")
    with pytest.raises(Refusal) as refused:
        guard.waiting_place("203.0.113.7")
    assert refused.value.status == 429 and refused.value.sentence.startswith("32 requests from your network")
    guard.left(guard.waiting_place("198.51.100.1"))  # another visitor gets in
    # joins sent at once all pass the queue's count before the first is in it: those on their way count too
    for _ in range(MAX_WAITING_PER_CLIENT):
        guard.waiting_place("192.0.2.9")
    with pytest.raises(Refusal):
        guard.waiting_place("192.0.2.9")
    guard.left("192.0.2.9")  # one answered (its event refused or run): a place again
    guard.waiting_place("192.0.2.9")
    assert guard.calls.enqueues("queue/join") and guard.calls.enqueues("call/sample")
    assert not guard.calls.enqueues("upload") and not guard.calls.enqueues("call/sample/abc")


def test_gradios_developer_and_monitoring_routes_and_file_ranges_are_not_served(small_app):
    """/gradio_api/dev/reload polls each open connection 20 times a second; /monitoring writes its secret link into the
    log; /gradio_api/deep_link writes a session's state where no cleaning deletes it; a file route's Range made
    gradio answer with the request's own headers copied in, or a 500 and a traceback for "bytes=0-1,2-3": the file
    is sent whole instead."""
    _, url = small_app
    for route in ("gradio_api/dev/reload", "monitoring", "monitoring/summary", "gradio_api/deep_link?session_hash=a"):
        with httpx.stream("GET", f"{url}{route}", timeout=30) as answer:  # dev/reload streams: its status, not all
            assert answer.status_code == 404, route
            assert json.loads(answer.read())["error"] == "This app has no such page.", route
    stored = upload(url, b"<b>a page?</b>" * 8, name="x.html")
    for ranged in ("bytes=0-1,2-3", "bytes=0--1", "bytes=0-30"):
        answer = httpx.get(f"{url}gradio_api/file={stored}", headers={"Range": ranged, "Set-Cookie": "a=b"},
                           timeout=30)
        assert answer.status_code == 200 and answer.content == b"<b>a page?</b>" * 8, ranged
        assert "set-cookie" not in answer.headers and answer.headers.get_list("content-type") == [
            "application/octet-stream"], ranged
