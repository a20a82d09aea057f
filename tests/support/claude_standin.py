"""A scripted stand-in for the Anthropic Messages API, reached by the unmodified ``anthropic`` SDK.

Why: Anthropic's cloud is unreachable here, and mocking the SDK would test nothing real. This is a real HTTP
server on 127.0.0.1 that speaks the streaming wire format (``POST /v1/messages``, ``text/event-stream``,
chunked, flushed event by event), so the SDK's own parsing, retries and error mapping all run for real.

A test scripts replies in order (``push``); each reply is a streamed message (:class:`Reply`), an HTTP error
(:class:`HttpError`) or a hang (:class:`Hang`). When the queue is empty an optional *responder* (a callable
that sees the request) decides the reply; :func:`demo_responder` is a canned conversation that exercises every
tool, for the page and hand-run demos::

    python -m tests.support.claude_standin --port 8765
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=test python -m agent "draw a chart"

Every request body is recorded (``requests``) and the server notes when streams ended or clients went away
(``marks``), so tests can assert what the agent actually sent back and when.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

# --------------------------------------------------------------------------------------------------
# What a test can script
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """Usage numbers reported for one streamed message (message_start carries input/cache, delta the output)."""

    input: int = 25
    output: int = 12
    cache_write: int = 0
    cache_read: int = 0


@dataclass(frozen=True)
class Text:
    """A text block, streamed as ``chunks`` text_delta events with ``delay`` seconds between them."""

    text: str
    chunks: int = 1
    delay: float = 0.0
    pause: float = 0.0  # seconds to wait before the block starts


@dataclass(frozen=True)
class Thinking:
    """A thinking block: thinking deltas then one signature delta (the agent must send both back unchanged)."""

    text: str
    signature: str = "sig-standin-0001"
    chunks: int = 1
    delay: float = 0.0
    pause: float = 0.0


@dataclass(frozen=True)
class ToolUse:
    """A tool_use block whose input JSON arrives as input_json_delta fragments.

    The JSON text is ``raw_json`` if given, else ``json.dumps(input, ensure_ascii=ascii)``. It is cut at the
    positions in ``cuts`` if given, else into pieces of ``chunk`` characters (``chunk=1`` cuts everywhere:
    mid-key, mid-escape ``\\"``/``\\n``/``\\u00e9``). ``delay`` is the pause between fragments.
    """

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # default: a fresh "toolu_standin_N"
    chunk: int = 0  # 0: one fragment holding the whole JSON
    cuts: Sequence[int] = ()
    delay: float = 0.0
    pause: float = 0.0
    raw_json: str | None = None
    ascii: bool = False
    no_delta: bool = False  # send no input_json_delta at all (how an empty input may arrive)

    def json_text(self) -> str:
        if self.raw_json is not None:
            return self.raw_json
        return json.dumps(self.input, ensure_ascii=self.ascii)


Block = Text | Thinking | ToolUse

End = Literal["complete", "error", "drop", "drop_dirty", "hang"]


@dataclass(frozen=True)
class Reply:
    """One streamed message.

    ``end`` says how the stream finishes:
      - "complete": content_block_stop, message_delta (stop_reason), message_stop, as the real API does;
      - "error": an ``event: error`` (``error_type``, default overloaded_error) right after the last block's
        deltas, before its content_block_stop, as the API does when it fails mid-stream;
      - "drop": the HTTP response ends cleanly (last chunk sent) without message_stop — the SDK does NOT raise;
      - "drop_dirty": the socket is closed mid-body (no terminating chunk) — the SDK sees a broken read;
      - "hang": after the blocks, nothing more is sent until the client goes away (or ``hang_s`` pass).
    ``stop_reason`` defaults to "tool_use" when a ToolUse block is present, else "end_turn".
    """

    blocks: tuple[Block, ...]
    stop_reason: str | None = None
    usage: Tokens = Tokens()
    end: End = "complete"
    error_type: str = "overloaded_error"
    pause_before_end: float = 0.0  # seconds after the last block before message_delta/stop (tools can start)
    hang_s: float = 60.0

    @property
    def final_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if any(isinstance(b, ToolUse) for b in self.blocks) else "end_turn"


@dataclass(frozen=True)
class HttpError:
    """An HTTP error response with the API's JSON error body. ``repeat`` > 1 answers that many requests."""

    status: int
    error_type: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    repeat: int = 1


@dataclass(frozen=True)
class Hang:
    """Accept the request and send nothing (no headers) until the client gives up or ``seconds`` pass."""

    seconds: float = 60.0


Response = Reply | HttpError | Hang


# --- small builders, so tests read like the conversation they script ------------------------------


def text_reply(text: str, chunks: int = 1, delay: float = 0.0, usage: Tokens = Tokens(), **kw: Any) -> Reply:
    """A plain text answer (stop_reason end_turn)."""
    return Reply((Text(text, chunks=chunks, delay=delay),), usage=usage, **kw)


def tool_reply(*calls: ToolUse, text: str = "", thinking: Thinking | None = None, **kw: Any) -> Reply:
    """An assistant message calling one or more tools (optionally after thinking and a line of text)."""
    blocks: list[Block] = []
    if thinking is not None:
        blocks.append(thinking)
    if text:
        blocks.append(Text(text))
    blocks.extend(calls)
    return Reply(tuple(blocks), **kw)


def http_error(status: int, error_type: str, message: str, retry_after: float | None = None, repeat: int = 1) -> HttpError:
    headers: tuple[tuple[str, str], ...] = ()
    if retry_after is not None:
        headers = (("retry-after", _num(retry_after)),)
    return HttpError(status, error_type, message, headers, repeat)


def rate_limited(retry_after: float = 1, repeat: int = 1) -> HttpError:
    return http_error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit.", retry_after, repeat)


def overloaded(repeat: int = 1) -> HttpError:
    return http_error(529, "overloaded_error", "Overloaded", repeat=repeat)


def server_error(repeat: int = 1) -> HttpError:
    return http_error(500, "api_error", "Internal server error", repeat=repeat)


def unauthorized() -> HttpError:
    return http_error(401, "authentication_error", "invalid x-api-key")


def forbidden() -> HttpError:
    return http_error(403, "permission_error", "Your API key does not have permission to use the specified resource.")


def prompt_too_long() -> HttpError:
    return http_error(400, "invalid_request_error", "prompt is too long: 212345 tokens > 200000 maximum")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --------------------------------------------------------------------------------------------------
# What the server records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: its path, headers (lower-case names) and parsed JSON body."""

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float  # time.monotonic()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def api_key(self) -> str | None:
        """The key the client sent (this SDK sends ``Authorization: Bearer``; older ones ``x-api-key``)."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        return self.headers.get("x-api-key")

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last user message (what the agent answered the tool calls with)."""
        if not self.messages or self.messages[-1].get("role") != "user":
            return []
        content = self.messages[-1].get("content")
        if not isinstance(content, list):
            return []
        return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]

    def last_user_text(self) -> str:
        """All text the person (or the agent on their behalf) wrote in the last user message."""
        return _user_text(self.messages[-1]) if self.messages else ""


