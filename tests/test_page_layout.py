"""The page at a phone's width (390 px) and a desktop's (1400 px), in chromium: every picture and table readable
without hidden content, a bad seed said once under its field, no empty boxes on the Train tab before a run."""
import shutil

import pytest

from conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT

pytestmark = pytest.mark.slow  # a real browser against the launched app
playwright = pytest.importorskip("playwright.sync_api")
if not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

SHOTS = ROOT / "test-output"
WIDTHS = {"phone": (390, 844), "desktop": (1400, 1000)}
SEED_SENTENCE = "The seed must be a whole number from 0 to 4294967295, not 4294967296."


@pytest.fixture(scope="module")
def browser(served_app):
    SHOTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def open_page(browser, served_app, width):
    w, h = WIDTHS[width]
    page = browser.new_page(viewport={"width": w, "height": h})
    page.goto(served_app[1])
    page.get_by_text("VAE Explorer").first.wait_for(timeout=60_000)
    return page


@pytest.fixture(scope="module")
def phone(browser, served_app):
    page = open_page(browser, served_app, "phone")
    yield page
    page.close()


@pytest.fixture(scope="module", params=list(WIDTHS))
def any_width(request, browser, served_app):
    page = open_page(browser, served_app, request.param)
    yield request.param, page
    page.close()


# The row of every model as drawn: its picture's cells (n: a square cell each), the box it is shown in, and each
# cell's drawn box (the cut cells, or the cells of the whole picture).
ROW = """() => {
  const block = document.querySelector('#every-model'), img = block.querySelector('.image-frame img');
  const n = Math.round(img.naturalWidth / img.naturalHeight), box = block.getBoundingClientRect();
  const canvases = [...block.querySelectorAll('.strip-cells canvas')];
  let cells;
  if (canvases.length) cells = canvases.map(c => c.getBoundingClientRect());
  else { const r = img.getBoundingClientRect(), w = r.width / n;
         cells = Array.from({length: n}, (_, i) => ({left: r.left + i * w, right: r.left + (i + 1) * w, top: r.top, width: w})); }
  return {n, side: img.naturalHeight, box: {left: box.left, right: box.right},
          cells: cells.map(c => ({left: c.left, right: c.right, top: Math.round(c.top), width: c.width}))};
}"""


