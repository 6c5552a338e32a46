"""The latent explorer (ui/explorer.py): each model's decoder exported for the page, served from its own folder and
nothing else; in chromium, the page's decode equals the server's, with no request while the pointer moves, and a
finger drag on a phone works."""
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT
from ui import explorer


@pytest.mark.parametrize("name", ["AE", "VAE"])
def test_the_exported_model_holds_every_layer_and_is_written_once_under_a_relative_url(shipped_models, tmp_path, name):
    e = shipped_models.explorers[name]
    description = explorer.export(e, tmp_path)
    assert description["weights"].startswith("vae/files/") and description["map"].startswith("vae/files/")
    assert not any(str(tmp_path) in str(v) for v in description.values())  # no server path reaches the page
    tensors = load_file(tmp_path / description["weights"].split("/")[-1])
    layers = ["fc1", "fc_mu", "fc3", "fc4"] + (["fc_logvar"] if name == "VAE" else [])
    assert set(tensors) == {f"{layer}.{p}" for layer in layers for p in ("weight", "bias")}
    for key, t in tensors.items():
        layer, p = key.split(".")
        assert t.dtype == torch.float32 and torch.equal(t, getattr(getattr(e.model, layer), p).detach())
    data = sum(t.numel() for t in tensors.values()) * 4  # float32, then a header of a few hundred bytes
    assert 0 < description["weights_bytes"] - data < 1000
    assert description["kind"] == name.lower() and description["n_classes"] == 0
    picture = tmp_path / description["map"].split("/")[-1]
    assert np.array_equal(np.asarray(Image.open(picture).convert("RGB")), e.map.image)
    assert explorer.export(e, tmp_path) == description and len(list(tmp_path.iterdir())) == 2  # same bytes, same files
    assert description["box"] == list(e.map.box) and description["xlim"] == list(e.map.xlim)


def test_the_conditional_vaes_file_says_it_takes_a_digit(shipped_models, tmp_path):
    description = explorer.export(shipped_models.conditional, tmp_path)
    assert description["kind"] == "cvae" and description["n_classes"] == 10
    tensors = load_file(tmp_path / description["weights"].split("/")[-1])
    assert tensors["fc1.weight"].shape == (512, 794) and tensors["fc3.weight"].shape == (512, 12)


def get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as err:
        return err.code, b"", err.headers


def test_the_app_serves_the_page_modules_and_the_exported_files_and_no_other_file(served_app):
    models, url = served_app
    folder = explorer.decoder_folder()
    served = sorted(folder.glob("vae-*.safetensors"))
    assert served
    status, body, headers = get(f"{url}vae/files/{served[0].name}")
    assert status == 200 and body == served[0].read_bytes()
    status, body, headers = get(f"{url}vae/static/model.js")
    assert status == 200 and body == (ROOT / "ui" / "static" / "model.js").read_bytes()
    assert "javascript" in headers["content-type"]
    etag = headers["etag"]
    assert get(f"{url}vae/static/model.js", {"If-None-Match": etag})[0] == 304  # a second visit: not sent again
    for path in ("vae/files/../../../../etc/passwd", "vae/files/%2e%2e/%2e%2e/etc/passwd", "vae/files/..",
                 "vae/static/../explorer.py", "vae/static/%2e%2e/explorer.py", "vae/static/../../app.py",
                 "vae/files/../decoders/../../../.bashrc"):
        status, body, _ = get(f"{url}{path}")
        assert status in (403, 404) and not body.startswith(b"\"\"\"") and b"root:" not in body, path
    # gradio's own file route serves none of them: the page never asks for a server path
    for path in (served[0], folder, ROOT / "app.py", ROOT / "weights" / "mnist-vae" / "model.safetensors",
                 ROOT / "ui" / "static" / "model.js", "/etc/passwd"):
        status, body, _ = get(f"{url}gradio_api/file={path}")
        assert status in (403, 404) and not body, path


# ---- in the browser -------------------------------------------------------------------------------------------------

