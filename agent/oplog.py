"""The operator's view: one JSON log line per session start and end, turn, tool call and refusal.

Lines carry durations, token counts, the estimated cost, the sandbox id and a salted hash of the visitor's
address — never message text, tool input or output, file names, keys or the raw address. They go to the
``agent.operator`` logger (one ``json.dumps`` object per line), so an operator greps or ships them as they are.

A ``SessionLog`` watches the events of a session's turns (``TurnHost.telemetry``: every event of a turn passes
through ``Turn.emit``), so the core needs no logging calls of its own beyond start and end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from typing import Any

from agent.events import Done, Error, ErrorKind, Event, SandboxStatus, ToolFinished, ToolRunning

LOGGER = logging.getLogger("agent.operator")
_REFUSALS = {ErrorKind.LIMIT, ErrorKind.BUSY, ErrorKind.AUTH}


def address_hash(address: str, salt: bytes) -> str:
    """A salted, shortened hash: the same visitor gives the same id in one deployment, and it cannot be reversed
    into the address without the salt (``AGENT_LOG_SALT``; random per process when unset)."""
    if not address:
        return ""
    return hashlib.sha256(salt + address.encode("utf-8", "replace")).hexdigest()[:16]


def process_salt(env: dict[str, str] | None = None) -> bytes:
    source = os.environ if env is None else env
    raw = source.get("AGENT_LOG_SALT", "").strip()
    return raw.encode() if raw else secrets.token_bytes(16)


def write(event: str, **fields: Any) -> None:
    """One JSON line on the operator logger."""
    record = {"event": event, "ts": round(time.time(), 3), **fields}
    LOGGER.info(json.dumps(record, separators=(",", ":"), default=str))


class SessionLog:
    """The lines of one session. ``session`` is an opaque id (never the page's session key), ``client`` the
    address hash."""

    def __init__(self, session: str, client: str = "", provider: str = "") -> None:
        self.session = session
        self.client = client
        self.sandbox = ""
        self.turns = 0
        self.tools = 0
        self._started = time.monotonic()
        self._turn_started: dict[int, float] = {}
        self._turn_tools: dict[int, int] = {}
        write("session_start", session=session, client=client, provider=provider)

    def on_event(self, turn: int, event: Event) -> None:
        """Called for every event of turn ``turn`` as it is emitted."""
        if turn not in self._turn_started:
            self._turn_started[turn] = time.monotonic()
            self._turn_tools[turn] = 0
        if isinstance(event, SandboxStatus) and event.sandbox_id:
            self.sandbox = event.sandbox_id
        elif isinstance(event, ToolRunning):
            self._turn_tools[turn] += 1
        elif isinstance(event, ToolFinished):
            self.tools += 1
            write("tool", session=self.session, client=self.client, sandbox=self.sandbox, tool=event.name,
                  duration_s=round(event.duration, 3), is_error=event.result.is_error)
        elif isinstance(event, Error) and event.final and event.kind in _REFUSALS:
            write("refusal", session=self.session, client=self.client, kind=str(event.kind), where="core")
        elif isinstance(event, Done):
            self._done(turn, event)

    def _done(self, turn: int, done: Done) -> None:
        began = self._turn_started.pop(turn, time.monotonic())
        tools = self._turn_tools.pop(turn, 0)
        self.turns += 1
        u = done.usage
        write("turn", session=self.session, client=self.client, sandbox=self.sandbox, turn=turn,
              stop_reason=str(done.stop_reason), duration_s=round(time.monotonic() - began, 3), tools=tools,
              input_tokens=u.input_tokens, output_tokens=u.output_tokens, cache_read_tokens=u.cache_read_tokens,
              cache_write_tokens=u.cache_write_tokens, cost_usd=round(u.cost_usd, 6))

    def refusal(self, kind: str, where: str = "page") -> None:
        """A request refused before it reached the core (e.g. a message over the size cap)."""
        write("refusal", session=self.session, client=self.client, kind=kind, where=where)

    def ended(self, usage: Any = None, sandbox: str = "") -> None:
        u = usage
        write("session_end", session=self.session, client=self.client, sandbox=sandbox or self.sandbox,
              duration_s=round(time.monotonic() - self._started, 3), turns=self.turns, tools=self.tools,
              input_tokens=getattr(u, "input_tokens", 0), output_tokens=getattr(u, "output_tokens", 0),
              cost_usd=round(getattr(u, "cost_usd", 0.0), 6))


def watcher(log: SessionLog | None, turn: int) -> Any:
    """The per-event callback for one turn (None without a log)."""
    if log is None:
        return None
    return lambda event: log.on_event(turn, event)


__all__ = ["SessionLog", "address_hash", "process_salt", "watcher", "write"]
