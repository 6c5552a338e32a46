"""End to end in a real browser: Debian's Chromium, driven by Playwright, against the launched app.

Screenshots go to test-output/ (ignored by git)."""
import shutil

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.slow  # a real browser: seconds a test
playwright = pytest.importorskip("playwright.sync_api")
if not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

SHOTS = ROOT / "test-output"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def page(served_app):
    SHOTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served_app[1])
        page.get_by_text("VAE Explorer").first.wait_for(timeout=30_000)
        yield page
        browser.close()


def has_image(page, elem_id, timeout=20_000):
    page.locator(f"#{elem_id} img").first.wait_for(state="visible", timeout=timeout)
    return True


def draw_stroke(page, sketch="sketch"):
    canvas = page.locator(f"#{sketch} canvas").first
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + i, y + i * box["height"] * 0.03)
    page.mouse.up()


def errors_on_page(page):
    """Red "Error" badges on outputs and error toasts."""
    return page.locator(".error, [data-testid='toast-body']").count()


def test_drawing_a_stroke_reconstructs_it_with_the_brush_ready_at_load(page):
    page.get_by_role("tab", name="Reconstruct").click()
    page.locator("#numbers").get_by_text("negative ELBO").wait_for(timeout=20_000)  # the example shown at load
    assert "uploaded image" in page.locator("#numbers").inner_text()  # which input the results belong to
    draw_stroke(page)  # no click on "Brush" first
    page.locator("#numbers").get_by_text("your drawing").wait_for(timeout=20_000)
    text = page.locator("#numbers").inner_text()
    assert "negative ELBO" in text and "your drawing" in text and has_image(page, "seen")
    page.wait_for_timeout(1500)  # let the pictures arrive before the screenshot
    page.screenshot(path=str(SHOTS / "reconstruct_drawing.png"), full_page=True)


def test_clearing_the_canvas_resets_quietly_and_the_brush_still_draws(page):
    page.get_by_role("tab", name="Reconstruct").click()
    draw_stroke(page)
    page.locator("#numbers").get_by_text("your drawing").wait_for(timeout=20_000)
    page.locator("#sketch").get_by_role("button", name="Clear canvas").first.click()
    page.locator("#numbers").get_by_text("Draw a digit").wait_for(timeout=20_000)
    page.wait_for_timeout(1000)
    assert errors_on_page(page) == 0
    page.screenshot(path=str(SHOTS / "reconstruct_cleared.png"), full_page=True)
    draw_stroke(page)  # straight away: the brush is still selected
    page.locator("#numbers").get_by_text("your drawing").wait_for(timeout=20_000)
    assert errors_on_page(page) == 0


def test_uploading_an_image_reconstructs_it(page):
    page.get_by_role("tab", name="Reconstruct").click()
    example = sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))[2]
    page.locator("#upload input[type=file]").set_input_files(str(example))
    page.locator("#numbers").get_by_text("the uploaded image").wait_for(timeout=20_000)
    assert "negative ELBO" in page.locator("#numbers").inner_text()
    page.wait_for_timeout(1500)  # let the pictures arrive before the screenshot
    page.screenshot(path=str(SHOTS / "reconstruct_upload.png"), full_page=True)


def test_sample_tab(page):
    page.get_by_role("tab", name="Sample").click()
    assert has_image(page, "vae-samples")  # drawn at load
    before = page.locator("#vae-samples img").first.get_attribute("src")
    page.locator("#seed input").first.fill("7")
    page.get_by_role("button", name="Sample z ~ N(0, I)").click()
    page.wait_for_function("b => document.querySelector('#vae-samples img').getAttribute('src') !== b", arg=before,
                           timeout=20_000)
    page.screenshot(path=str(SHOTS / "sample.png"), full_page=True)


