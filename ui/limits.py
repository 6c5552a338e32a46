"""The size of a request, bounded before anything reads it: an ASGI middleware in front of gradio's routes.

gradio's max_file_size bounds uploads only; any other request body (the JSON of an API call, a queue join) is read
whole and kept with the event, its session and its log line, even when the handler then refuses it: 24 calls with a
30 MB string for a number kept 835 MB. No legitimate input of this app is more than a few KB of JSON (files travel
as uploads and are named by path), so a body over MAX_JSON_BYTES is refused with one sentence before it is stored.
"""
import json

from .inputs import MAX_BLOB_BYTES

MAX_JSON_BYTES = 64_000  # the longest legitimate call (a drawing with its layers named by path) is under 2 KB
# the sketchpad's pieces (ui.inputs.Sketchpad.accept_blobs): one image and a few form fields
MAX_BLOB_REQUEST_BYTES = MAX_BLOB_BYTES + 64_000


def too_large(limit):
    return f"The request is larger than any input of this app ({limit // 1000:,} KB at most); files are sent as uploads."


def body_limit(path):
    """-> the most bytes a POST to this path may carry, or None where gradio's own upload limit applies."""
    if path.rstrip("/").endswith("/upload"):
        return None  # gradio's max_file_size, checked as the file streams in
    if path.rstrip("/").endswith("/component_server"):
        return MAX_BLOB_REQUEST_BYTES
    return MAX_JSON_BYTES


def names_an_address(value):
    """True when a JSON value holds a file payload whose "path" is an address (http://..., hf://...) rather than a
    file on this server. gradio fetches such a path into its cache before any handler runs (whole, into memory, and
    from the Hugging Face hosts without any check), so it is refused here, before gradio sees it."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            path = v.get("path")
            if isinstance(path, str) and "://" in path:
                return True
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


class BodyLimit:
    """Refuse (413, one sentence) a request whose body is larger than body_limit(path), by its Content-Length or,
    without one, as it streams in; the body is held here (at most the limit) and handed on whole."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        limit = body_limit(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self.refuse(send, 413, too_large(limit))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > limit:
                return await self.refuse(send, 413, too_large(limit))
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False
        if limit == MAX_JSON_BYTES and body:
            try:
                call = json.loads(body)
            except (ValueError, RecursionError):
                call = None  # not JSON: gradio answers it
            if names_an_address(call):
                return await self.refuse(send, 400, "Files are sent to this app as uploads, not as addresses for it "
                                                    "to fetch.")

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    async def refuse(send, status, sentence):
        body = json.dumps({"error": sentence, "detail": sentence}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
