"""Can a page shown in another site's iframe (a Space's page inside huggingface.co) be cross-origin isolated, which
TensorFlow.js's WASM threads need (SharedArrayBuffer)? Measured in headless chromium on two local origins.

    python bench/iframe_isolation.py

Two servers on two ports (two origins): the framed page sends COOP, COEP and CORP (all a Space could send) and reports
self.crossOriginIsolated to its parent; the embedding page frames it with allow="cross-origin-isolated", once without
those headers and once with them. Prints what the framed page reported each time: it is isolated only when the page
that frames it is isolated too, so the Space's own headers alone cannot give it threads.
"""
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
           "Cross-Origin-Resource-Policy": "cross-origin"}
REPORT = "<script>parent.postMessage({isolated: self.crossOriginIsolated, sab: typeof SharedArrayBuffer}, '*')</script>"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(body, headers):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    from playwright.sync_api import sync_playwright

    framed = serve(REPORT, HEADERS)
    frame = (f"<script>addEventListener('message', e => document.title = JSON.stringify(e.data))</script>"
             f"<iframe allow='cross-origin-isolated' src='http://localhost:{framed.server_port}/'></iframe>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        print(f"chromium {browser.version}, the framed page sends {', '.join(HEADERS)}:")
        for label, headers in (("without COOP/COEP (as a hub page that does not opt in)", {}),
                               ("with COOP/COEP", HEADERS)):
            top = serve(frame, headers)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{top.server_port}/")
            page.wait_for_function("document.title.length > 0", timeout=20_000)
            print(f"  embedding page {label}: embedding page isolated {page.evaluate('self.crossOriginIsolated')}; "
                  f"the framed page reports {page.title()}")
            page.close()
            top.shutdown()
        browser.close()
    framed.shutdown()


if __name__ == "__main__":
    main()
