"""Every request checked before gradio sees it, at one place: an ASGI middleware in front of gradio's routes.

Size. 
gradio's max_file_size bounds uploads only; any other request body (the JSON of an API call, a queue join) is read
whole and kept with the event, its session and its log line, even when the handler then refuses it: 24 calls with a
30 MB string for a number kept 835 MB. No legitimate input of this app is more than a few KB of JSON (files travel
as uploads and are named by path), so a body over MAX_JSON_BYTES is refused with one sentence before it is stored.

Shape. gradio answers a call it cannot run (too few inputs, an unknown fn_index, a file payload without "meta" or
naming a file it never received, a sketch whose layers name /etc/passwd, NaN in the JSON) with an error event without
a message ({"error": null}) or a 500, and a traceback in the log. So each call is checked against an allowlist read
from the Blocks (`Calls`): which events a client may call and by which name, how many inputs each takes and what each
input may hold; a call that does not fit is refused here with a 4xx and one sentence. What a handler checks itself
(a number's range, a model's name) still reaches it, so its own sentence answers.

Queue. Every event a visitor's page or an API client starts waits in gradio's one queue of QUEUE_SIZE places; one
client joining as fast as it can filled it in a second and every other visitor got "busy" (503) for as long as it
kept on. A client address may have at most MAX_WAITING_PER_CLIENT events waiting (half the queue): the rest of the
queue is always open to the others. Half, not less: a classroom behind one network address is one address.

Gradio's routes that a visitor has no use for and that cost the server: /gradio_api/dev/reload (a watch for code
changes; each open connection is polled 20 times a second), /monitoring (writes its secret link into the log) and
/gradio_api/deep_link (for a gr.DeepLinkButton, which this app has not: each call wrote a session's state, ~240 KB,
into gradio's folder, where no cleaning deletes it).
A Range header on a file route is dropped (the file is sent whole, as HTTP allows): gradio split it at "-" (a 500
and a traceback for "bytes=0-1,2-3") and answered a range with every header of the request copied into the answer.

Answers. gradio's own refusals (a 403 on /gradio_api/file=, a 404, a 422 from its data model) are rewritten into
one sentence that names no path of the server; a validator's verdicts (ui.inputs.validator: our sentences, which the
page shows under their fields) pass as they are.
"""
import collections
import json
import math
import os
import re
import stat
import tempfile
import time

from .inputs import MAX_BLOB_BYTES, MAX_LAYERS

MAX_UPLOAD_BYTES = 20_000_000  # gradio's max_file_size (ui.MAX_FILE_SIZE, "20mb")
QUEUE_SIZE = 64  # gradio's queue (ui.build_demo: demo.queue(max_size=QUEUE_SIZE))
MAX_WAITING_PER_CLIENT = QUEUE_SIZE // 2
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



MAX_DEPTH = 12  # the deepest legitimate value (a sketch's layer's meta) is 4 levels down
MAX_DIGITS = 30  # a seed is at most 10 digits (inputs.MAX_SEED); float() of an integer past 1e308 raises OverflowError
SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")  # gradio's page: 11 base-36 characters; gradio_client: a uuid's hex
# the fields of the page's calls (gradio's client: queue/join for queued events, run/<name> for the others)
CALL_FIELDS = {"data", "event_data", "fn_index", "trigger_id", "session_hash"}
SIMPLE_FIELDS = {"data", "session_hash"}  # /gradio_api/call/<name>, as gradio_client and curl send it
# The event data the page's own events send (reconstruct.js's stroke: the input as hex, its number, whether it is the
# whole stroke; explorer.js's pin: a point of the map), the only event data a handler of this app reads.
EVENT_DATA = {"x": str, "seq": int, "full": bool, "z1": (int, float), "z2": (int, float)}
MAX_EVENT_TEXT = 256  # the stroke's 28x28 input is 196 hex digits
FILE_FIELDS = {"path", "url", "size", "orig_name", "mime_type", "is_stream", "meta"}  # gradio.data_classes.FileData
SKETCH_FIELDS = {"id", "background", "layers", "composite"}  # gradio's EditorData
FILE_META = {"_type": "gradio.FileData"}
# gradio's refusals, by status, in one sentence that names nothing of the server
GENERIC = {400: "This app cannot answer that request.", 401: "Log in first.",
           403: "That file is not one this app serves.", 404: "There is nothing at that address.",
           405: "That address does not take this kind of request.",
           413: "The request is larger than any input of this app.",
           422: "The request's fields are not the ones this address takes.",
           429: "Too many requests; please try again in a minute.",
           503: "The app is busy; please try again in a minute."}


