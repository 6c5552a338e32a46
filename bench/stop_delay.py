"""How long after a press of Stop the Train tab says "Stopped", as a visitor sees it: Debian's chromium, headless,
against a running app.

    python app.py --port 7860 &   python bench/stop_delay.py [--url http://127.0.0.1:7860/] [--runs 3]

Each run: a fresh page, Train (the default 5 epochs), Stop once the first progress line shows, then the time from
the click to "Stopped" on the page. The delay is the run's next look at Stop (every 32 mini-batches), the
cancellation, and the request that writes the message.
"""
import argparse
import time

from playwright.sync_api import sync_playwright


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    delays = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        for _ in range(args.runs):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(args.url)
            page.get_by_role("tab", name="Train").click()
            page.locator("#train-btn").click()
            page.locator("#train-status").get_by_text("digits...").wait_for(timeout=120_000)
            started = time.monotonic()
            page.locator("#stop-btn").click()
            page.locator("#train-status").get_by_text("Stopped").wait_for(timeout=30_000)
            delays.append(time.monotonic() - started)
            print(f"Stop to 'Stopped': {delays[-1]:.2f} s", flush=True)
            page.close()
        browser.close()
    print(f"{len(delays)} runs: {min(delays):.2f} to {max(delays):.2f} s")


if __name__ == "__main__":
    main()
