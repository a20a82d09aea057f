"""Helpers for the agent's end-to-end tests: run one turn, keep every event with its arrival time.

Why a helper: every test needs "send a message, collect the events until Done, fail with a readable list of
what happened". There is no pytest-asyncio here, so each test drives its own event loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.events import (
    Done,
    Error,
    Event,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolStarted,
)

E = TypeVar("E")


@dataclass(frozen=True)
class Seen:
    """One event and when the test received it (time.monotonic, same clock as the stand-in's marks)."""

    at: float
    event: Event


@dataclass(frozen=True)
class Turn:
    """Everything one ``run_turn`` produced."""

    seen: tuple[Seen, ...]
    started_at: float

    @property
    def events(self) -> list[Event]:
        return [s.event for s in self.seen]

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    def first_time(self, cls: type, pred: Callable[[Any], bool] = lambda e: True) -> float | None:
        for s in self.seen:
            if isinstance(s.event, cls) and pred(s.event):
                return s.at
        return None

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.of(TextDelta))

    @property
    def thinking(self) -> str:
        return "".join(e.text for e in self.of(ThinkingDelta))

    @property
    def done(self) -> Done:
        assert self.events and isinstance(self.events[-1], Done), (
            f"the turn must end with a Done event; got:\n{self.describe()}")
        return self.events[-1]  # type: ignore[return-value]

    @property
    def errors(self) -> list[Error]:
        return self.of(Error)

    @property
    def finished(self) -> list[ToolFinished]:
        return self.of(ToolFinished)

    def finished_by_name(self, name: str) -> ToolFinished:
        found = [f for f in self.finished if f.name == name]
        assert found, f"no ToolFinished for {name!r}; events:\n{self.describe()}"
        return found[0]

    def describe(self, limit: int = 80) -> str:
        """A readable list of the events (for assertion messages)."""
        lines = []
        for s in self.seen[:limit]:
            d = s.event.to_dict()
            for k in ("result",):
                if isinstance(d.get(k), dict):
                    r = dict(d[k])
                    r["output"] = _short(r.get("output", ""))
                    r["artifacts"] = [a.get("mime") for a in r.get("artifacts", [])]
                    d[k] = r
            lines.append(f"  +{s.at - self.started_at:6.3f}s {_short(json.dumps(d, default=str), 300)}")
        if len(self.seen) > limit:
            lines.append(f"  ... {len(self.seen) - limit} more events")
        return "\n".join(lines) or "  (no events)"


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 20] + f"...[{len(text)} chars]"


async def collect(session: Any, prompt: str, files: list[Path] | None = None, timeout: float = 90.0,
                  on_event: Callable[[Event], None] | None = None) -> Turn:
    """Run one turn to its end (or fail after ``timeout`` seconds with the events seen so far)."""
    seen: list[Seen] = []
    started = time.monotonic()

    async def consume() -> None:
        kwargs = {"files": files} if files is not None else {}
        async for ev in session.run_turn(prompt, **kwargs):
            seen.append(Seen(time.monotonic(), ev))
            if on_event is not None:
                on_event(ev)

    try:
        await asyncio.wait_for(consume(), timeout)
    except TimeoutError:
        raise AssertionError(f"run_turn did not finish within {timeout}s; events so far:\n"
                             f"{Turn(tuple(seen), started).describe()}") from None
    return Turn(tuple(seen), started)


def make_settings(claude: Any, **changes: Any) -> Any:
    """Settings that reach the stand-in with the fake key and use the local sandbox, whatever .env says."""
    from agent.config import Settings

    base = Settings.from_env().replace(
        anthropic_api_key=claude.api_key,
        anthropic_base_url=claude.base_url,
        sandbox="local",
        e2b_api_key=None,
        e2b_api_url=None,
        e2b_sandbox_url=None,
        e2b_domain=None,
        thinking=True,
    )
    fields = {f for f in base.__dataclass_fields__}
    if "api_max_retries" in fields and "api_max_retries" not in changes:
        changes["api_max_retries"] = 2  # keep retried failures quick
    return base.replace(**changes)


@asynccontextmanager
async def agent_session(settings: Any, provider: Any, tag: str = "test") -> AsyncIterator[Any]:
    """An AgentSession that is always closed (its sandbox killed), even when the test fails."""
    from agent.session import AgentSession

    session = AgentSession(settings, provider, session_tag=tag)
    try:
        yield session
    finally:
        await asyncio.wait_for(session.close(), 30)


def tool_ids(turn: Turn) -> list[str]:
    return [e.id for e in turn.of(ToolStarted)]


__all__ = [
    "Seen", "Turn", "collect", "make_settings", "agent_session", "tool_ids",
    "Done", "Error", "TextDelta", "ThinkingDelta", "ToolFinished", "ToolStarted",
]


def assert_valid_transcript(messages: list[dict[str, Any]]) -> None:
    """The Messages API's shape rules: user first, roles alternate, every tool_use answered next turn.

    Two assistant messages in a row are allowed: that is how a ``pause_turn`` continuation is sent back, and the
    API joins consecutive turns of one role. Two user messages in a row are not (the core merges them itself).
    """
    assert messages, "the transcript is empty"
    assert messages[0]["role"] == "user", f"the transcript must start with a user message: {messages[0]}"
    for a, b in zip(messages, messages[1:], strict=False):
        assert a["role"] != "user" or b["role"] != "user", f"two {a['role']} messages in a row:\n{_short(json.dumps(a), 300)}\n{_short(json.dumps(b), 300)}"
    for i, m in enumerate(messages):
        content = m.get("content")
        blocks = content if isinstance(content, list) else []
        uses = [blk["id"] for blk in blocks if isinstance(blk, dict) and blk.get("type") == "tool_use"]
        if m["role"] == "assistant" and uses:
            assert i + 1 < len(messages), f"the transcript ends with unanswered tool_use blocks {uses}"
            nxt = messages[i + 1].get("content")
            answered = [blk.get("tool_use_id") for blk in (nxt if isinstance(nxt, list) else [])
                        if isinstance(blk, dict) and blk.get("type") == "tool_result"]
            assert sorted(answered) == sorted(uses), f"tool_use {uses} answered by tool_result {answered}"
        if m["role"] == "assistant":
            assert content, f"an empty assistant message is invalid: {m}"


def all_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool_result block in a transcript (or a recorded request's messages)."""
    out = []
    for m in messages:
        content = m.get("content")
        if m.get("role") == "user" and isinstance(content, list):
            out.extend(b for b in content if isinstance(b, dict) and b.get("type") == "tool_result")
    return out


def run(coro: Any) -> Any:
    """Run one test scenario on a fresh event loop."""
    return asyncio.run(coro)


__all__ += ["assert_valid_transcript", "all_tool_results", "run"]
