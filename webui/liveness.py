"""Which Gradio sessions have a live browser behind them: an open heartbeat stream.

A browser page (and gradio_client) keeps ``GET /gradio_api/heartbeat/{session_hash}`` open for as long as it is
there; a script calling ``/gradio_api/queue/join`` itself never opens one, so Gradio never runs ``unload`` for it.
Gradio keeps no record of open heartbeats, so a small ASGI middleware counts them: a stream counts as live from
its request until its response ends (the browser went away or the server stops).

Gradio also keeps per-session values (``state_holder``: a copy of the page's component values, about 0.1 MB) for
every session id any request names, and lets them go only when a browser's session closes, or past 10,000
sessions. A script naming a fresh made-up id on each call grew the app by 0.1 MB per call, for good (1,000 ids:
+100 MB). ``forget_scripted_state`` drops those of ids that never had a browser, once unused for the no-browser
timeout (the app's lifespan runs it, ``webui/lifecycle.py``).
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from collections.abc import Callable
from typing import Any

REMEMBER_BROWSERS_S = 2 * 3600.0  # a page load that had a browser is known as one this long after it left

_HEARTBEAT = re.compile(r"/heartbeat/([^/?#]+)/?$")


class Heartbeats:
    """Open heartbeat streams per session hash (thread-safe)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._had: dict[str, float] = {}  # page loads that had a browser: when their last stream began or ended
        self._lock = threading.Lock()

    def opened(self, session_hash: str) -> None:
        with self._lock:
            self._open[session_hash] = self._open.get(session_hash, 0) + 1
            self._had[session_hash] = time.monotonic()

    def closed(self, session_hash: str) -> None:
        with self._lock:
            left = self._open.get(session_hash, 0) - 1
            if left > 0:
                self._open[session_hash] = left
            else:
                self._open.pop(session_hash, None)
            self._had[session_hash] = time.monotonic()

    def had_browser(self, session_hash: str) -> bool:
        """Whether page load ``session_hash`` has (or recently had) a browser behind it."""
        with self._lock:
            return session_hash in self._open or session_hash in self._had

    def prune(self, older_than_s: float = REMEMBER_BROWSERS_S) -> None:
        cutoff = time.monotonic() - older_than_s
        with self._lock:
            for key in [k for k, at in self._had.items() if at < cutoff and k not in self._open]:
                del self._had[key]

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


def forget_scripted_state(holder: Any, heartbeats: Heartbeats, in_use: Callable[[str], bool], idle_s: float) -> int:
    """Drop Gradio's per-session values (``holder``: a Blocks' ``state_holder``) of session ids that never had a
    browser, are not in use (``in_use``: e.g. a conversation still bound to them) and were last used more than
    ``idle_s`` ago. Returns how many were dropped."""
    heartbeats.prune()
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_s)
    dropped = 0
    with holder.lock:
        for key in list(holder.session_data):
            last = holder.time_last_used.get(key)
            if (last is not None and last > cutoff) or heartbeats.had_browser(key) or in_use(key):
                continue
            holder.session_data.pop(key, None)
            holder.time_last_used.pop(key, None)
            dropped += 1
    return dropped
