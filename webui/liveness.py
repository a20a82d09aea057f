"""Which Gradio sessions have a live browser behind them: an open heartbeat stream.

A browser page (and gradio_client) keeps ``GET /gradio_api/heartbeat/{session_hash}`` open for as long as it is
there; a script calling ``/gradio_api/queue/join`` itself never opens one, so Gradio never runs ``unload`` for it.
Gradio keeps no record of open heartbeats, so a small ASGI middleware counts them: a stream counts as live from
its request until its response ends (the browser went away or the server stops).
"""

from __future__ import annotations

import re
import threading
from typing import Any

_HEARTBEAT = re.compile(r"/heartbeat/([^/?#]+)/?$")


class Heartbeats:
    """Open heartbeat streams per session hash (thread-safe)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def opened(self, session_hash: str) -> None:
        with self._lock:
            self._open[session_hash] = self._open.get(session_hash, 0) + 1

    def closed(self, session_hash: str) -> None:
        with self._lock:
            left = self._open.get(session_hash, 0) - 1
            if left > 0:
                self._open[session_hash] = left
            else:
                self._open.pop(session_hash, None)

    def is_live(self, session_hash: str | None) -> bool:
        if not session_hash:
            return False
        with self._lock:
            return session_hash in self._open

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)


class HeartbeatWatch:
    """ASGI middleware: records each heartbeat stream in ``heartbeats`` while it is open."""

    def __init__(self, app: Any, heartbeats: Heartbeats) -> None:
        self.app = app
        self.heartbeats = heartbeats

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = _HEARTBEAT.search(scope.get("path", "")) if scope.get("type") == "http" else None
        if match is None or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        session_hash = match.group(1)
        self.heartbeats.opened(session_hash)
        try:
            await self.app(scope, receive, send)
        finally:
            self.heartbeats.closed(session_hash)


def heartbeat_middleware(heartbeats: Heartbeats) -> Any:
    """For ``launch(app_kwargs={"middleware": [...]})``."""
    from starlette.middleware import Middleware

    return Middleware(HeartbeatWatch, heartbeats=heartbeats)