class Refusal(Exception):
    """A request this app does not answer: its HTTP status and one sentence for the client."""

    def __init__(self, status, sentence):
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


def parse(body):
    """A request's JSON -> its value; NaN, Infinity, 1e400, integers of more than MAX_DIGITS digits, nesting deeper
    than MAX_DEPTH and anything not JSON are Refusal (gradio answers NaN with a 500: it cannot write it back)."""
    def constant(name):
        raise ValueError(name)

    def finite(text):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value

    def integer(text):
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise ValueError(text)
        return int(text)

    try:
        value = json.loads(body, parse_constant=constant, parse_float=finite, parse_int=integer)
    except RecursionError:
        raise Refusal(400, "The request is nested deeper than any input of this app.") from None
    except ValueError:
        raise Refusal(400, "The request is not JSON this app reads: numbers are finite and at most "
                           f"{MAX_DIGITS} digits long.") from None
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refusal(400, "The request is nested deeper than any input of this app.")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
    return value


def upload_folder():
    import gradio as gr

    return os.path.realpath(gr.utils.get_upload_folder())


def uploaded(payload, what):
    """A file payload -> None, or Refusal: gradio's FileData fields only, its "meta" tag, and a path that is a regular
    file inside gradio's upload folder (gradio moves any other path into its cache, or refuses it with a traceback)."""
    if not isinstance(payload, dict) or not set(payload) <= FILE_FIELDS or payload.get("meta") != FILE_META:
        raise Refusal(422, f"Send {what} as gradio's file payload: {{\"path\": the path /gradio_api/upload gave, "
                           f"\"meta\": {{\"_type\": \"gradio.FileData\"}}}}.")
    path = payload.get("path")
    if not isinstance(path, str) or not path or "\0" in path or payload.get("is_stream") not in (None, False) or \
            any(not isinstance(payload.get(k), (str, type(None))) for k in ("url", "orig_name", "mime_type")) or \
            not isinstance(payload.get("size"), (int, type(None))) or isinstance(payload.get("size"), bool):
        raise Refusal(422, f"Send {what} as gradio's file payload, its path a string.")
    real, folder = os.path.realpath(path), upload_folder()
    if os.path.commonpath([real, folder]) != folder:
        raise Refusal(422, f"That file was not uploaded to this app; upload {what} first.")
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            raise Refusal(422, f"That is not a file; upload {what}.")
    except OSError:
        raise Refusal(422, f"That upload is gone (old uploads are deleted); upload {what} again.") from None


