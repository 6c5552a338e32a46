"""The page's first screen on a phone (390 x 844 px, chromium): after a click on a tab, with the page scrolled to its
top, the tab's first control or picture starts within the screen, so no intro pushes what a visitor came to use
below it. The Report is a document: there the first screen shows its title and opening lines. And a tab opens with
something to look at: the Conditional VAE's example digit is already read, as Reconstruct's is. The Latent space's
Interpolate inputs draw their 28x28 examples pixel for pixel at their frame's size, with Reconstruct's sources (no
webcam)."""
import shutil

import pytest

from conftest import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.slow  # a real browser against the launched app
playwright = pytest.importorskip("playwright.sync_api")
if not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

FLAGS = CHROMIUM_FLAGS  # conftest
PHONE = {"width": 390, "height": 844}
TABS = ("Reconstruct", "Sample", "Latent space", "AE to VAE", "Conditional VAE", "Train", "Faces", "Report")
CONTROL_OR_PICTURE = "input:not([type=hidden]), button, select, textarea, canvas, img, [role=radiogroup]"
TEXT = "h1, h2, h3, p, li"
# the first of the elements matched that the page draws (a box of some size), in the page's order: [tag, top in px]
FIRST_DRAWN = ("els => els.map(e => [e.tagName, e.getBoundingClientRect()]).filter(([, r]) => r.width > 0 && "
               "r.height > 0).map(([t, r]) => [t, Math.round(r.top)])[0] || null")


@pytest.fixture(scope="module")
def phone(served_app):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(served_app[1])
        page.get_by_text("VAE Explorer").first.wait_for(timeout=60_000)
        yield page
        browser.close()


def first_top(page, selector, timeout=60_000):
    """The open tab's first drawn element matching selector, once the page has settled (the same element at the same
    place in three looks 300 ms apart: a tab still mounting its components shows them lower down, one by one):
    -> (tag, its top in px from the top of the screen, the page scrolled to its top)."""
    panel = page.locator("[role=tabpanel]:visible").first
    looks = []
    for _ in range(timeout // 300):
        page.evaluate("window.scrollTo(0, 0)")
        looks.append(panel.locator(selector).evaluate_all(FIRST_DRAWN))
        if looks[-1] and len(looks) >= 3 and looks[-3] == looks[-2] == looks[-1]:
            return looks[-1]
        page.wait_for_timeout(300)
    raise AssertionError(f"no {selector} settled in the open tab: {looks[-3:]}")


@pytest.mark.parametrize("tab", TABS)
def test_each_tabs_first_control_or_picture_is_on_a_phones_first_screen(phone, served_app, tab):
    phone.get_by_role("tab", name=tab).click()
    document = tab == "Report" or (tab == "Faces" and served_app[0].faces is None)  # text first; no face model: a note
    tag, top = first_top(phone, TEXT if document else CONTROL_OR_PICTURE)
    print(f"{tab}: the first {tag} at {top:.0f} px")
    assert 0 <= top < PHONE["height"] - 40, (tab, tag, top)  # its top, and a line of it, on the first screen


def test_the_conditional_tab_opens_with_an_example_digit_read(phone):
    """No drawing, no upload: the tab shows the example as every digit (computed in the page) and its p(y|x)."""
    phone.get_by_role("tab", name="Conditional VAE").click()
    phone.locator("#cvae-upload img").first.wait_for(state="visible", timeout=30_000)
    phone.wait_for_function("() => (document.querySelector('#cvae-live .cv-row') || {dataset: {}}).dataset.z",
                            timeout=60_000)
    phone.locator("#cvae-guess").get_by_text("%").first.wait_for(timeout=30_000)
    assert "uploaded image" in phone.locator("#cvae-live").inner_text()  # which input the row belongs to
    assert phone.locator(".error, [data-testid='toast-body']").count() == 0


SOURCE_BUTTONS = "els => els.map(e => e.getAttribute('aria-label')).sort()"


def test_the_interpolate_inputs_show_a_28_pixel_example_as_large_as_their_box_with_reconstructs_sources(phone):
    phone.get_by_role("tab", name="Reconstruct").click()
    sources = phone.locator("#upload .source-selection button").evaluate_all(SOURCE_BUTTONS)
    assert sources and not any("camera" in s.lower() or "webcam" in s.lower() for s in sources), sources
    phone.get_by_role("tab", name="Latent space").click()
    for box in ("#interp-from", "#interp-to"):
        picture = phone.locator(f"{box} img").first
        picture.wait_for(state="visible", timeout=30_000)
        # [its pixels, its drawn width and height, its frame's, how it is scaled]
        size = picture.evaluate("e => [e.naturalWidth, e.width, e.height, e.parentElement.clientWidth, "
                                "e.parentElement.clientHeight, getComputedStyle(e).imageRendering]")
        pixels, width, height, frame_width, frame_height, rendering = size
        assert pixels == 28 and rendering == "pixelated", (box, size)
        assert abs(width - frame_width) <= 2 and abs(height - frame_height) <= 2, (box, size)  # the frame's size
        assert min(width, height) >= 3 * 28, (box, size)  # each pixel drawn 3 px wide or more, not 1
        assert phone.locator(f"{box} .source-selection button").evaluate_all(SOURCE_BUTTONS) == sources, box
