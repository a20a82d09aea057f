"""Agent events in, Gradio chat messages out: how one turn looks on the page.

``TurnRenderer`` folds the typed event stream of ``AgentSession.run_turn`` into a list of ``gr.ChatMessage``:
reply text, a collapsible "Thinking" step, one collapsible step per tool call (pending with a spinner while
the input streams in and the tool runs, then done with its duration; failed and stopped calls are marked in
the title), inline artifacts (charts, HTML) and short notes for errors.

Why it is shaped like this: a streaming handler yields the *whole* list for the turn many times a second, so
feeding an event must be O(size of the event) and ``messages()`` must only rebuild the blocks that changed.
Message objects are kept and mutated in place; their text is joined lazily from parts.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import gradio as gr

from agent.events import (
    Artifact,
    Done,
    Error,
    SandboxStatus,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputDelta,
    ToolOutput,
    ToolRunning,
    ToolStarted,
)
from webui.artifacts import sandboxed_html

# Display caps: what the page shows, not what the model sees (the agent cuts the model's copy itself).
MAX_INPUT_CHARS = 12_000
MAX_OUTPUT_CHARS = 12_000
SUMMARY_CHARS = 60

FAILED_MARK = "⚠️"  # has a plain-text glyph in common fonts too, unlike ❌
STOPPED_MARK = "■"
STOPPED_NOTE = f"{STOPPED_MARK} Stopped."

_LANGS = {
    ".py": "python", ".js": "javascript", ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx",
    ".html": "html", ".css": "css", ".json": "json", ".md": "markdown", ".sh": "bash", ".yml": "yaml",
    ".yaml": "yaml", ".toml": "toml", ".sql": "sql", ".rs": "rust", ".go": "go", ".java": "java",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".rb": "ruby", ".txt": "text", ".csv": "text",
}
_BACKTICKS = re.compile(r"`{3,}")


def fence(text: str, lang: str = "") -> str:
    """A Markdown code block that cannot be broken by backticks inside ``text``."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}"


def clip_middle(text: str, limit: int) -> str:
    """Keep the head and tail of long text and say how much was left out."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut:,} characters not shown] …\n{text[-tail:]}"


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Whitespace folded to single spaces and cut to ``limit`` characters (plain text: escape it afterwards)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ASCII_PUNCTUATION = frozenset("!\"#$%'()*+,-./:;=?@[\\]^_`{|}~")


def inert(text: str) -> str:
    """Plain text that reads the same after Gradio's Markdown + HTML rendering of a step title.

    Gradio renders ``metadata["title"]`` as Markdown with HTML allowed, so a command like ``echo '<h1>x</h1>'``
    would become a heading and ``<img src=...>`` a live image. ``<``, ``>`` and ``&`` become entities (a
    backslash would keep ``&lt;`` from being decoded); every other ASCII punctuation mark gets a backslash,
    which CommonMark allows for all of them, so ``*``, ``_``, backticks, ``[]``, ``#``, list markers and
    autolinks stay literal. A zero-width space after each ``$`` keeps ``$$`` from starting LaTeX.
    Escape after cutting text to length, never before, so no entity or escape is cut in half.
    """
    out: list[str] = []
    for ch in text:
        if ch in _HTML_ENTITIES:
            out.append(_HTML_ENTITIES[ch])
        elif ch == "$":
            out.append("\\$\u200b")
        elif ch in _ASCII_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def tool_summary(name: str, tool_input: dict[str, Any]) -> str:
    """The short part of a step title after the tool name: the command, the language, or the path."""
    if name == "run_command":
        return one_line(tool_input.get("command", ""))
    if name == "execute_code":
        return str(tool_input.get("language") or "python") if tool_input.get("code") is not None else ""
    if name in ("write_file", "read_file"):
        return one_line(tool_input.get("path", ""))
    for key in ("command", "path", "query", "url", "name"):
        if isinstance(tool_input.get(key), str):
            return one_line(tool_input[key])
    return ""


def tool_title(name: str, tool_input: dict[str, Any], mark: str = "", suffix: str = "") -> str:
    """The step title, safe to hand to Gradio: the model's text in it is made inert (see ``inert``)."""
    summary = tool_summary(name, tool_input)
    title = inert(f"{name} · {summary}" if summary else name)
    if mark:
        title = f"{mark} {title}"
    return f"{title}{suffix}"