def test_a_map_click_then_a_slider_then_another_model_all_work(page):
    """After a click on the map the sliders hold values the server set; dragging one and switching model must
    still decode, and the map must follow the model."""
    page.get_by_role("tab", name="Latent space").click()
    assert has_image(page, "point-map")
    image = page.locator("#point-map img").first
    box = image.bounding_box()
    src = image.get_attribute("src")
    image.click(position={"x": box["width"] * 0.6, "y": box["height"] * 0.4})
    page.wait_for_function("b => document.querySelector('#point-map img').getAttribute('src') !== b", arg=src,
                           timeout=20_000)
    digit = page.locator("#point-digit img").first.get_attribute("src")
    page.locator("#z2 input[type=number]").first.fill("-1.5")
    page.locator("#z2 input[type=number]").first.press("Enter")
    slider = page.locator("#z1 input[type=range]").first
    slider.focus()
    for _ in range(20):
        slider.press("ArrowRight")
    page.wait_for_function("b => document.querySelector('#point-digit img').getAttribute('src') !== b", arg=digit,
                           timeout=20_000)
    src = image.get_attribute("src")
    page.get_by_role("radio", name="AE", exact=True).check()
    page.wait_for_function("b => document.querySelector('#point-map img').getAttribute('src') !== b", arg=src,
                           timeout=20_000)
    page.wait_for_timeout(1500)
    assert errors_on_page(page) == 0
    page.screenshot(path=str(SHOTS / "latent_click_slider_switch.png"), full_page=True)
    page.get_by_role("radio", name="VAE", exact=True).check()


def test_latent_space_tab_click_and_interpolate(page):
    page.get_by_role("tab", name="Latent space").click()
    assert has_image(page, "grid-img") and has_image(page, "point-map")
    slider = page.locator("#z1 input[type=number]").first
    before = slider.input_value()
    image = page.locator("#point-map img").first
    box = image.bounding_box()
    image.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
    page.wait_for_function("b => document.querySelector('#z1 input[type=number]').value !== b", arg=before,
                           timeout=20_000)
    assert float(slider.input_value()) < 0  # left of centre is negative z1
    page.get_by_role("button", name="Interpolate").click()
    assert has_image(page, "interp-strip")
    page.screenshot(path=str(SHOTS / "latent_space.png"), full_page=True)


def image_src(page, elem_id):
    return page.locator(f"#{elem_id} img").first.get_attribute("src")


def wait_for_new_image(page, elem_id, before, timeout=20_000):
    page.wait_for_function("([id, b]) => { const i = document.querySelector(`#${id} img`); return i && i.src !== b; }",
                           arg=[elem_id, before], timeout=timeout)


def test_the_beta_spectrum_follows_the_chosen_model(page):
    page.get_by_role("tab", name="AE to VAE").click()
    assert has_image(page, "rd-plot") and has_image(page, "spectrum-grid")
    for name in ("VAE beta=4", "AE"):
        before = image_src(page, "spectrum-grid")
        page.locator("#spectrum-pick").get_by_text(name, exact=True).click()
        wait_for_new_image(page, "spectrum-grid", before)
    assert errors_on_page(page) == 0
    page.screenshot(path=str(SHOTS / "ae_to_vae.png"), full_page=True)


def test_the_conditional_tab_samples_a_digit_and_restyles_a_drawing(page):
    page.get_by_role("tab", name="Conditional VAE").click()
    assert has_image(page, "cvae-samples") and has_image(page, "cvae-grid")
    before = image_src(page, "cvae-samples")
    page.locator("#cvae-digit").get_by_text("8", exact=True).click()
    wait_for_new_image(page, "cvae-samples", before)
    draw_stroke(page, "cvae-sketch")  # the brush is ready on this sketchpad too
    assert has_image(page, "cvae-restyled")
    page.locator("#cvae-guess").get_by_text("%").first.wait_for(timeout=20_000)
    before = image_src(page, "cvae-grid")
    page.locator("#cvae-grid-digit").get_by_text("2", exact=True).click()
    wait_for_new_image(page, "cvae-grid", before)
    assert errors_on_page(page) == 0
    page.screenshot(path=str(SHOTS / "conditional.png"), full_page=True)