@dataclass(frozen=True)
class Mark:
    """A moment in a response's life: "first_event", "message_stop", "ended", "client_gone", "dropped"."""

    at: float  # time.monotonic()
    request: int
    label: str


Responder = Callable[[RecordedRequest], Response]


def result_text(block: dict[str, Any]) -> str:
    """The text inside a tool_result block (its content may be a string or a list of blocks)."""
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text")


def _user_text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


# --------------------------------------------------------------------------------------------------
# Turning a Reply into the wire events
# --------------------------------------------------------------------------------------------------

_Step = tuple[Literal["event"], str, dict[str, Any]] | tuple[Literal["sleep"], float]


def _split(text: str, chunks: int) -> list[str]:
    chunks = max(1, min(chunks, len(text) or 1))
    size, extra = divmod(len(text), chunks)
    out, pos = [], 0
    for i in range(chunks):
        n = size + (1 if i < extra else 0)
        out.append(text[pos : pos + n])
        pos += n
    return out


def _cut(text: str, chunk: int, cuts: Sequence[int]) -> list[str]:
    if cuts:
        edges = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
        return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    if chunk > 0:
        return [text[i : i + chunk] for i in range(0, len(text), chunk)] or [""]
    return [text]


def _steps(reply: Reply, message_id: str, model: str, ids: Iterator[int]) -> tuple[list[_Step], list[_Step]]:
    """The body events split in two: everything up to the end of the last block's deltas, and the close.

    The split point is where "error"/"drop"/"hang" endings cut the stream (mid-block, like a real failure).
    """
    u = reply.usage
    head: list[_Step] = [
        ("event", "message_start", {
            "type": "message_start",
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": u.input, "output_tokens": 1,
                          "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read},
            },
        }),
        ("event", "ping", {"type": "ping"}),
    ]
    tail: list[_Step] = []
    for i, block in enumerate(reply.blocks):
        # every block's start and deltas go in the head; the last block's stop goes to the tail
        if block.pause:
            head.append(("sleep", block.pause))
        if isinstance(block, Text):
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "text", "text": ""}}))
            for j, piece in enumerate(_split(block.text, block.chunks)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "text_delta", "text": piece}}))
        elif isinstance(block, Thinking):
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for j, piece in enumerate(_split(block.text, block.chunks)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "thinking_delta", "thinking": piece}}))
            head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                          "delta": {"type": "signature_delta", "signature": block.signature}}))
        else:
            tool_id = block.id or f"toolu_standin_{next(ids):04d}"
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "tool_use", "id": tool_id,
                                                                            "name": block.name, "input": {}}}))
            for j, piece in enumerate([] if block.no_delta else _cut(block.json_text(), block.chunk, block.cuts)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "input_json_delta", "partial_json": piece}}))
        stop = ("event", "content_block_stop", {"type": "content_block_stop", "index": i})
        if i < len(reply.blocks) - 1:
            head.append(stop)
        else:
            tail.append(stop)
    if reply.pause_before_end:
        tail.append(("sleep", reply.pause_before_end))
    tail.append(("event", "message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": reply.final_stop_reason, "stop_sequence": None},
                                            "usage": {"output_tokens": u.output}}))
    tail.append(("event", "message_stop", {"type": "message_stop"}))
    return head, tail