def _lang_for_path(path: str) -> str:
    dot = path.rfind(".")
    return _LANGS.get(path[dot:].lower(), "") if dot >= 0 else ""


def render_tool_input(name: str, tool_input: dict[str, Any]) -> str:
    """The code, command or file the model wrote, as Markdown."""
    if name == "execute_code":
        code = tool_input.get("code")
        return fence(clip_middle(str(code), MAX_INPUT_CHARS), str(tool_input.get("language") or "python")) if code else ""
    if name == "run_command":
        command = tool_input.get("command")
        return fence(f"$ {clip_middle(str(command), MAX_INPUT_CHARS)}", "bash") if command else ""
    if name == "write_file":
        path = str(tool_input.get("path", ""))
        content = tool_input.get("content")
        head = f"`{path}`" if path else ""
        if content is None:
            return head
        return f"{head}\n\n{fence(clip_middle(str(content), MAX_INPUT_CHARS), _lang_for_path(path))}"
    if name == "read_file":
        path = tool_input.get("path")
        return f"`{path}`" if path else ""
    if not tool_input:
        return ""
    return fence(clip_middle(json.dumps(tool_input, indent=2, ensure_ascii=False), MAX_INPUT_CHARS), "json")


class _Block:
    """One chat message of the turn, rebuilt from its parts only when something changed."""

    def __init__(self, message: gr.ChatMessage) -> None:
        self.message = message
        self.dirty = True

    def materialize(self) -> None:
        self.dirty = False


class _TextBlock(_Block):
    def __init__(self) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=""))
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.dirty = True

    def materialize(self) -> None:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        self.message.content = self.parts[0] if self.parts else ""
        self.dirty = False


class _ThinkingBlock(_TextBlock):
    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started
        self.message.metadata = {"title": "Thinking", "status": "pending"}

    def finish(self, now: float) -> None:
        if self.message.metadata.get("status") == "pending":
            self.message.metadata = {"title": "Thinking", "status": "done", "duration": round(now - self.started, 1)}
            self.dirty = True


class _ToolBlock(_Block):
    def __init__(self, tool_id: str, name: str, started: float) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=""))
        self.tool_id = tool_id
        self.name = name
        self.started = started
        self.input: dict[str, Any] = {}
        self.output: list[str] = []
        self.output_chars = 0
        self.final_output: str | None = None
        self.state = "writing"  # writing | running | done | failed | stopped
        self.duration: float | None = None
        self.elapsed = 0  # whole seconds running, shown while pending

    @property
    def pending(self) -> bool:
        return self.state in ("writing", "running")

    def add_output(self, stream: str, text: str) -> None:
        self.output.append(text)
        self.output_chars += len(text)
        # Bound memory and per-yield work for chatty commands: keep roughly the newest display window.
        if self.output_chars > 4 * MAX_OUTPUT_CHARS:
            joined = "".join(self.output)
            self.output = [joined[-2 * MAX_OUTPUT_CHARS :]]
            self.output_chars = len(self.output[0])
        self.dirty = True

    def materialize(self) -> None:
        mark = {"failed": FAILED_MARK, "stopped": STOPPED_MARK}.get(self.state, "")
        suffix = " — failed" if self.state == "failed" else ""
        meta: dict[str, Any] = {"title": tool_title(self.name, self.input, mark, suffix), "id": self.tool_id}
        if self.pending:
            meta["status"] = "pending"
            meta["log"] = "writing…" if self.state == "writing" else (
                f"running… {self.elapsed} s" if self.elapsed else "running…"
            )
        else:
            meta["status"] = "done"
            if self.state == "stopped":  # a failed step says so in its title already
                meta["log"] = self.state
            if self.duration is not None:
                meta["duration"] = round(self.duration, 2)
        self.message.metadata = meta  # type: ignore[assignment]
        body = render_tool_input(self.name, self.input)
        output = self.final_output if self.final_output is not None else "".join(self.output)
        if output.strip():
            label = "Error" if self.state == "failed" else "Output"
            body = f"{body}\n\n**{label}**\n\n{fence(clip_middle(output, MAX_OUTPUT_CHARS), 'text')}" if body else fence(
                clip_middle(output, MAX_OUTPUT_CHARS), "text"
            )
        elif self.state == "done" and self.final_output is not None:
            body = f"{body}\n\n*(no output)*" if body else "*(no output)*"
        self.message.content = body or ("*(writing…)*" if self.state == "writing" else "*(running…)*")
        self.dirty = False


