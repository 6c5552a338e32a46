"""The Train tab: training in the visitor's browser (ui/static/train_view.js, trainer.js). The server exports the
packed subset and does nothing else for a run: no training endpoint, and two visitors training at once cost it under
5% of one core. (The page's maths against PyTorch: tests/test_js.py.)"""
import os
import socket
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT

FLAGS = CHROMIUM_FLAGS  # conftest


def test_the_page_gets_the_digits_the_server_loaded(tmp_path):
    from train.mnist import load_subset
    from ui.training import subset_bytes

    subset = load_subset(ROOT / "weights" / "mnist-subset.safetensors")
    (tmp_path / "s.safetensors").write_bytes(subset_bytes(subset))
    again = load_subset(tmp_path / "s.safetensors")
    for split in ("train", "test"):
        assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(subset[split], again[split]))


def test_the_server_offers_no_training_endpoint():
    from ui import build_demo, untrained_models

    demo = build_demo(untrained_models())
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert "train" not in names and "train_live" not in names
    view = [c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "train-view"]
    assert view and view[0]["props"]["value"]["subset"].startswith("vae/files/mnist-subset-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process and its waited-for children, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def start_app(port):
    """`python app.py` on `port`, in its own process (so that its CPU time is its own); -> the Popen once it answers."""
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    import httpx

    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        if app.poll() is not None:
            raise RuntimeError(app.stderr.read()[-2000:])
        time.sleep(0.5)
    app.kill()
    raise RuntimeError("the app did not answer in 120 s")


def open_train_tab(browser_or_context, url, width=1400):
    page = browser_or_context.new_page()
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    page.locator(".tv-status").get_by_text("Press Train.").wait_for(timeout=120_000)
    return page


def start_run(page, kind="vae", seed=0, epochs=1, digits=1000):
    page.select_option(".tv-kind", kind)
    page.fill(".tv-seed", str(seed))
    page.fill(".tv-epochs", str(epochs))
    page.fill(".tv-digits", str(digits))
    page.click(".tv-train")


def wait_done(page, epochs, timeout=600_000):
    page.wait_for_function(f"(document.querySelector('.tv') || {{}}).dataset.done === '{epochs}'", timeout=timeout)
    return page.evaluate("(() => { const s = document.querySelector('.tv').trainView; "
                         "return {backend: s.backend, rows: s.rows, name: s.last.name, "
                         "first: Array.from(new Float32Array(s.last.bytes.slice(-64)))}; })()")


@pytest.fixture(scope="module")
def app_and_browser():
    """`python app.py` in its own process and a headless chromium; -> (app's Popen, url, browser)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    port = free_port()
    app = start_app(port)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            yield app, f"http://127.0.0.1:{port}/", browser
            browser.close()
    finally:
        app.terminate()
        app.wait(30)


@pytest.mark.slow
def test_two_visitors_train_at_once_in_their_browsers_at_no_cost_to_the_server(app_and_browser):
    app, url, browser = app_and_browser
    contexts = [browser.new_context() for _ in range(2)]  # two visitors: own storage, own pages
    visitors = [open_train_tab(c, url) for c in contexts]
    time.sleep(2)  # the pages' load events answered
    cpu0, t0 = cpu_seconds(app.pid), time.monotonic()
    for seed, page in enumerate(visitors):
        start_run(page, seed=seed, epochs=1, digits=1000)
    results = [wait_done(page, 1) for page in visitors]
    cpu, wall = cpu_seconds(app.pid) - cpu0, time.monotonic() - t0
    for c in contexts:
        c.close()
    print(f"two runs at once: {wall:.1f} s, the server's CPU {cpu:.2f} s ({100 * cpu / wall:.1f}% of a core); "
          f"backends {[r['backend'] for r in results]}")
    assert all(r["name"] == "your VAE, 1 epoch" and len(r["rows"]) == 1 for r in results)
    assert all(r["rows"][0]["test_loss"] < 500 for r in results), results  # an untrained VAE starts near 543
    assert results[0]["first"] != results[1]["first"]  # two seeds, two models
    assert cpu < 0.05 * wall, (cpu, wall)


@pytest.mark.slow
def test_stop_ends_the_run_within_a_mini_batch_then_an_ae_is_handed_to_the_other_tabs(app_and_browser, tmp_path):
    app, url, browser = app_and_browser
    page = open_train_tab(browser, url)
    page.evaluate("window.ownModels = []; addEventListener('vae-explorer:own-model', e => window.ownModels.push("
                  "{name: e.detail.name, config: e.detail.config, size: e.detail.bytes.byteLength}))")
    assert "WebAssembly" in page.locator(".tv-backend").inner_text()  # no hardware WebGL here: WASM, and it says so
    start_run(page, epochs=20, digits=10000)
    page.locator(".tv-status").get_by_text("digits...").wait_for(timeout=60_000)
    page.click(".tv-stop")
    page.locator(".tv-status").get_by_text("Stopped").wait_for(timeout=10_000)
    steps_at_stop = page.evaluate("document.querySelector('.tv-status').textContent")
    assert "no model was kept" in steps_at_stop and page.evaluate("window.ownModels.length") == 0
    start_run(page, kind="ae", epochs=1, digits=1000)
    result = wait_done(page, 1)
    assert result["name"] == "your AE, 1 epoch"
    status = page.locator(".tv-status").inner_text()
    assert "KL" not in status and "your AE, 1 epoch is yours" in status
    assert page.locator(".tv-curves").evaluate("c => c.width") == 320  # one panel: BCE; no KL panel
    caption = page.locator(".tv-grid-caption").inner_text()
    assert "the codes' range" in caption and "-2.0 to 2.0" not in caption
    handed = page.evaluate("window.ownModels")
    assert handed == [{"name": "your AE, 1 epoch", "size": handed[0]["size"],
                       "config": {"data_size": 784, "hidden_size": 512, "kind": "ae", "latent_size": 2}}]
    assert page.evaluate("window.vaeExplorerOwnModel.name") == "your AE, 1 epoch"
    page.get_by_role("tab", name="Reconstruct").click()  # shown there at once, with no click (ui/static/model.js)
    page.locator(".rc-yours .rc-label").first.get_by_text("your AE, 1 epoch").wait_for(timeout=20_000)
    page.get_by_role("tab", name="Train").click()
    weights = tmp_path / "weights"
    download(page, weights / "mnist-ae")
    start_run(page, kind="vae", epochs=1, digits=1000)
    wait_done(page, 1)
    download(page, weights / "mnist-vae")
    page.close()
    # the downloads: load_pretrained reads each, and `python app.py --weights` serves the two (its load_models)
    from ui import load_models
    from vae_models import Autoencoder, load_pretrained

    assert load_pretrained(Autoencoder, weights / "mnist-ae").kind == "ae"
    assert load_pretrained(Autoencoder, weights / "mnist-vae").kind == "vae"
    models = load_models(weights, None)
    assert models.loaded()


def download(page, folder):
    """Presses Download: one file, <folder's name>.zip, holding that folder's three files; unzipped beside it."""
    got = []

    def keep(d):  # a function of its own: playwright cannot remove a builtin method it was given
        got.append(d)

    page.on("download", keep)
    page.click(".tv-download")
    for _ in range(100):
        if got:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(1000)  # no second download follows
    page.remove_listener("download", keep)
    assert [d.suggested_filename for d in got] == [f"{folder.name}.zip"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    archive = folder.parent.parent / got[0].suggested_filename  # beside the weights folder, not in it
    got[0].save_as(archive)
    with zipfile.ZipFile(archive) as z:
        assert sorted(n for n in z.namelist() if not n.endswith("/")) == [
            f"{folder.name}/{name}" for name in ("config.json", "model.safetensors", "test_latents.safetensors")]
        z.extractall(folder.parent)


@pytest.mark.slow
def test_a_library_that_does_not_load_is_one_sentence_on_the_page(app_and_browser):
    app, url, browser = app_and_browser
    context = browser.new_context()
    context.route("**/vendor/tfjs/tf.min.js", lambda route: route.abort())
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    status = page.locator(".tv-status")
    status.get_by_text("not available here").wait_for(timeout=60_000)
    text = status.inner_text()
    assert text.startswith("Training in your browser is not available here: ") and text.count(". ") == 0, text
    context.close()


def code_range(codes):
    """explorer.js's codeRange: each axis over the 0.5th to 99.5th percentile of the codes (N, 2), padded."""
    out = []
    for v in np.sort(np.asarray(codes, np.float64).reshape(-1, 2), axis=0).T:
        lo, hi = v[int(np.floor(0.005 * (len(v) - 1)))], v[int(np.ceil(0.995 * (len(v) - 1)))]
        pad = 0.08 * (hi - lo) + 0.1
        out.append((lo - pad, hi + pad))
    return out


@pytest.mark.slow
def test_a_model_trained_in_the_page_is_explored_on_its_own_map_and_named_wherever_it_is_shown(app_and_browser):
    app, url, browser = app_and_browser
    page = open_train_tab(browser, url)
    shots = ROOT / "test-output"
    shots.mkdir(exist_ok=True)
    start_run(page, kind="ae", epochs=1, digits=1000)
    wait_done(page, 1)
    for width in (390, 1400):  # the Train tab's map (explorer.js's drawMap, as the latent explorer's)
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"own-train-{width}.png"), full_page=True)
    codes = page.evaluate("Array.from(window.vaeExplorerOwnModel.codes)")
    (x0, x1), (y0, y1) = code_range(codes)
    page.get_by_role("tab", name="Latent space").click()
    lx = page.locator("#latent-explorer")
    lx.locator(".lx[data-ready='VAE']").wait_for(state="attached", timeout=60_000)
    shipped, own = lx.locator(".lx-shipped"), lx.locator(".lx-own")
    assert lx.locator(".lx-which").is_visible() and lx.locator(".lx-which-label").inner_text() == "shown here:"
    assert (shipped.inner_text(), own.inner_text()) == ("VAE", "your AE, 1 epoch")
    assert shipped.get_attribute("aria-pressed") == "true" and own.get_attribute("aria-pressed") == "false"
    own.click()
    lx.locator(".lx[data-ready='your AE, 1 epoch']").wait_for(state="attached", timeout=10_000)
    state = "document.querySelector('#latent-explorer .lx').explorer"
    # the controls, the titles and the picture say which model is shown
    assert shipped.get_attribute("aria-pressed") == "false" and own.get_attribute("aria-pressed") == "true"
    assert lx.locator(".lx-digit-title").inner_text() == "your AE, 1 epoch, decoded in your browser"
    img = lx.locator(".lx-map-img")
    assert img.get_attribute("src").startswith("data:image/png") and "your AE, 1 epoch" in img.get_attribute("alt")
    assert "your model's own" in lx.locator(".lx-note").inner_text()
    # its own range: the map's axes are its codes' (not the shipped VAE's), and so is its grid
    desc = page.evaluate(f"(() => {{ const d = {state}.desc; return {{xlim: d.xlim, ylim: d.ylim}}; }})()")
    assert np.allclose(desc["xlim"], (x0, x1), atol=1e-6) and np.allclose(desc["ylim"], (y0, y1), atol=1e-6)
    page.wait_for_function(f"() => document.querySelector('#latent-explorer .lx-grid-title').textContent"
                           f".startsWith('your AE, 1 epoch: ')", timeout=10_000)
    title = lx.locator(".lx-grid-title").inner_text()
    assert title.startswith("your AE, 1 epoch: decoded grid, 20 x 20 over its codes' range, "
                            f"z1 from {x0:.1f} to {x1:.1f} (to the right), z2 from {y0:.1f} to {y1:.1f}"), title
    # the whole of its range is under the pointer: the map's bottom-left corner is its codes' lowest z1 and z2
    box, corner = lx.locator(".lx-over").bounding_box(), page.evaluate(f"{state}.desc.box")
    scale = box["width"] / page.evaluate(f"{state}.desc.width")
    page.mouse.move(box["x"] + (corner[0] + 1) * scale, box["y"] + (corner[3] - 1) * scale)
    page.wait_for_function(f"() => {state}.hover !== null && {state}.drawnZ[0] === {state}.hover[0]", timeout=5_000)
    hover = page.evaluate(f"{state}.hover")
    assert abs(hover[0] - x0) < 0.02 * (x1 - x0) and abs(hover[1] - y0) < 0.02 * (y1 - y0), (hover, x0, y0)
    page.mouse.move(0, 0)
    page.screenshot(path=str(shots / "own-latent-1400.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "own-latent-390.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    # back to the tab's model: its map, its name, its grid over [-r, r]^2
    shipped.click()
    lx.locator(".lx[data-ready='VAE']").wait_for(state="attached", timeout=10_000)
    assert lx.locator(".lx-digit-title").inner_text() == "VAE, decoded in your browser"
    assert not img.get_attribute("src").startswith("data:")
    page.wait_for_function("() => document.querySelector('#latent-explorer .lx-grid-title').textContent"
                           ".startsWith('VAE: decoded grid, 20 x 20 over [-2, 2]')", timeout=10_000)
    # the AE to VAE tab's map offers the same switch
    page.get_by_role("tab", name="AE to VAE").click()
    page.locator("#spectrum-explorer .lx-own").click()
    page.locator("#spectrum-explorer .lx[data-ready='your AE, 1 epoch']").wait_for(state="attached", timeout=10_000)
    assert page.locator("#spectrum-explorer .lx-shipped").get_attribute("aria-pressed") == "false"
    page.screenshot(path=str(shots / "own-spectrum-1400.png"), full_page=True)
    # Reconstruct: the visitor's model is beside the AE and the VAE; the row of every model claims only the shipped
    page.get_by_role("tab", name="Reconstruct").click()
    page.locator(".rc-yours .rc-label").first.get_by_text("your AE, 1 epoch").wait_for(timeout=20_000)
    note = page.locator("#every-note").inner_text()
    assert note.startswith("Reconstructed by every shipped model, from the AE") and "yours:" not in note
    assert "beside the AE and the VAE under the drawing" in note
    page.screenshot(path=str(shots / "own-reconstruct-1400.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    caption = page.locator(".rc-yours .rc-label").first  # its name whole on a phone, not cut to "your AE, ..."
    assert caption.evaluate("e => e.scrollWidth <= e.clientWidth && e.textContent === 'your AE, 1 epoch'")
    page.screenshot(path=str(shots / "own-reconstruct-390.png"), full_page=True)
    page.close()
