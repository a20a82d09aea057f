"""Typed events: the one stream the agent loop produces and every consumer (page, CLI, tests) reads.

Every event is a frozen dataclass with a ``type`` tag. ``to_dict()`` gives the JSON shape the CLI's
``--json`` mode prints (one object per line); a tool result carries ``full_output`` (the uncut text) only when
the model got a shortened ``output``. Nothing here imports a UI toolkit.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal


class StopReason(StrEnum):
    """How a turn ended (``Done.stop_reason``). The model's own reasons keep the API's spelling."""

    END_TURN = "end_turn"
    STOP_SEQUENCE = "stop_sequence"
    MAX_TOKENS = "max_tokens"  # the reply was cut off at the output limit
    CONTEXT_FULL = "model_context_window_exceeded"
    REFUSAL = "refusal"
    TOOL_LIMIT = "tool_limit"  # AGENT_MAX_TOOL_STEPS reached
    LIMIT = "limit"  # a guardrail (agent/guardrails.py): the session's or the visitor's budget is used up
    CANCELLED = "cancelled"  # Stop / Ctrl-C
    ERROR = "error"  # the turn failed; Done.message says why

    @classmethod
    def from_api(cls, value: str | None) -> StopReason:
        """The model's final stop reason; one this code does not know counts as a normal end."""
        try:
            return cls(value or "end_turn")
        except ValueError:
            return cls.END_TURN


class ErrorKind(StrEnum):
    """What went wrong (``Error.kind``)."""

    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    SANDBOX = "sandbox"
    CANCELLED = "cancelled"
    LIMIT = "limit"
    BUSY = "busy"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Artifact:
    """A rich output produced by a tool: a PNG chart, an SVG, an HTML table, ...

    ``data`` holds raw bytes for binary formats (png, jpeg) and text for textual ones (svg, html, markdown).
    """

    mime: str
    data: bytes | str
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.data, bytes):
            return {"mime": self.mime, "name": self.name, "base64": base64.b64encode(self.data).decode()}
        return {"mime": self.mime, "name": self.name, "text": self.data}


@dataclass(frozen=True)
class ToolResult:
    """What a tool hands back: text for the model (already cut to size), the uncut text for people, rich artifacts."""

    output: str = ""
    is_error: bool = False
    artifacts: tuple[Artifact, ...] = ()
    full_output: str | None = None  # uncut text when ``output`` was shortened for the model

    @property
    def display_output(self) -> str:
        return self.full_output if self.full_output is not None else self.output


class _Event:
    type: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, (ToolResult, Usage)):
                value = _plain(value)
            elif isinstance(value, StrEnum):
                value = str(value)
            out[f.name] = value
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, ToolResult):
        out = {
            "output": value.output,
            "is_error": value.is_error,
            "artifacts": [a.to_dict() for a in value.artifacts],
        }
        if value.full_output is not None and value.full_output != value.output:
            out["full_output"] = value.full_output  # the uncut text; "output" is what the model got
        return out
    if isinstance(value, Usage):
        return dataclasses.asdict(value)
    return value


@dataclass(frozen=True)
class Usage:
    """Token counts (cumulative for whatever the event covers) and an estimated cost in US dollars."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True)
class TextDelta(_Event):
    type: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True)
class ThinkingDelta(_Event):
    type: ClassVar[str] = "thinking"
    text: str


@dataclass(frozen=True)
class ToolStarted(_Event):
    """The model opened a tool_use block; its input has not arrived yet."""

    type: ClassVar[str] = "tool_started"
    id: str
    name: str


@dataclass(frozen=True)
class ToolInputDelta(_Event):
    """More of the tool's input JSON arrived. ``input`` is the best parse of everything so far.

    ``to_dict()`` leaves ``input`` out: the JSON lines carry only the new fragment (``partial_json``), so a large
    input does not make the output grow quadratically; the complete input comes with ``tool_running``.
    """

    type: ClassVar[str] = "tool_input"
    id: str
    name: str
    partial_json: str
    input: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "name": self.name, "partial_json": self.partial_json}


@dataclass(frozen=True)
class ToolRunning(_Event):
    """The input is complete and the tool is now executing in the sandbox."""

    type: ClassVar[str] = "tool_running"
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolOutput(_Event):
    """A piece of live output (stdout / stderr) from a running tool."""

    type: ClassVar[str] = "tool_output"
    id: str
    name: str
    stream: Literal["stdout", "stderr"]
    text: str


@dataclass(frozen=True)
class ToolFinished(_Event):
    type: ClassVar[str] = "tool_finished"
    id: str
    name: str
    result: ToolResult
    duration: float  # seconds


@dataclass(frozen=True)
class UsageUpdate(_Event):
    """Usage of one model request (``turn``) and of the whole session so far (``session``)."""

    type: ClassVar[str] = "usage"
    turn: Usage
    session: Usage


@dataclass(frozen=True)
class SandboxStatus(_Event):
    """The session's sandbox changed state: waiting (for a free one; ``message`` says the place in line),
    starting, ready, restarted (earlier state lost), closed, failed."""

    type: ClassVar[str] = "sandbox"
    state: Literal["waiting", "starting", "ready", "restarted", "closed", "failed"]
    provider: Literal["local", "e2b"]
    sandbox_id: str = ""
    expires_at: float | None = None  # unix time
    message: str = ""


@dataclass(frozen=True)
class Error(_Event):
    """Something went wrong. ``message`` is plain words for a person (never a traceback, never a key).

    ``final``: the turn ends because of it and the ``Done`` that follows repeats ``message``, so a consumer that
    words the ending from ``Done`` shows this fact once. Retry notices and sandbox trouble the turn survives
    are not final.
    """

    type: ClassVar[str] = "error"
    kind: ErrorKind
    message: str
    retrying: bool = False
    retry_after: float | None = None
    final: bool = False
    detail: str = ""  # for whoever runs the app (settings, status codes): logged; shown only on a local page

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ErrorKind(self.kind))


@dataclass(frozen=True)
class Done(_Event):
    """Always the last event of a turn: why it ended and, when that needs saying, one sentence for a person.

    ``message`` is empty for a normal end; after a failure it repeats the final ``Error``'s message; for a
    cut-off reply or the step limit it says what happened and what to do (``agent.presenter.end_note``).
    """

    type: ClassVar[str] = "done"
    stop_reason: StopReason
    usage: Usage = field(default_factory=Usage)
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_reason", StopReason(self.stop_reason))


Event = (
    TextDelta
    | ThinkingDelta
    | ToolStarted
    | ToolInputDelta
    | ToolRunning
    | ToolOutput
    | ToolFinished
    | UsageUpdate
    | SandboxStatus
    | Error
    | Done
)