playwright = pytest.importorskip("playwright.sync_api")
FLAGS = CHROMIUM_FLAGS  # conftest
SHOTS = ROOT / "test-output"
STATE = "() => document.querySelector('#latent-explorer .lx').explorer"
PIXELS = """() => { const c = document.querySelector('#latent-explorer .lx-digit');
  return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 == 0)); }"""


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    SHOTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def open_latent_tab(page, url):
    page.goto(url)
    page.get_by_text("VAE Explorer").first.wait_for(timeout=30_000)
    tab, more = page.get_by_role("tab", name="Latent space"), page.get_by_role("button", name="More tabs")
    tab.or_(more).first.wait_for(timeout=30_000)
    if tab.count():
        tab.click()
    else:  # a narrow screen: the tab is in the "More tabs" menu
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text="Latent space").click()
    page.locator("#latent-explorer .lx[data-ready='VAE']").wait_for(state="attached", timeout=30_000)


def choose(page, name):
    page.get_by_role("radio", name=name, exact=True).check()
    page.locator(f"#latent-explorer .lx[data-ready='{name}']").wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(500)  # the grid and the pinned digit are drawn in the next frames


def hover_and_read(page, x, y):
    """Move the mouse to (x, y) -> (z the page decoded there, its 28x28 grey levels)."""
    frames = page.evaluate(STATE + ".frames")
    page.mouse.move(x, y)
    page.wait_for_function(f"f => ({STATE})().frames > f && ({STATE})().hover !== null", arg=frames, timeout=5_000)
    return page.evaluate(STATE + ".drawnZ"), np.array(page.evaluate(PIXELS), np.int16).reshape(28, 28)


def server_digit(client, name, z):
    picture = np.asarray(Image.open(client.predict(name, z[0], z[1], api_name="/decode_point")[0]).convert("L"))
    return picture[::6, ::6].astype(np.int16)  # digit_picture: each pixel a 6x6 square


@pytest.mark.slow
@pytest.mark.parametrize("name", ["AE", "VAE"])
def test_the_page_decodes_what_the_server_decodes_at_60_points_without_asking_the_server(browser, served_app,
                                                                                          name):
    from gradio_client import Client

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_latent_tab(page, served_app[1])
        if name != "VAE":
            choose(page, name)
        box = page.locator("#latent-explorer .lx-over").bounding_box()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        d = page.evaluate(STATE + ".desc")
        (left, top, right, bottom), w, h = d["box"], d["width"], d["height"]
        rng = np.random.default_rng(0)  # 60 points inside the axes (a point in the margin decodes the nearest edge)
        seen = [hover_and_read(page, box["x"] + box["width"] * (left + (right - left) * fx) / w,
                               box["y"] + box["height"] * (top + (bottom - top) * fy) / h)
                for fx, fy in rng.uniform(0.01, 0.99, (60, 2))]
        assert requests == []  # 60 decodes, not one request
        zs = np.array([z for z, _ in seen])
        assert len(np.unique(zs.round(3), axis=0)) == 60
        client = Client(served_app[1], verbose=False)
        worst = max(int(np.abs(pixels - server_digit(client, name, z)).max()) for z, pixels in seen)
        assert worst <= 1  # within 1/255 per pixel of the server's float32 decode
        assert max(pixels.max() for _, pixels in seen) > 200  # digits were drawn, not blank canvases
    finally:
        page.close()


@pytest.mark.slow
def test_the_conditional_vaes_map_decodes_as_the_chosen_digit_as_the_server_does(browser, served_app):
    models, url = served_app
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.get_by_role("tab", name="Conditional VAE").click()
        page.locator("#cvae-explorer .lx[data-ready]").wait_for(state="attached", timeout=30_000)
        page.locator("#cvae-grid-digit").get_by_text("2", exact=True).click()
        state = "document.querySelector('#cvae-explorer .lx').explorer"
        page.wait_for_function(f"() => {state}.desc.label === 2", timeout=10_000)
        box = page.locator("#cvae-explorer .lx-over").bounding_box()
        pixels = "() => Array.from(document.querySelector('#cvae-explorer .lx-digit').getContext('2d')" \
                 ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 == 0))"
        for fx, fy in ((0.3, 0.3), (0.45, 0.6), (0.6, 0.5), (0.7, 0.7)):
            frames = page.evaluate(f"() => {state}.frames")
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_function(f"f => {state}.frames > f", arg=frames, timeout=5_000)
            z = page.evaluate(f"() => {state}.drawnZ")
            seen = np.array(page.evaluate(pixels), np.int16).reshape(28, 28)
            with torch.inference_mode():
                x = models.conditional.model.decode(torch.tensor([z], dtype=torch.float32), torch.tensor([2]))
            assert np.abs(seen - (x.view(28, 28).numpy() * 255).round()).max() <= 1
    finally:
        page.close()


