"""One streamed assistant message as it is assembled: its content blocks, its tool calls and its usage.

The loop (``agent/loop.py``) feeds stream events into a ``Reply``; ``content()`` is what goes into the
transcript, valid however the stream ended.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import jiter

from agent.events import ToolResult


@dataclass
class ToolCall:
    """One tool_use block of a reply and the task running it."""

    id: str
    name: str
    input: dict[str, Any]
    task: asyncio.Task[ToolResult] | None = None
    result: ToolResult | None = None  # set at once when the call is refused (bad input, limit)
    started_at: float | None = None  # time.monotonic() when its task started

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at


@dataclass
class Block:
    type: str
    text: str = ""  # text or thinking
    signature: str = ""
    data: str = ""  # redacted_thinking
    id: str = ""
    name: str = ""
    json: str = ""
    partial_input: dict[str, Any] = field(default_factory=dict)  # also the input given at block start, if any
    parsed_len: int = 0  # length of ``json`` when ``partial_input`` was last parsed
    complete: bool = False


@dataclass
class Reply:
    """One streamed assistant message as it is assembled."""

    blocks: dict[int, Block] = field(default_factory=dict)
    calls: list[ToolCall] = field(default_factory=list)
    stop_reason: str | None = None
    finished: bool = False  # message_stop seen
    emitted: bool = False  # anything of this reply reached the consumer
    opened: bool = False  # the HTTP response started (a transport error now means a dropped reply)
    limit_hit: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def content(self) -> list[dict[str, Any]]:
        """The blocks worth keeping in the transcript, in order (partial text yes; unfinished tool_use no)."""
        calls = {c.id: c for c in self.calls}
        out: list[dict[str, Any]] = []
        for _, b in sorted(self.blocks.items()):
            if b.type == "text" and b.text.strip():  # the API refuses whitespace-only text blocks
                out.append({"type": "text", "text": b.text})
            elif b.type == "thinking" and b.complete and b.signature:
                out.append({"type": "thinking", "thinking": b.text, "signature": b.signature})
            elif b.type == "redacted_thinking" and b.data:
                out.append({"type": "redacted_thinking", "data": b.data})
            elif b.type == "tool_use" and b.id in calls:
                out.append({"type": "tool_use", "id": b.id, "name": b.name, "input": calls[b.id].input})
        return out


def parse_partial(text: str, previous: dict[str, Any]) -> dict[str, Any]:
    """Best parse of an unfinished JSON object (unterminated strings kept), else the previous parse."""
    try:
        value = jiter.from_json(text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return previous
    return value if isinstance(value, dict) else previous
