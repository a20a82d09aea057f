"""TurnRenderer: one turn's events folded into the chat messages the page shows.

Why it is shaped like this: a streaming handler yields the *whole* list for the turn many times a second, so
feeding an event must be O(size of the event) and ``messages()`` must only rebuild the blocks that changed.
Message objects are kept and mutated in place; their text is joined lazily from parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import gradio as gr

from agent.events import (
    Done,
    Error,
    ErrorKind,
    SandboxStatus,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputDelta,
    ToolOutput,
    ToolRunning,
    ToolStarted,
)
from agent.presenter import end_note
from webui.outputs import for_people, full_output_link
from webui.render.blocks import (
    ArtifactBlock,
    Block,
    InlineSink,
    NoteBlock,
    TextBlock,
    ThinkingBlock,
    ToolBlock,
)
from webui.render.markdown import MAX_OUTPUT_CHARS, STOPPED_NOTE

# Events that start a new visible item, so the thought before them is over. Sandbox status and usage are not
# among them: they arrive mid-thought (the sandbox boots while the model thinks) and must not split one
# thinking block into two "Thinking" steps.
_ENDS_THINKING = (
    TextDelta, ToolStarted, ToolInputDelta, ToolRunning, ToolOutput, ToolFinished, Error, Done,
)


class TurnRenderer:
    """Accumulates one turn's events; ``messages()`` returns the turn's chat messages so far."""

    def __init__(self, artifacts: Any = None, clock: Callable[[], float] = time.monotonic,
                 show_details: bool = False) -> None:
        self._sink = artifacts if artifacts is not None else InlineSink()
        # A failure's operator details (settings, status codes) under its sentence: only when the page runs on
        # the operator's own machine (``agent.config.is_public`` false); they are always in the server log.
        self.show_details = show_details
        self._detail = ""
        self._clock = clock
        self._blocks: list[Block] = []
        self._tools: dict[str, ToolBlock] = {}
        self._thinking: ThinkingBlock | None = None
        self._waiting: NoteBlock | None = None  # the place in line while the turn waits for a sandbox
        self.finished = False
        self.stop_reason: StopReason | None = None
        self.changed = False  # set by feed(), cleared by messages(): lets the caller skip needless yields
        # Set by the caller once the person pressed Stop: a call that ends after that was cut short by the Stop
        # (its error is the kill), so it shows as stopped like the page's own marking, never as failed.
        self.stopping = False

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
                if not (isinstance(last, TextBlock) and not isinstance(last, ThinkingBlock)):
                    last = TextBlock()
                    self._blocks.append(last)
                last.add(event.text)
        elif isinstance(event, ThinkingDelta):
            if self._thinking is None:
                self._thinking = ThinkingBlock(now)
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
        if note and not any(isinstance(b, NoteBlock) and b.message.content == note for b in self._blocks):
            self._blocks.append(NoteBlock(note))
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
        self._blocks.append(NoteBlock(text))
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
    def _tool(self, tool_id: str, name: str, now: float) -> ToolBlock:
        block = self._tools.get(tool_id)
        if block is None:
            block = ToolBlock(tool_id, name, now)
            self._tools[tool_id] = block
            self._blocks.append(block)
        return block

    def _finish_tool(self, event: ToolFinished) -> None:
        block = self._tool(event.id, event.name, self._clock())
        result = event.result
        if block.state == "stopped" or (result.is_error and self.stopping):
            block.state = "stopped"
        else:
            block.state = "failed" if result.is_error else "done"
        block.duration = event.duration
        block.final_output = result.display_output
        if not result.is_error and not result.display_output.strip() and block.output:
            block.final_output = None  # keep what streamed live rather than showing "(no output)"
        if len(result.display_output) > MAX_OUTPUT_CHARS:  # clipped on the page: the whole of it one click away
            block.full_output_link = full_output_link(self._sink, event.id, for_people(result.display_output))
        block.dirty = True
        for artifact in result.artifacts:
            try:
                content = self._sink.store(artifact)
            except OSError:
                content = f"*(could not show a {artifact.mime} output)*"
            self._blocks.append(ArtifactBlock(content))

    def _sandbox_note(self, event: SandboxStatus) -> None:
        if self._waiting is not None:  # the place in line changed, or the wait is over
            self._blocks = [b for b in self._blocks if b is not self._waiting]
            self._waiting = None
        if event.state == "waiting":
            self._waiting = NoteBlock(f"⏳ {event.message}", transient=True)
            self._blocks.append(self._waiting)
            return
        if event.state == "failed":
            detail = f": {event.message}" if event.message else "."
            note = NoteBlock(f"⚠️ The sandbox could not be started{detail}")
        elif event.state == "restarted":
            note = NoteBlock("ℹ️ The sandbox was restarted; files and variables from before are gone.")
        else:
            return
        if self._thinking is not None:  # goes above the open thought, which keeps streaming as one step
            self._blocks.insert(self._blocks.index(self._thinking), note)
        else:
            self._blocks.append(note)

    def _error(self, event: Error) -> None:
        if event.kind == ErrorKind.CANCELLED:
            self.stop()
            return
        self._drop_transient()
        if event.retrying:
            wait = ""
            if "retrying" not in event.message.lower():
                wait = f" Retrying in {event.retry_after:.0f} s…" if event.retry_after else " Retrying…"
            self._blocks.append(NoteBlock(f"⏳ {event.message}{wait}", transient=True))
        elif not event.final:  # a final error is said once, by Done
            self._blocks.append(NoteBlock(f"⚠️ {event.message}"))
        else:
            self._detail = event.detail

    def _done(self, event: Done) -> None:
        self.finished = True
        self.stop_reason = event.stop_reason
        self._drop_transient()
        if event.stop_reason == StopReason.CANCELLED:
            self.stop()
        else:
            if self.has_pending:
                self.stop(note="")
            note = end_note(event)
            if note:
                failed = event.stop_reason in (StopReason.ERROR, StopReason.TOOL_LIMIT, StopReason.MAX_TOKENS)
                text = f"⚠️ {note}" if failed else f"*({note})*"
                if self.show_details and self._detail and event.stop_reason == StopReason.ERROR:
                    text += f"\n\n*Details (shown on this computer only):* {self._detail}"
                self._blocks.append(NoteBlock(text))
        if not self._blocks:
            self._blocks.append(NoteBlock("*(No reply.)*"))

    def _drop_transient(self) -> None:
        if any(isinstance(b, NoteBlock) and b.transient for b in self._blocks):
            self._blocks = [b for b in self._blocks if not (isinstance(b, NoteBlock) and b.transient)]


def render_events(events: Iterable[Any], artifacts: Any = None) -> list[gr.ChatMessage]:
    """Pure convenience: the chat messages a finished list of events produces."""
    return TurnRenderer(artifacts).feed_all(events).messages()