def _final_message(reply: Reply, message_id: str, model: str, ids: Iterator[int]) -> dict[str, Any]:
    """The same reply as one non-streamed Message (for ``stream: false`` requests)."""
    content: list[dict[str, Any]] = []
    for block in reply.blocks:
        if isinstance(block, Text):
            content.append({"type": "text", "text": block.text})
        elif isinstance(block, Thinking):
            content.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
        else:
            content.append({"type": "tool_use", "id": block.id or f"toolu_standin_{next(ids):04d}",
                            "name": block.name, "input": json.loads(block.json_text() or "{}")})
    u = reply.usage
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reply.final_stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": u.input, "output_tokens": u.output,
                      "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read}}


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class ClaudeStandin:
    """A threaded HTTP server on 127.0.0.1 serving scripted replies in order. Start with :meth:`start`.

    One instance can be shared by many tests: :meth:`reset` clears the script, the records and the responder,
    and releases any reply still hanging.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, responder: Responder | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Response] = deque()
        self._requests: list[RecordedRequest] = []
        self._marks: list[Mark] = []
        self._responder = responder
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._messages = itertools.count(1)
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> ClaudeStandin:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="claude-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ClaudeStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting -----------------------------------------------------------------------------
    def push(self, *responses: Response) -> None:
        """Queue replies; each request takes the next one (an HttpError with repeat=N answers N requests)."""
        with self._lock:
            self._queue.extend(responses)

    def respond_with(self, responder: Responder | None) -> None:
        """Decide replies with a callable once the queue is empty (None: answer 'nothing scripted')."""
        with self._lock:
            self._responder = responder

    def reset(self) -> None:
        """Forget the script, the records and the responder; end any hanging reply."""
        self._release.set()
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._marks.clear()
            self._responder = None
            self._release = threading.Event()

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return sum(r.repeat if isinstance(r, HttpError) else 1 for r in self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def marks(self) -> list[Mark]:
        with self._lock:
            return list(self._marks)

    def mark_times(self, label: str, request: int | None = None) -> list[float]:
        return [m.at for m in self.marks if m.label == label and (request is None or m.request == request)]

    def wait_for(self, label: str, request: int | None = None, timeout: float = 10.0) -> bool:
        """Wait until a mark (e.g. "client_gone" for request 0) has been recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.mark_times(label, request):
                return True
            time.sleep(0.02)
        return False

    # --- used by the handler -------------------------------------------------------------------
    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[RecordedRequest, Response, threading.Event]:
        with self._lock:
            req = RecordedRequest(len(self._requests), path, headers, body, time.monotonic())
            self._requests.append(req)
            release = self._release
            if self._queue:
                head = self._queue[0]
                if isinstance(head, HttpError) and head.repeat > 1:
                    self._queue[0] = HttpError(head.status, head.error_type, head.message, head.headers, head.repeat - 1)
                else:
                    self._queue.popleft()
                return req, head, release
            responder = self._responder
        if responder is not None:
            try:
                return req, responder(req), release
            except Exception as exc:  # a broken responder must show up as a clear failure, not a hang
                return req, HttpError(500, "api_error", f"stand-in responder failed: {exc!r}", (("x-should-retry", "false"),)), release
        return req, HttpError(400, "invalid_request_error",
                              f"claude stand-in: no scripted reply left for request #{req.index}",
                              (("x-should-retry", "false"),)), release

    def _mark(self, request: int, label: str) -> None:
        with self._lock:
            self._marks.append(Mark(time.monotonic(), request, label))

    def _next_tool_ids(self) -> Iterator[int]:
        return self._ids

    def _next_message_id(self) -> str:
        return f"msg_standin_{next(self._messages):04d}"


