"""``GET /status``: how busy the app is, as JSON, for the operator (and uptime checks).

Counts only — live sessions, live sandboxes, turns running, conversations waiting for a sandbox — nothing that identifies a visitor, a session or a
sandbox, so it is served without a login. Pure ASGI middleware next to the security headers (webui/headers.py),
so it answers before Gradio's routes and streams nothing else.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/status"
_LIVE = ("starting", "ready", "restarted")


def snapshot(registry: Any, started: float) -> dict[str, Any]:
    sessions = sandboxes = running = 0
    conversations = getattr(registry, "conversations", None)  # all held, those of closed tabs in their grace too
    held = conversations() if callable(conversations) else [registry.get(key) for key in list(registry)]
    for session in held:
        if session is None:
            continue
        sessions += 1
        agent = session.agent
        try:
            status = agent.sandbox_status()
        except Exception:
            status = None
        if status is not None and status.state in _LIVE:
            sandboxes += 1
        if getattr(agent, "turn_running", False):
            running += 1
    slots = getattr(registry, "slots", None)
    waiting = slots.waiting() if callable(getattr(slots, "waiting", None)) else 0  # the line (webui/waiting.py)
    return {"sessions": sessions, "sandboxes": sandboxes, "turns_running": running, "waiting": waiting,
            "uptime_s": round(time.monotonic() - started)}


class StatusEndpoint:
    def __init__(self, app: ASGIApp, registry: Any) -> None:
        self.app = app
        self.registry = registry
        self.started = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("path") != PATH or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = json.dumps(snapshot(self.registry, self.started)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


def middleware(registry: Any) -> Any:
    """For ``launch(app_kwargs={"middleware": [...]})``."""
    from starlette.middleware import Middleware

    return Middleware(StatusEndpoint, registry=registry)
