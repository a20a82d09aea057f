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

Where things are: ``claude_script`` (what a test scripts, what is recorded; all re-exported here),
``claude_wire`` (a Reply as streamed events), ``claude_demo`` (the demo responder), this module (the server).
"""

from __future__ import annotations

import argparse
import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import claude_script
from tests.support.claude_demo import demo_responder
from tests.support.claude_script import *  # noqa: F403 (the vocabulary tests script with is imported from here)
from tests.support.claude_script import Hang, HttpError, Mark, RecordedRequest, Reply, Responder, Response
from tests.support.claude_wire import Step, final_message, reply_steps

__all__ = ["ClaudeStandin", "demo_responder", *claude_script.__all__]


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
                    self._json(200, final_message(response, server._next_message_id(), model, server._next_tool_ids()))
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
            head, tail = reply_steps(reply, server._next_message_id(), model, server._next_tool_ids())
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

        def _play(self, step: Step, release: threading.Event) -> None:
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