def test_the_row_of_every_model_shows_every_model_with_captions_of_11_px_or_more(any_width):
    """At 390 px the row of 7 (a 812 px picture) used to show 3 models in a frame that scrolled with no sign of it;
    now it wraps into rows of its cells. At 1400 px it stays one row."""
    width, page = any_width
    page.get_by_role("tab", name="Reconstruct").click()
    page.locator("#every-model .image-frame img").wait_for(state="attached", timeout=60_000)
    page.locator("#every-model").scroll_into_view_if_needed()  # gradio's pictures load lazily
    page.wait_for_function("() => { const i = document.querySelector('#every-model .image-frame img'); "
                           "return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    page.wait_for_timeout(500)
    row = page.evaluate(ROW)
    assert len(row["cells"]) == row["n"] == 7  # the input and six models
    for cell in row["cells"]:  # every cell whole inside the box: nothing hidden past its edge
        assert row["box"]["left"] - 0.5 <= cell["left"] and cell["right"] <= row["box"]["right"] + 0.5, cell
        assert 22 * cell["width"] / row["side"] >= 11  # labelled_strip's 22 px captions drawn at 11 px or more
    rows = len({c["top"] for c in row["cells"]})
    assert rows == (1 if width == "desktop" else 2)
    page.locator("#every-model").screenshot(path=str(SHOTS / f"every_model_{width}.png"))


def tables_in(page, ids):
    return page.evaluate("ids => ids.map(id => { const t = document.querySelector(`#${id} table`); "
                         "return [id, t.scrollWidth, t.clientWidth]; })", ids)


def test_on_a_phone_the_reconstruct_and_ae_to_vae_tables_fit_the_screen(phone):
    """Their loss columns were behind a sideways scroll: the table of numbers wraps a code's two coordinates and has
    narrower cells; the AE to VAE table of seven columns is two of four."""
    phone.get_by_role("tab", name="Reconstruct").click()
    phone.locator("#numbers").get_by_text("code z").wait_for(timeout=120_000)  # the example digit's numbers
    phone.get_by_role("tab", name="AE to VAE").click()
    phone.locator("#test-table table").wait_for(timeout=60_000)
    phone.wait_for_timeout(500)
    phone.get_by_role("tab", name="Reconstruct").click()
    phone.wait_for_timeout(500)
    assert all(scroll <= client + 1 for _, scroll, client in tables_in(phone, ["numbers"]))
    phone.get_by_role("tab", name="AE to VAE").click()
    phone.wait_for_timeout(500)
    fits = tables_in(phone, ["trained-table", "test-table"])
    assert all(scroll <= client + 1 for _, scroll, client in fits), fits
    phone.locator("#test-table").screenshot(path=str(SHOTS / "ae_to_vae_table_phone.png"))


HINTS = """() => [...document.querySelectorAll('[role=tabpanel]:not([style*="display: none"]) table')]
  .filter(t => t.offsetParent !== null).map(t => ({wide: t.scrollWidth > t.clientWidth + 1,
    marked: t.hasAttribute('data-scrolls'), hint: getComputedStyle(t, '::before').content}))"""


def test_on_a_phone_a_table_that_scrolls_says_so_above_it(phone):
    """The Report's tables are wider than a phone (nine columns): each says it scrolls, in a line that stays in view
    while it does; a table that fits says nothing."""
    phone.get_by_role("tab", name="Report").click()
    phone.locator("#report table").first.wait_for(timeout=30_000)
    phone.wait_for_timeout(1000)
    tables = phone.evaluate(HINTS)
    assert any(t["wide"] for t in tables) and any(not t["wide"] for t in tables)
    for t in tables:
        assert t["marked"] == t["wide"], t
        assert ("scroll sideways" in t["hint"]) == t["wide"], t
    wide = phone.locator("#report table[data-scrolls]").first
    wide.scroll_into_view_if_needed()
    wide.evaluate("t => { t.scrollLeft = 200; }")  # the line stays at the left edge of the box as the table scrolls
    phone.wait_for_timeout(300)
    assert phone.evaluate("""() => { const t = document.querySelector('#report table[data-scrolls]');
        return t.scrollLeft > 0 && t.getBoundingClientRect().width > 0; }""")
    wide.screenshot(path=str(SHOTS / "report_table_phone.png"))


def test_the_train_tab_shows_no_empty_box_before_a_run(any_width):
    width, page = any_width
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-view .tv-status").get_by_text("Press Train.").wait_for(timeout=120_000)
    empty = page.evaluate("() => [...document.querySelectorAll('#train-view canvas')].filter(c => "
                          "c.getBoundingClientRect().width > 0).length")
    assert empty == 0
    assert "loss curves" in page.locator("#train-view .tv-status").inner_text()  # what will appear, said instead
    page.screenshot(path=str(SHOTS / f"train_before_{width}.png"), full_page=True)


def sentences(page, text):
    """How often `text` is on the screen: gradio's screen-reader region (.sr-only, a line drawn nowhere) also
    announces a validator's sentence, for a second or so."""
    return page.evaluate("""t => { let n = 0; const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let x = w.nextNode(); x; x = w.nextNode()) if (!x.parentElement.closest('.sr-only'))
          n += x.textContent.split(t).length - 1;
        return n; }""", text)


@pytest.mark.parametrize("tab, box, picture, button", [("Sample", "#seed", "#vae-samples", "Sample z ~ N(0, I)"),
                                                       ("Conditional VAE", "#cvae-seed", "#cvae-samples", None)])
def test_a_bad_seed_is_said_once_under_its_box_and_leaves_the_pictures(browser, served_app, tab, box, picture,
                                                                        button):
    """Enter and then a click on Sample each put the sentence into the error toast ("Error (2)") and marked every
    picture "Error"; now it is said once, under the box, and nothing else runs."""
    page = open_page(browser, served_app, "desktop")
    try:
        page.get_by_role("tab", name=tab).click()
        page.locator(f"{picture} img").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2000)  # the load event's picture settled
        before = page.locator(f"{picture} img").first.get_attribute("src")
        field = page.locator(f"{box} input").first
        field.fill("4294967296")
        field.press("Enter")
        page.get_by_text(SEED_SENTENCE).first.wait_for(timeout=20_000)
        if button:
            page.get_by_role("button", name=button).click()
        else:
            field.press("Enter")
        page.wait_for_timeout(2000)
        assert sentences(page, SEED_SENTENCE) == 1
        assert page.locator("[data-testid='toast-body']").count() == 0 and page.locator(".error").count() == 0
        assert page.locator(f"{picture} img").first.get_attribute("src") == before
        page.screenshot(path=str(SHOTS / f"bad_seed_{tab.split()[0].lower()}.png"))
        field.fill("4294967295")  # the last seed of the range samples, and the sentence goes
        field.press("Enter")
        page.wait_for_function("([s, b]) => { const i = document.querySelector(s); return i && i.src !== b; }",
                               arg=[f"{picture} img", before], timeout=60_000)
        page.wait_for_timeout(500)
        assert sentences(page, "The seed must be") == 0
    finally:
        page.close()


def test_the_train_tabs_seed_has_the_same_range_and_sentence(phone):
    phone.get_by_role("tab", name="Train").click()
    phone.locator("#train-view .tv-status").get_by_text("Press Train.").wait_for(timeout=120_000)
    phone.locator("#train-view .tv-seed").fill("4294967296")
    phone.locator("#train-view .tv-train").click()
    phone.locator("#train-view .tv-status").get_by_text(SEED_SENTENCE).wait_for(timeout=10_000)
    assert phone.locator("#train-view .tv-seed").get_attribute("max") == "4294967295"
    phone.locator("#train-view .tv-seed").fill("0")