def test_faces_tab(page, served_app):
    page.get_by_role("tab", name="Faces").click()
    expected = "No face model here" if served_app[0].faces is None else "Sample faces"
    page.get_by_text(expected).first.wait_for(timeout=10_000)
    page.screenshot(path=str(SHOTS / "faces.png"), full_page=True)


def test_uploading_a_file_that_is_not_an_image_says_so_on_the_page(page, tmp_path):
    page.get_by_role("tab", name="Reconstruct").click()
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a picture")
    page.locator("#upload input[type=file]").set_input_files(str(fake))
    page.get_by_text("not an image I can read").first.wait_for(timeout=20_000)
    page.screenshot(path=str(SHOTS / "reconstruct_not_an_image.png"), full_page=True)


def test_on_a_phone_the_models_input_sits_right_under_the_sketchpad(page, served_app):
    """At 390 px the columns stack; the first result must follow the input, not come three screens later."""
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    try:
        phone.goto(served_app[1])
        phone.locator("#seen").wait_for(timeout=30_000)
        sketch, seen = phone.locator("#sketch").bounding_box(), phone.locator("#seen").bounding_box()
        assert 0 <= seen["y"] - (sketch["y"] + sketch["height"]) < 100
        phone.screenshot(path=str(SHOTS / "phone.png"))
    finally:
        phone.close()


def natural_width(page, elem_id):
    return page.evaluate(f"document.querySelector('#{elem_id} img').naturalWidth")


def test_train_live_then_stop_then_reconstruct_with_the_trained_model(page):
    page.get_by_role("tab", name="Reconstruct").click()
    assert has_image(page, "every-model")
    shipped_only = natural_width(page, "every-model")
    page.get_by_role("tab", name="Train").click()
    epochs = page.locator("#train-epochs input[type=number]")
    epochs.fill("20")
    epochs.press("Enter")
    page.locator("#train-btn").click()
    assert has_image(page, "train-map", timeout=60_000) and has_image(page, "train-curves")
    first_map, first_curves = image_src(page, "train-map"), image_src(page, "train-curves")
    wait_for_new_image(page, "train-map", first_map, 60_000)  # the next epoch: the map moves
    assert image_src(page, "train-curves") != first_curves
    page.locator("#stop-btn").click()
    page.locator("#train-status").get_by_text("Stopped").wait_for(timeout=5_000)
    page.screenshot(path=str(SHOTS / "train.png"), full_page=True)
    page.get_by_role("tab", name="Reconstruct").click()
    before = image_src(page, "every-model")
    draw_stroke(page)
    wait_for_new_image(page, "every-model", before)
    assert natural_width(page, "every-model") > shipped_only  # one more column: "yours"
    assert errors_on_page(page) == 0


def test_closing_the_page_stops_its_training(page, served_app):
    import time

    from gradio_client import Client

    def short_run():
        started = time.monotonic()
        Client(served_app[1], verbose=False).submit("AE", "1", 0, 1, 1000, api_name="/train").result(timeout=120)
        return time.monotonic() - started

    alone = short_run()
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(served_app[1])
    other.get_by_role("tab", name="Train").click()
    epochs = other.locator("#train-epochs input[type=number]")
    epochs.fill("20")
    epochs.press("Enter")
    other.locator("#train-btn").click()
    assert has_image(other, "train-map", timeout=60_000)  # an epoch is done; 19 more would take half a minute
    other.close()
    assert short_run() < alone + 8  # the closed page's run gave the one training slot back (its rest: about 20 s)


def test_the_report_tab_shows_the_report_with_its_figures(page):
    page.get_by_role("tab", name="Report").click()
    page.locator("#report").get_by_text("the ELBO estimator").first.wait_for(timeout=10_000)
    figure = page.locator("#report img").first
    figure.scroll_into_view_if_needed()
    page.wait_for_function("() => { const i = document.querySelector('#report img'); return i && i.naturalWidth > 100; }",
                           timeout=20_000)
    assert page.locator("#report .katex").count() > 10  # the maths is typeset
    page.screenshot(path=str(SHOTS / "report.png"))