@pytest.mark.slow
def test_a_click_pins_the_point_the_sliders_follow_and_the_grid_follows_its_slider_in_the_page(browser, served_app):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_latent_tab(page, served_app[1])
        box = page.locator("#latent-explorer .lx-over").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        pinned = page.evaluate(STATE + ".pinned")
        assert pinned[0] < 0 < pinned[1]  # up and left of the centre
        page.wait_for_function("z => Number(document.querySelector('#z1 input[type=number]').value) === z",
                               arg=pinned[0], timeout=20_000)
        assert float(page.locator("#z2 input[type=number]").first.input_value()) == pinned[1]
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        grid = page.locator("#latent-explorer .lx-grid")
        before = grid.screenshot()
        slider = page.locator("#grid-range input[type=range]")  # the range r of [-r, r]^2
        slider.focus()
        for _ in range(3):
            slider.press("ArrowRight")
        page.wait_for_function(f"() => ({STATE})().grid[1] === 3.5", timeout=5_000)
        page.wait_for_timeout(500)
        assert grid.screenshot() != before and requests == []
        page.screenshot(path=str(SHOTS / "latent_explorer.png"), full_page=True)
        # the page stores each model file in its Cache Storage after using it (model.js): on a busy machine the
        # write of a few MB can still be going on here, so the later visit waits for it
        # (the page may go on to fetch other models' files meanwhile: those a later visit may fetch again)
        kept = page.wait_for_function("""async () => {
            const files = performance.getEntriesByType('resource').map(e => e.name).filter(n => n.endsWith('.safetensors'));
            const kept = (await (await caches.open('vae-explorer-files')).keys()).map(r => r.url);
            return files.length > 0 && files.every(n => kept.includes(n)) && files; }""", timeout=30_000).json_value()
        assert any("/vae-" in u for u in kept), kept  # the explorer's decoder is among them
        again = context.new_page()  # a later visit, in the same browser: the files already used are not fetched again
        fetched = []
        again.on("request", lambda r: fetched.append(r.url))
        open_latent_tab(again, served_app[1])
        again.close()
        assert any(u.endswith(".png") and "vae/files/" in u for u in fetched)  # the map, through the HTTP cache
        assert not set(fetched) & set(kept), fetched
    finally:
        context.close()


@pytest.mark.slow
def test_on_a_phone_a_finger_drag_over_the_map_changes_the_digit(browser, served_app):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        open_latent_tab(page, served_app[1])
        over = page.locator("#latent-explorer .lx-over")
        over.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        box = over.bounding_box()
        before = np.array(page.evaluate(PIXELS))
        cdp = context.new_cdp_session(page)

        def touch(kind, fx, fy):
            points = [] if kind == "touchEnd" else [{"x": box["x"] + box["width"] * fx,
                                                     "y": box["y"] + box["height"] * fy}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 0.5, 0.5)
        page.wait_for_function(f"() => ({STATE})().hover !== null", timeout=5_000)
        start = page.evaluate(STATE + ".hover")
        for i in range(1, 11):
            touch("touchMove", 0.5 - 0.03 * i, 0.5 + 0.03 * i)
            page.wait_for_timeout(30)
        page.wait_for_timeout(300)
        during = np.array(page.evaluate(PIXELS))
        touch("touchEnd", 0, 0)
        assert np.abs(during - before).max() > 50  # the digit follows the finger
        z = page.evaluate(STATE + ".pinned")
        assert z[0] < start[0] and z[1] < start[1]  # the finger ended down and left of where it started: pinned there
        page.wait_for_function("z => Number(document.querySelector('#z1 input[type=number]').value) === z",
                               arg=z[0], timeout=20_000)
        assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390  # nothing wider than the phone
        page.screenshot(path=str(SHOTS / "latent_explorer_phone.png"), full_page=True)
    finally:
        context.close()