def any_value(value):
    """The handler checks it (ui.inputs) and answers a wrong one with its own sentence; only a file payload inside
    it is refused (gradio would move that file into its cache first, or fail on a "meta" that is not a dict)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if "path" in v:
                raise Refusal(422, "This input takes a value, not a file.")
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def image(value):
    if value is not None:
        uploaded(value, "an image")


def sketch(value):
    """gradio's EditorData: the browser's {"id": its drawing's blobs} or files for the background, layers and
    composite (each is moved into gradio's cache and validated before the handler runs)."""
    if value is None:
        return
    if not isinstance(value, dict) or not set(value) <= SKETCH_FIELDS:
        raise Refusal(422, "Send a drawing as the sketchpad does: {\"background\", \"layers\", \"composite\"} or "
                           "{\"id\"}.")
    if not isinstance(value.get("id"), (str, type(None))) or len(value.get("id") or "") > 64:
        raise Refusal(422, "A drawing's id is a short string.")
    layers = value.get("layers", [])
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise Refusal(422, f"A drawing has a list of at most {MAX_LAYERS} layers.")
    for part in (value.get("background"), value.get("composite")):
        if part is not None:
            uploaded(part, "a drawing")
    for layer in layers:  # gradio's EditorData: a layer is a file, never null
        uploaded(layer, "a drawing's layer")


def checker(block, preprocess):
    """An event's input -> the function that checks what a client sends for it (Refusal when it does not fit), or
    None when no client value can be run (an input this allowlist does not know)."""
    import gradio as gr

    if getattr(block, "stateful", False):
        return any_value  # gradio passes the session's own value; the client's is dropped
    if isinstance(block, gr.Dataset):  # load_example: gradio's preprocess indexes the samples with it
        n = len(block.samples)

        def index(value):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
                raise Refusal(422, f"An example is chosen by its index, a whole number from 0 to {n - 1}.")
        return index
    if preprocess:
        return None  # gradio's own preprocess would run on it: not an input of this app's events
    if isinstance(block, gr.ImageEditor):
        return sketch
    if isinstance(block, gr.Image):
        return image
    if getattr(block, "data_model", None) is None:
        return any_value
    return None


class Calls:
    """What a client may call, read from the Blocks: the events with a server function (by fn_index, as the page
    calls them; by name those the API shows), and for each the checks of its inputs."""

    def __init__(self, demo):
        self.demo, self.inputs, self.api_inputs, self.names = demo, {}, {}, {}
        self.reads_event_data = set()  # events whose function takes a gr.EventData: gradio checks its files first
        self.queued = set()  # events that wait their turn in the queue: gradio's /run would run them beside it
        # the components' server functions the page may call (/component_server): {component id: {function names}}
        self.servers = {}
        for block_id, block in demo.blocks.items():
            names = {n for n in dir(type(block)) if getattr(getattr(type(block), n, None), "_is_server_fn", False)}
            if names:
                self.servers[block_id] = names
        for index, fn in demo.fns.items():
            if fn.fn is None:
                continue  # a page-side function (js only, or a Stop button's cancels: the page calls /cancel)
            checks = [checker(block, fn.preprocess) for block in fn.inputs]
            if None in checks:
                continue
            self.inputs[index] = checks
            if fn.collects_event_data:
                self.reads_event_data.add(index)
            if fn.queue:
                self.queued.add(index)
            self.api_inputs[index] = [i for i, block in enumerate(fn.inputs) if not block.skip_api]
            if fn.api_name and fn.api_visibility != "private":
                self.names[fn.api_name] = index

    def by_name(self, name):
        if name not in self.names:
            raise Refusal(404, "This app has no endpoint of that name; its API page lists them.")
        return self.names[name]

    def check(self, index, data, simple=False):
        """The data of a call to event `index` -> None, or Refusal. The simple API (/call/<name>) may leave out
        the inputs it does not show (a session's State), as gradio_client does."""
        if isinstance(index, bool) or not isinstance(index, int) or index not in self.inputs:
            raise Refusal(404, "This app has no event of that index.")
        if not isinstance(data, list):
            raise Refusal(422, "A call's data is a list of its inputs' values.")
        checks = self.inputs[index]
        if simple and len(data) == len(self.api_inputs[index]) != len(checks):
            full = [None] * len(checks)
            for i, value in zip(self.api_inputs[index], data):
                full[i] = value
            data = full
        if len(data) != len(checks):
            shown = len(self.api_inputs[index]) if simple else len(checks)
            raise Refusal(422, f"This event takes {shown} input{'s' if shown != 1 else ''}, not {len(data)}.")
        for check, value in zip(checks, data):
            check(value)

    def call(self, route, body):
        """A POST to one of the routes that run an event (route: the path after /gradio_api/) -> None, or
        Refusal."""
        parts = route.strip("/").split("/")
        if parts == ["queue", "join"] or parts[0] in ("run", "api") and len(parts) == 2:
            if not isinstance(body, dict) or not set(body) <= CALL_FIELDS or "data" not in body:
                raise Refusal(422, "A call is {\"data\": [...], \"fn_index\", \"session_hash\", \"event_data\", "
                                   "\"trigger_id\"} and nothing else.")
            self.session(body.get("session_hash"), required=parts[0] == "queue")
            if not isinstance(body.get("trigger_id"), (int, type(None))) or isinstance(body.get("trigger_id"), bool):
                raise Refusal(422, "A call's trigger_id is a whole number.")
            index = body.get("fn_index")
            if index is None and parts[0] != "queue":
                index = self.by_name(parts[1])
            self.check(index, body["data"])
            if parts[0] != "queue" and index in self.queued:
                # /run and /api call the function at once in gradio's thread pool, past the queue, its places per
                # address and its 4 workers: one client held the others' calls 10 s back so
                raise Refusal(403, "This event waits its turn in the queue: call it by /gradio_api/call/<name> or "
                                   "queue/join, not /run or /api.")
            if index in self.reads_event_data:
                self.event_data(body.get("event_data"))
            return None
        if parts[0] == "call" and len(parts) == 2:
            if not isinstance(body, dict) or not set(body) <= SIMPLE_FIELDS or "data" not in body:
                raise Refusal(422, "A call is {\"data\": [its inputs' values]} (and a \"session_hash\").")
            self.session(body.get("session_hash"), required=False)
            return self.check(self.by_name(parts[1]), body["data"], simple=True)
        if parts[:2] == ["call", "v2"] and len(parts) == 3:
            self.by_name(parts[2])
            raise Refusal(404, "This app answers /gradio_api/call/<name> with {\"data\": [...]}; call/v2 is not "
                               "served.")
        if parts == ["cancel"]:
            if not isinstance(body, dict) or set(body) != {"session_hash", "fn_index", "event_id"} or \
                    not isinstance(body["event_id"], str) or len(body["event_id"]) > 64:
                raise Refusal(422, "A cancel is {\"session_hash\", \"fn_index\", \"event_id\"}.")
            self.session(body["session_hash"], required=True)
            if isinstance(body["fn_index"], bool) or body["fn_index"] not in self.inputs:
                raise Refusal(404, "This app has no event of that index.")
            return None
        if parts[0] == "stream":
            raise Refusal(404, "This app has no streaming inputs.")
        return None  # reset, upload, component_server, ...: gradio's own data model checks them

    @staticmethod
    def enqueues(route):
        """Whether a POST to this route (after /gradio_api/) puts an event in the queue."""
        parts = route.strip("/").split("/")
        return parts == ["queue", "join"] or parts[0] == "call" and len(parts) == 2

    def component(self, body):
        """A call of a component's server function: one this app has, by its component's id and its name."""
        if not isinstance(body, dict) or type(body.get("component_id")) is not int or \
                body.get("fn_name") not in self.servers.get(body["component_id"], ()):
            raise Refusal(404, "This app has no such component function.")
        self.session(body.get("session_hash"), required=True)

    @staticmethod
    def event_data(value):
        """None, or a flat dict of EVENT_DATA's fields (gradio would otherwise look for files in it first, and
        answer a file payload with a server path and a traceback in the log)."""
        if value is None:
            return
        if isinstance(value, dict) and len(value) <= len(EVENT_DATA) and all(
                k in EVENT_DATA and isinstance(v, EVENT_DATA[k]) and (EVENT_DATA[k] is bool or not isinstance(v, bool))
                and (not isinstance(v, str) or len(v) <= MAX_EVENT_TEXT) for k, v in value.items()):
            return
        raise Refusal(422, "This event's data is what the page sends: {\"x\", \"seq\", \"full\"} for a stroke, "
                           "{\"z1\", \"z2\"} for a point of the map.")

    @staticmethod
    def session(value, required):
        if value is None and not required:
            return
        if not isinstance(value, str) or not SESSION.fullmatch(value):
            raise Refusal(422, "A session_hash is 1 to 64 letters, digits, '-' or '_'.")

    def stream(self, route, query):
        """A GET of an event's answers (queue/data?session_hash=..., call/<name>/<event_id>) -> None, or Refusal when
        there is no such session or event (gradio would wait on a queue it makes for it, or end the stream
        mid-answer)."""
        queue = self.demo._queue
        parts = route.strip("/").split("/")
        if parts == ["queue", "data"]:
            sessions = [v for k, v in query if k == "session_hash"]
            if len(sessions) != 1 or sessions[0] not in queue.pending_messages_per_session:
                raise Refusal(404, "No such session: join the queue first (POST /gradio_api/queue/join).")
        elif parts[0] == "call" and len(parts) in (3, 4):
            self.by_name(parts[-2])
            event_id = parts[-1]
            if event_id not in queue.event_ids_to_events and \
                    not any(event_id in ids for ids in list(queue.pending_event_ids_session.values())):
                raise Refusal(404, "No such event: its answer was read already, or it was never made.")


UPLOAD_BUDGET = 200_000_000  # bytes one client address may upload in UPLOAD_WINDOW seconds: ten 20 MB pictures
UPLOAD_WINDOW = 600
MIN_FREE_DISK = 1_000_000_000  # uploads stop while the upload folder's disk has less than this free


class UploadBudget:
    """What each client address uploaded lately (the size its requests declared; an undeclared one counts as the
    largest allowed): gradio keeps uploads for an hour and serves them back, so without a budget one client could
    fill the disk. The budget, and the disk's free space, are checked before gradio reads a byte."""

    def __init__(self, budget=UPLOAD_BUDGET, window=UPLOAD_WINDOW, min_free=MIN_FREE_DISK, folder=None):
        self.budget, self.window, self.min_free, self.folder = budget, window, min_free, folder
        self.spent = {}  # client -> [(time, bytes), ...], oldest first

    def charge(self, client, size, now=None):
        now = time.monotonic() if now is None else now
        if len(self.spent) > 4096:  # forget the clients with nothing in the window
            self.spent = {c: e for c, e in self.spent.items() if e and e[-1][0] > now - self.window}
        entries = [e for e in self.spent.get(client, []) if e[0] > now - self.window]
        if sum(n for _, n in entries) + size > self.budget:
            self.spent[client] = entries
            raise Refusal(429, f"This address has uploaded {self.budget // 1_000_000} MB in the last "
                               f"{self.window // 60} minutes, this app's most; try again later.")
        if self.free() < self.min_free + size:
            raise Refusal(507, "The server's disk is nearly full; uploads are paused, try again later.")
        self.spent[client] = entries + [(now, size)]

    def free(self):
        folder = self.folder or os.environ.get("GRADIO_TEMP_DIR") or os.path.join(tempfile.gettempdir(), "gradio")
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)
        disk = os.statvfs(folder)
        return disk.f_bavail * disk.f_frsize


VALIDATION_FIELDS = {"__type__", "is_valid", "message", "parameter_name"}  # gradio's answer to a refused validator


def validation(answer):
    """Whether gradio's 422 is a validator's verdicts on an event's inputs (ui.inputs.validator): {"detail": [{
    "is_valid", "message", ...}, ...]}, each message a sentence of ours (no path in it), which the page shows under
    its field. Any other 422 of gradio's is rewritten."""
    detail = answer.get("detail") if isinstance(answer, dict) else None
    return isinstance(detail, list) and bool(detail) and all(
        isinstance(d, dict) and set(d) <= VALIDATION_FIELDS and isinstance(d.get("message", ""), str)
        and len(d.get("message", "")) < 300 and not re.search(r"[/\\]", d.get("message", "")) for d in detail)


class Guard:
    """The middleware: a request's size (body_limit), a call's shape (Calls), and gradio's refusals rewritten into
    one sentence (GENERIC). `demo`: the Blocks whose events the calls name (None: sizes only)."""

    def __init__(self, app, demo=None):
        self.app, self.demo, self._calls = app, demo, None
        self.uploads = UploadBudget()
        self.joining = collections.Counter()  # client address -> its calls that passed waiting_place and are not yet answered

    @property
    def calls(self):
        if self._calls is None and self.demo is not None:
            self._calls = Calls(self.demo)  # built on the first request: the Blocks are complete by then
        return self._calls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def nosniff(message):
            """Every answer says its type is its type: a browser never reads an upload served back (a picture) as
            a script or a page because its bytes look like one."""
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-content-type-options", b"nosniff")]}
            await send(message)

        try:
            return await self.guard(scope, receive, nosniff)
        except Refusal as refusal:
            return await self.refuse(nosniff, refusal.status, refusal.sentence)
        except (TypeError, KeyError, ValueError) as error:
            # gradio's upload route raises TypeError for a form field that is not a file, its component_server
            # KeyError for a form without component_id, session_hash or fn_name, or naming no component, and
            # pydantic's ValidationError (a ValueError) for a component_id that is not a number (a plain 500 and a
            # traceback in the log); any other is the server's own and goes on to be logged
            route = scope.get("path", "").rstrip("/")
            if not started and isinstance(error, TypeError) and route.endswith("/gradio_api/upload"):
                return await self.refuse(nosniff, 400, "An upload is a form of files: each 'files' part with a file "
                                                       "name.")
            if not started and route.endswith("/gradio_api/component_server"):
                return await self.refuse(nosniff, 400, "A component's call names its component_id, session_hash "
                                                       "and fn_name, and a component of this page.")
            raise

    async def guard(self, scope, receive, send):
        path, method = scope.get("path", ""), scope.get("method", "GET")
        client = (scope.get("client") or ("?",))[0]  # its address (a trusted proxy's X-Forwarded-For, by uvicorn)
        route = path.split("/gradio_api/", 1)[1] if "/gradio_api/" in path else None
        if (route or "").startswith("dev/") or (route or "").rstrip("/") == "deep_link" or \
                path.rstrip("/") == "/monitoring" or path.startswith("/monitoring/"):
            raise Refusal(404, "This app has no such page.")
        if route is not None and method in ("GET", "HEAD"):
            if re.match(r"(file=|file/|proxy=)", route) and "://" in route:
                raise Refusal(403, "This app serves its own files, not addresses.")
            if re.match(r"(file=|file/)", route):
                scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", ())
                                              if k.lower() not in (b"range", b"if-range")]}
            if self.calls is not None:
                from urllib.parse import parse_qsl

                self.calls.stream(route, parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        limit = body_limit(path) if method == "POST" else None
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        if method == "POST" and route is not None and route.strip("/") == "upload":
            size = int(declared) if declared is not None and declared.isdigit() else MAX_UPLOAD_BYTES
            self.uploads.charge(client, size)
        if limit is None:
            return await self.app(scope, receive, self.rewrite(send, method))
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise Refusal(413, too_large(limit))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > limit:
                raise Refusal(413, too_large(limit))
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, sent, joining = b"".join(chunks), False, None
        if limit == MAX_JSON_BYTES and route is not None and route.split("/")[0] not in ("upload",):
            call = parse(body or b"null")
            if names_an_address(call):
                raise Refusal(400, "Files are sent to this app as uploads, not as addresses for it to fetch.")
            if self.calls is not None:
                self.calls.call(route, call)
                if self.calls.enqueues(route):
                    joining = self.waiting_place(client)
        elif route is not None and route.strip("/") == "component_server" and self.calls is not None and \
                headers.get(b"content-type", b"").startswith(b"application/json"):
            # as JSON; the sketch's blobs come as a form, whose fields accept_blobs checks itself
            self.calls.component(parse(body or b"null"))

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            return await self.app(scope, replay, self.rewrite(send, method))
        finally:
            if joining is not None:
                self.left(joining)

    def waiting_place(self, client):
        """A place in the queue for one more event of `client` (an address), held until left(client) (the join
        is answered, its event in the queue by then) -> client; Refusal (429) when it has MAX_WAITING_PER_CLIENT
        events waiting already. Its joins still on their way count as waiting: a hundred sent at once would all
        pass a count of the queue alone, before the first of them is in it."""
        queue = getattr(self.demo, "_queue", None)
        queued = 0 if queue is None else sum(
            1 for events in list(queue.event_queue_per_concurrency_id.values()) for event in list(events.queue)
            if getattr(getattr(event.request, "client", None), "host", None) == client)
        waiting = queued + self.joining[client]
        if waiting >= MAX_WAITING_PER_CLIENT:
            raise Refusal(429, f"{waiting} requests from your network are waiting already; try again when they are "
                               "answered.")
        self.joining[client] += 1
        return client

    def left(self, client):
        """A join of `client` is answered: its event is in the queue (or refused), counted there from now."""
        self.joining[client] -= 1
        if not self.joining[client]:
            del self.joining[client]

    @staticmethod
    def rewrite(send, method):
        """`send`, with an error answer of gradio's (status 400 or more) replaced by GENERIC's sentence: its own
        messages may name a path of the server ("File not allowed: /root/..."). A handler's own sentence (gr.Error)
        is kept: /run/<name> answers it with a 500, made a 400 here (the client's input, not the server, is wrong)."""
        held = {}

        async def wrapped(message):
            if message["type"] == "http.response.start" and message["status"] >= 400 and method != "HEAD":
                held.update(status=message["status"], start=message, chunks=[])
                return
            if message["type"] == "http.response.body" and held:
                held["chunks"].append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status, sentence = held["status"], GENERIC.get(held["status"], "This app cannot answer that request.")
                try:
                    answer = json.loads(b"".join(held["chunks"]))
                    said = answer.get("error")
                except (ValueError, AttributeError):
                    answer = said = None
                if status == 422 and validation(answer):  # the page shows each sentence under its field
                    await send(held["start"])
                    await send({"type": "http.response.body", "body": b"".join(held["chunks"])})
                    return
                if isinstance(said, str) and said and len(said) < 300 and not re.search(r"[/\\]", said):
                    sentence, status = said, 400 if status == 500 else status
                body = json.dumps({"error": sentence, "detail": sentence}).encode()
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)
        return wrapped

    @staticmethod
    async def refuse(send, status, sentence):
        body = json.dumps({"error": sentence, "detail": sentence}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


BodyLimit = Guard  # its first name: the size bound alone