class _ClientGone(Exception):
    pass


def _make_handler(server: ClaudeStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like the real API
        server_version = "claude-standin"

        def setup(self) -> None:
            super().setup()
            # Small SSE writes must leave at once (Nagle + delayed ACK would add ~40 ms per event).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read records, not logs
            pass

        def do_GET(self) -> None:
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path != "/v1/messages":
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": f"no route {path}"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "body is not JSON"}})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not headers.get("x-api-key") and not headers.get("authorization"):
                self._json(401, {"type": "error", "error": {"type": "authentication_error",
                                                            "message": "x-api-key header is required"}})
                return
            req, response, release = server._record(path, headers, body)
            model = str(body.get("model", "claude-standin"))
            try:
                if isinstance(response, HttpError):
                    self._json(response.status, {"type": "error", "error": {"type": response.error_type,
                                                                            "message": response.message}},
                               response.headers)
                elif isinstance(response, Hang):
                    self._hang(req.index, response.seconds, release)
                    self.close_connection = True
                elif not body.get("stream"):
                    self._json(200, _final_message(response, server._next_message_id(), model, server._next_tool_ids()))
                else:
                    self._stream(req.index, response, model, release)
            except (_ClientGone, BrokenPipeError, ConnectionResetError, OSError):
                server._mark(req.index, "client_gone")
                self.close_connection = True

        # --- responses ---------------------------------------------------------------------------
        def _json(self, status: int, payload: dict[str, Any], extra: Sequence[tuple[str, str]] = ()) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_standin_{time.monotonic_ns()}")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, index: int, reply: Reply, model: str, release: threading.Event) -> None:
            head, tail = _steps(reply, server._next_message_id(), model, server._next_tool_ids())
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", f"req_standin_{time.monotonic_ns()}")
            if reply.end != "complete":
                # this connection will be closed after the body: say so, or the client may reuse it and race
                self.send_header("connection", "close")
            self.end_headers()
            first = True
            for step in head:
                self._play(step, release)
                if first and step[0] == "event":
                    server._mark(index, "first_event")
                    first = False
            if reply.end == "complete":
                for step in tail:
                    self._play(step, release)
                server._mark(index, "message_stop")
                self._chunk(b"")
            elif reply.end == "error":
                self._event("error", {"type": "error", "error": {"type": reply.error_type, "message": "Overloaded"
                                                                 if reply.error_type == "overloaded_error" else reply.error_type}})
                self._chunk(b"")
                self.close_connection = True
            elif reply.end == "drop":
                self._chunk(b"")  # a clean end of the HTTP body with no message_stop
                self.close_connection = True
                server._mark(index, "dropped")
            elif reply.end == "drop_dirty":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                server._mark(index, "dropped")
            else:  # hang
                self._hang(index, reply.hang_s, release)
                self.close_connection = True
            server._mark(index, "ended")

        def _play(self, step: _Step, release: threading.Event) -> None:
            if step[0] == "sleep":
                self._sleep(step[1], release)
            else:
                self._event(step[1], step[2])

        def _event(self, name: str, data: dict[str, Any]) -> None:
            self._chunk(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _sleep(self, seconds: float, release: threading.Event) -> None:
            """Sleep, but notice a client that went away (so cancel is visible as a "client_gone" mark)."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if release.wait(min(left, 0.02)):
                    raise _ClientGone("released by reset")
                if self._client_closed():
                    raise _ClientGone("client closed the connection")

        def _hang(self, index: int, seconds: float, release: threading.Event) -> None:
            server._mark(index, "hanging")
            self._sleep(seconds, release)

        def _client_closed(self) -> bool:
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except (OSError, ValueError):
                return True

    return Handler


# --------------------------------------------------------------------------------------------------
# The demo responder: a canned conversation exercising every tool (for the page and hand-run demos)
# --------------------------------------------------------------------------------------------------

_CHART_CODE = """import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 4 * np.pi, 200)
plt.figure(figsize=(6, 3))
plt.plot(x, np.sin(x), label="sin(x)")
plt.plot(x, np.cos(x), label="cos(x)")
plt.legend()
plt.title("Waves")
plt.show()
print("drew", len(x), "points")
"""

_TABLE_CODE = """import pandas as pd
df = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp_c": [4.5, 19.0, 31.2]})
df
"""

_SCRIPT = 'import sys\nprint("hello from", sys.version.split()[0])\nprint("sum of 1..100 =", sum(range(101)))\n'

# The page's first example ("Create a React counter app ..."): one self-contained page, no CDN and no npm, so the
# key-less demo works offline. A tiny React-like pattern: state, a render function, event handlers.
_COUNTER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Counter</title>
<style>
  body { font-family: system-ui, sans-serif; display: grid; place-items: center; min-height: 90vh; margin: 0; }
  .counter { text-align: center; }
  .count { font-size: 4rem; margin: 0.5rem 0; }
  button { font-size: 1.5rem; width: 3rem; margin: 0 0.5rem; cursor: pointer; }
</style>
</head>
<body>
<div id="root"></div>
<script>
// A counter component in the React style (state -> render), written in plain JavaScript.
function useState(initial, render) {
  let value = initial;
  return [() => value, (next) => { value = next; render(); }];
}

function Counter(root) {
  const [count, setCount] = useState(0, () => render());
  function render() {
    root.innerHTML = "";
    const box = document.createElement("div");
    box.className = "counter";
    const title = document.createElement("h1");
    title.textContent = "Counter";
    const shown = document.createElement("p");
    shown.className = "count";
    shown.id = "count";
    shown.textContent = String(count());
    const minus = document.createElement("button");
    minus.id = "decrement";
    minus.textContent = "−";
    minus.setAttribute("aria-label", "decrement");
    minus.onclick = () => setCount(count() - 1);
    const plus = document.createElement("button");
    plus.id = "increment";
    plus.textContent = "+";
    plus.setAttribute("aria-label", "increment");
    plus.onclick = () => setCount(count() + 1);
    box.append(title, shown, minus, plus);
    root.append(box);
  }
  render();
}

Counter(document.getElementById("root"));
</script>
</body>
</html>
"""


def _plan(prompt: str) -> list[list[ToolUse]]:
    """Which tool calls to make, step by step, for a prompt (keywords pick a small scenario)."""
    p = prompt.lower()
    if any(w in p for w in ("hello", "hi ", "text only", "just talk")) and "file" not in p:
        return []
    if "markdown" in p:
        return []
    if "react" in p or "counter" in p:
        return [[ToolUse("write_file", {"path": "counter-app/index.html", "content": _COUNTER_PAGE})],
                [ToolUse("run_command", {"command": "python3 -m http.server 8000", "cwd": "counter-app",
                                         "background": True})]]
    if any(w in p for w in ("chart", "plot", "graph")):
        return [[ToolUse("execute_code", {"code": _CHART_CODE, "language": "python"}, chunk=12, delay=0.01)]]
    if "table" in p:
        return [[ToolUse("execute_code", {"code": _TABLE_CODE, "language": "python"}, chunk=12, delay=0.01)]]
    if "parallel" in p or "sleep" in p:
        return [[ToolUse("run_command", {"command": f"sleep 1 && echo done {i}"}) for i in (1, 2, 3)]]
    if "slow" in p or "long" in p:
        return [[ToolUse("run_command", {"command": "for i in $(seq 1 10); do echo tick $i; sleep 1; done"})]]
    if "fail" in p or "error" in p:
        return [[ToolUse("run_command", {"command": "echo about to fail >&2; exit 3"})]]
    if "server" in p or "preview" in p:
        return [[ToolUse("run_command", {"command": "mkdir -p site && echo '<h1>Hello from the sandbox</h1>' > site/index.html && "
                                                    "(nohup python -m http.server 8000 --directory site >/tmp/http.log 2>&1 &) && sleep 0.5 && echo serving on 8000"})]]
    if "file" in p:
        return [[ToolUse("write_file", {"path": "notes/hello.txt", "content": "Hello, sandbox!\nLine two: é ✓\n"})],
                [ToolUse("read_file", {"path": "notes/hello.txt"})]]
    if "list" in p:
        return [[ToolUse("list_files", {"path": "."})]]
    if any(w in p for w in ("command", "shell", "bash")):
        return [[ToolUse("run_command", {"command": "echo hi from $(whoami); uname -s; ls -la"})]]
    # default: a tour of every tool
    return [
        [ToolUse("execute_code", {"code": _CHART_CODE, "language": "python"}, chunk=12, delay=0.01)],
        [ToolUse("write_file", {"path": "hello.py", "content": _SCRIPT})],
        [ToolUse("run_command", {"command": "python hello.py"}), ToolUse("read_file", {"path": "hello.py"})],
        [ToolUse("list_files", {"path": "."})],
    ]


_STEP_LINES = {
    "execute_code": "Let me run some Python for that.",
    "write_file": "I'll write the file first.",
    "read_file": "Now let me read it back.",
    "run_command": "Running it in the shell.",
    "list_files": "Let me look at the workspace.",
}

_MARKDOWN = """Here is some **markdown**:

| language | typing |
|---|---|
| Python | dynamic |
| Rust | static |

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```
"""


def demo_responder(req: RecordedRequest) -> Response:
    """A canned agent: picks a scenario from the person's last message, calls tools step by step, then sums up.

    The step is the number of assistant messages since the person's last text message, so the conversation
    works with any agent that sends back the transcript (as the Messages API requires).
    """
    messages = req.messages
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user" and _user_text(m).strip()), default=0)
    prompt = _user_text(messages[start]) if messages else ""
    step = sum(1 for m in messages[start:] if m.get("role") == "assistant")
    plan = _plan(prompt)
    thinking = req.body.get("thinking") not in (None, {"type": "disabled"})
    usage = Tokens(input=180 + 40 * len(messages), output=60, cache_write=1200 if step == 0 else 0,
                   cache_read=0 if step == 0 else 1200)
    blocks: list[Block] = []
    if thinking:
        blocks.append(Thinking(f"The user asked: {prompt[:60]!r}. Step {step + 1} of {len(plan) + 1}.",
                               signature=f"sig-demo-{step}", chunks=4, delay=0.02))
    if step < len(plan):
        calls = plan[step]
        blocks.append(Text(_STEP_LINES.get(calls[0].name, "Working on it."), chunks=3, delay=0.02))
        blocks.extend(calls)
        return Reply(tuple(blocks), usage=usage)
    if "markdown" in prompt.lower():
        summary = _MARKDOWN
    elif plan and plan[0][0].input.get("path") == "counter-app/index.html":
        summary = ("The counter app is running: `counter-app/index.html` is served by `python3 -m http.server "
                   "8000`. Open it in the **Preview** (port 8000) and click + and − to change the count.")
    elif not plan:
        summary = f"Hello! I'm the stand-in for Claude. You said: {prompt[:200]}"
    else:
        seen = [result_text(b) for m in messages if m.get("role") == "user" for b in (m.get("content") or [])
                if isinstance(b, dict) and b.get("type") == "tool_result"]
        # what the tool printed, without the agent's note to the model about what the person was shown
        last = re.sub(r"(?m)^\[displayed to the user[^\]\n]*\]\n?", "", seen[-1]).strip() if seen else ""
        summary = f"Done — I used {sum(len(s) for s in plan)} tool call(s)."
        if last:
            summary += f" The last result began with:\n\n```\n{last[:300]}\n```"
    words = summary.split(" ")
    blocks.append(Text(summary, chunks=max(1, len(words) // 2), delay=0.02))
    return Reply(tuple(blocks), usage=usage)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve the Claude stand-in with the demo responder.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)
    server = ClaudeStandin(args.host, args.port, responder=demo_responder).start()
    print(f"Claude stand-in listening on {server.base_url} "
          f"(try: ANTHROPIC_BASE_URL={server.base_url} ANTHROPIC_API_KEY=test python -m agent \"draw a chart\")",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
