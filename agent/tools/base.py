"""What the tools share: sandbox paths, output shaping for the model (cut in the middle), bounded live capture.

Tools never emit lifecycle events themselves (the loop does); they only stream live output through
``ToolContext.output`` (usually via ``OutputCapture``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator

from agent.events import Artifact, ToolResult

if TYPE_CHECKING:
    from agent.tools.registry import ToolContext

HOME = "/home/user"


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# A string argument that must say something (a command, a path, code): empty or only spaces is an input error.
NonBlank = Annotated[str, AfterValidator(not_blank)]


def sandbox_path(path: str) -> str:
    """Relative paths (and ``~``) live under /home/user; the result is normalised and absolute."""
    path = path.strip()
    if path == "~" or path.startswith("~/"):
        path = HOME + path[1:]
    if not path.startswith("/"):
        path = posixpath.join(HOME, path)
    return posixpath.normpath(path)


def cut_middle(text: str, limit: int) -> str:
    """Keep the head and the tail of ``text`` within ``limit`` characters and say how much was cut."""
    if len(text) <= limit:
        return text
    marker_room = 60
    keep = max(limit - marker_room, 0)
    head = keep * 3 // 5
    tail = keep - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n... {cut} characters cut ...\n{text[len(text) - tail:] if tail else ''}"


def make_result(
    text: str, *, is_error: bool = False, artifacts: tuple[Artifact, ...] = (), limit: int
) -> ToolResult:
    """A ToolResult whose ``output`` fits the model's budget; the uncut text is kept for people."""
    short = cut_middle(text, limit)
    return ToolResult(
        output=short,
        is_error=is_error,
        artifacts=artifacts,
        full_output=text if short != text else None,
    )


# People see at most this much of one tool call's live output; more is counted, not kept (nor streamed).
MAX_CAPTURE_CHARS = 1_000_000


class OutputCapture:
    """Streams a tool's output live and keeps it for the result, bounded in memory (an output flood stays cheap)."""

    def __init__(self, ctx: ToolContext, limit: int = MAX_CAPTURE_CHARS) -> None:
        self.ctx = ctx
        self.limit = limit
        self.parts: dict[str, list[str]] = {"stdout": [], "stderr": [], "all": []}
        self.size = 0
        self.dropped = 0

    def sink(self, stream: Literal["stdout", "stderr"]) -> Callable[[str], None]:
        def on_data(text: str) -> None:
            if self.size >= self.limit:
                if self.dropped == 0:
                    self.ctx.output("stderr", "\n[output too large: the rest is not shown]\n")
                self.dropped += len(text)
                return
            self.size += len(text)
            self.parts[stream].append(text)
            self.parts["all"].append(text)
            self.ctx.output(stream, text)

        return on_data

    def _tail_note(self) -> str:
        return f"\n... {self.dropped} more characters of output were not kept ..." if self.dropped else ""

    def text(self) -> str:
        """Everything in arrival order (stdout and stderr interleaved, as a terminal shows them)."""
        return "".join(self.parts["all"]) + self._tail_note()

    def labelled(self) -> str:
        """stdout and stderr in separate labelled sections (for the interpreter's result)."""
        out = []
        for name in ("stdout", "stderr"):
            if self.parts[name]:
                out.append(f"{name}:\n" + "".join(self.parts[name]).rstrip("\n"))
        return "\n".join(out) + self._tail_note()


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """IPython tracebacks are coloured; the model and the page want plain text."""
    return _ANSI.sub("", text)
