"""The Claude stand-in's vocabulary: what a test scripts (replies, errors, hangs) and what the server records.

``tests.support.claude_standin`` serves these over HTTP (and re-exports them, so tests import from there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Block", "Hang", "HttpError", "Mark", "RecordedRequest", "Reply", "Responder", "Response", "Text", "Thinking",
    "Tokens", "ToolUse", "forbidden", "http_error", "overloaded", "prompt_too_long", "rate_limited", "result_text",
    "server_error", "text_reply", "tool_reply", "unauthorized", "user_text",
]

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
        return user_text(self.messages[-1]) if self.messages else ""


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


def user_text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