class _NoteBlock(_Block):
    def __init__(self, text: str, transient: bool = False) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=text))
        self.transient = transient

    def materialize(self) -> None:
        self.dirty = False


class _ArtifactBlock(_Block):
    def __init__(self, content: Any) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=content))

    def materialize(self) -> None:
        self.dirty = False


def _inline_artifact(artifact: Artifact) -> Any:
    """Fallback without a store: only textual artifacts can be shown; binary ones are described."""
    if artifact.mime == "text/html":
        return sandboxed_html(artifact.data if isinstance(artifact.data, str) else artifact.data.decode("utf-8", "replace"))
    if isinstance(artifact.data, str):
        return artifact.data
    return f"*({artifact.mime} output: {len(artifact.data):,} bytes)*"


class _InlineSink:
    def store(self, artifact: Artifact) -> Any:
        return _inline_artifact(artifact)


# Events that start a new visible item, so the thought before them is over. Sandbox status and usage are not
# among them: they arrive mid-thought (the sandbox boots while the model thinks) and must not split one
# thinking block into two "Thinking" steps.
_ENDS_THINKING = (
    TextDelta, ToolStarted, ToolInputDelta, ToolRunning, ToolOutput, ToolFinished, Error, Done,
)


class TurnRenderer:
    """Accumulates one turn's events; ``messages()`` returns the turn's chat messages so far."""

    def __init__(self, artifacts: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = artifacts if artifacts is not None else _InlineSink()
        self._clock = clock
        self._blocks: list[_Block] = []
        self._tools: dict[str, _ToolBlock] = {}
        self._thinking: _ThinkingBlock | None = None
        self.finished = False
        self.stop_reason: str | None = None
        self.changed = False  # set by feed(), cleared by messages(): lets the caller skip needless yields

    # ----- feeding -------------------------------------------------------------------------------------------
    def feed(self, event: Any) -> None:
        now = self._clock()
        if self._thinking is not None and isinstance(event, _ENDS_THINKING):
            self._thinking.finish(now)
            self._thinking = None
        if isinstance(event, (TextDelta, ThinkingDelta, ToolStarted)):
            self._drop_transient()
        if isinstance(event, TextDelta):
            if event.text:
                last = self._blocks[-1] if self._blocks else None
                if not (isinstance(last, _TextBlock) and not isinstance(last, _ThinkingBlock)):
                    last = _TextBlock()
                    self._blocks.append(last)
                last.add(event.text)
        elif isinstance(event, ThinkingDelta):
            if self._thinking is None:
                self._thinking = _ThinkingBlock(now)
                self._blocks.append(self._thinking)
            self._thinking.add(event.text)
        elif isinstance(event, ToolStarted):
            self._tool(event.id, event.name, now)
        elif isinstance(event, ToolInputDelta):
            block = self._tool(event.id, event.name, now)
            if event.input:
                block.input = event.input
                block.dirty = True
        elif isinstance(event, ToolRunning):
            block = self._tool(event.id, event.name, now)
            block.input = event.input
            block.state = "running"
            block.started = now
            block.dirty = True
        elif isinstance(event, ToolOutput):
            self._tool(event.id, event.name, now).add_output(event.stream, event.text)
        elif isinstance(event, ToolFinished):
            self._finish_tool(event)
        elif isinstance(event, SandboxStatus):
            self._sandbox_note(event)
        elif isinstance(event, Error):
            self._error(event)
        elif isinstance(event, Done):
            self._done(event)
        else:
            return  # usage and unknown events change nothing on the chat
        self.changed = True

    def feed_all(self, events: Iterable[Any]) -> TurnRenderer:
        for event in events:
            self.feed(event)
        return self

    def stop(self, note: str = STOPPED_NOTE) -> None:
        """Mark every pending step as stopped (the person pressed Stop); safe to call more than once."""
        now = self._clock()
        if self._thinking is not None:
            self._thinking.finish(now)
            self._thinking = None
        for block in self._tools.values():
            if block.pending:
                block.state = "stopped"
                block.duration = now - block.started
                block.dirty = True
        if note and not any(isinstance(b, _NoteBlock) and b.message.content == note for b in self._blocks):
            self._blocks.append(_NoteBlock(note))
        self.changed = True

    def tick(self) -> None:
        """Refresh the "running… N s" counters of running steps (call about once a second while pending)."""
        now = self._clock()
        for block in self._tools.values():
            if block.state == "running":
                elapsed = int(now - block.started)
                if elapsed != block.elapsed:
                    block.elapsed = elapsed
                    block.dirty = True
                    self.changed = True

    def add_note(self, text: str) -> None:
        self._blocks.append(_NoteBlock(text))
        self.changed = True

    # ----- output --------------------------------------------------------------------------------------------
    def messages(self) -> list[gr.ChatMessage]:
        out = []
        for block in self._blocks:
            if block.dirty:
                block.materialize()
            out.append(block.message)
        self.changed = False
        return out

    def tool_texts(self) -> list[str]:
        """Commands and outputs of this turn's tool calls, newest last (for spotting a served port)."""
        out: list[str] = []
        for block in self._tools.values():
            out.append(str(block.input.get("command", "")))
            out.append(block.final_output if block.final_output is not None else "".join(block.output))
        return out

    @property
    def has_pending(self) -> bool:
        return self._thinking is not None or any(b.pending for b in self._tools.values())

    # ----- helpers -------------------------------------------------------------------------------------------
    def _tool(self, tool_id: str, name: str, now: float) -> _ToolBlock:
        block = self._tools.get(tool_id)
        if block is None:
            block = _ToolBlock(tool_id, name, now)
            self._tools[tool_id] = block
            self._blocks.append(block)
        return block

    def _finish_tool(self, event: ToolFinished) -> None:
        block = self._tool(event.id, event.name, self._clock())
        result = event.result
        block.state = "failed" if result.is_error else "done"
        block.duration = event.duration
        block.final_output = result.display_output
        if not result.is_error and not result.display_output.strip() and block.output:
            block.final_output = None  # keep what streamed live rather than showing "(no output)"
        block.dirty = True
        for artifact in result.artifacts:
            try:
                content = self._sink.store(artifact)
            except OSError:
                content = f"*(could not show a {artifact.mime} output)*"
            self._blocks.append(_ArtifactBlock(content))

    def _sandbox_note(self, event: SandboxStatus) -> None:
        if event.state == "failed":
            detail = f": {event.message}" if event.message else "."
            note = _NoteBlock(f"⚠️ The sandbox could not be started{detail}")
        elif event.state == "restarted":
            note = _NoteBlock("ℹ️ The sandbox was restarted; files and variables from before are gone.")
        else:
            return
        if self._thinking is not None:  # goes above the open thought, which keeps streaming as one step
            self._blocks.insert(self._blocks.index(self._thinking), note)
        else:
            self._blocks.append(note)

    def _error(self, event: Error) -> None:
        if event.kind == "cancelled":
            self.stop()
            return
        if event.retrying:
            self._drop_transient()
            wait = ""
            if "retrying" not in event.message.lower():
                wait = f" Retrying in {event.retry_after:.0f} s…" if event.retry_after else " Retrying…"
            self._blocks.append(_NoteBlock(f"⏳ {event.message}{wait}", transient=True))
            return
        self._drop_transient()
        self._blocks.append(_NoteBlock(f"⚠️ {event.message}"))

    def _done(self, event: Done) -> None:
        self.finished = True
        self.stop_reason = event.stop_reason
        self._drop_transient()
        if event.stop_reason == "cancelled":
            self.stop()
        elif self.has_pending:
            self.stop(note="")
        if event.stop_reason == "max_tokens":
            self._blocks.append(_NoteBlock("*(The reply was cut off at the length limit. Say \"continue\" to go on.)*"))
        elif event.stop_reason == "tool_limit":
            self._blocks.append(_NoteBlock("*(Stopped after the maximum number of tool steps for one message.)*"))
        elif event.stop_reason == "refusal":
            self._blocks.append(_NoteBlock("*(The model declined to answer.)*"))
        if not self._blocks:
            self._blocks.append(_NoteBlock("*(No reply.)*"))

    def _drop_transient(self) -> None:
        if any(isinstance(b, _NoteBlock) and b.transient for b in self._blocks):
            self._blocks = [b for b in self._blocks if not (isinstance(b, _NoteBlock) and b.transient)]


def render_events(events: Iterable[Any], artifacts: Any = None) -> list[gr.ChatMessage]:
    """Pure convenience: the chat messages a finished list of events produces."""
    return TurnRenderer(artifacts).feed_all(events).messages()
