"""The chat messages of one turn as blocks: each keeps its parts and rebuilds its message only when it changed."""

from __future__ import annotations

from typing import Any

import gradio as gr

from agent.events import Artifact
from agent.presenter import clip_middle, duration, stopped_title
from webui.artifacts import html_content
from webui.outputs import for_people
from webui.render.markdown import FAILED_MARK, MAX_OUTPUT_CHARS, STOPPED_MARK, fence, render_tool_input, tool_title
from webui.safety import safe_markdown


class Block:
    """One chat message of the turn, rebuilt from its parts only when something changed."""

    def __init__(self, message: gr.ChatMessage) -> None:
        self.message = message
        self.dirty = True

    def materialize(self) -> None:
        self.dirty = False


class TextBlock(Block):
    def __init__(self) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=""))
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.dirty = True

    def materialize(self) -> None:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        self.message.content = safe_markdown(self.parts[0]) if self.parts else ""  # model text: no HTML, no images
        self.dirty = False


class ThinkingBlock(TextBlock):
    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started
        self.message.metadata = {"title": "Thinking", "status": "pending"}

    def finish(self, now: float) -> None:
        if self.message.metadata.get("status") == "pending":
            self.message.metadata = {"title": "Thinking", "status": "done", "log": duration(now - self.started)}
            self.dirty = True


class ToolBlock(Block):
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
        self.full_output_link: str | None = None  # set when the output is longer than the page shows

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
        finished = self.state in ("done", "failed")
        title = tool_title(self.name, self.input, mark, suffix, finished)
        if self.state == "stopped":  # from the running title, as the page's own Stop marking does (webui.chat)
            title = f"{STOPPED_MARK} {stopped_title(tool_title(self.name, self.input, finished=False))}"
        meta: dict[str, Any] = {"title": title, "id": self.tool_id}
        if self.pending:
            meta["status"] = "pending"
            meta["log"] = "writing…" if self.state == "writing" else (
                f"running… {self.elapsed} s" if self.elapsed else "running…"
            )
        else:
            meta["status"] = "done"
            # One duration format everywhere (agent.presenter.duration), so it goes in the log, not Gradio's own
            # "duration" (which reads "40.0ms" / "0.1s"). A failed step says so in its title already.
            if self.state == "stopped":
                meta["log"] = self.state
            elif self.duration is not None:
                meta["log"] = duration(self.duration)
        self.message.metadata = meta  # type: ignore[assignment]
        body = render_tool_input(self.name, self.input)
        output = for_people(self.final_output if self.final_output is not None else "".join(self.output))
        if output.strip():
            label = "Error" if self.state == "failed" else "Output"
            body = f"{body}\n\n**{label}**\n\n{fence(clip_middle(output, MAX_OUTPUT_CHARS), 'text')}" if body else fence(
                clip_middle(output, MAX_OUTPUT_CHARS), "text"
            )
        elif self.state == "done" and self.final_output is not None:
            body = f"{body}\n\n*(no output)*" if body else "*(no output)*"
        if self.full_output_link:
            body = f"{body}\n\n{self.full_output_link}"
        self.message.content = body or ("*(writing…)*" if self.state == "writing" else "*(running…)*")
        self.dirty = False


class NoteBlock(Block):
    def __init__(self, text: str, transient: bool = False) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=safe_markdown(text)))  # may quote a server's words
        self.transient = transient

    def materialize(self) -> None:
        self.dirty = False


class ArtifactBlock(Block):
    def __init__(self, content: Any) -> None:
        super().__init__(gr.ChatMessage(role="assistant", content=content))

    def materialize(self) -> None:
        self.dirty = False


def inline_artifact(artifact: Artifact) -> Any:
    """Fallback without a store: only textual artifacts can be shown; binary ones are described."""
    if artifact.mime == "text/html":
        return html_content(artifact.data if isinstance(artifact.data, str) else artifact.data.decode("utf-8", "replace"))
    if isinstance(artifact.data, str):
        return safe_markdown(artifact.data)
    return f"*({artifact.mime} output: {len(artifact.data):,} bytes)*"


class InlineSink:
    def store(self, artifact: Artifact) -> Any:
        return inline_artifact(artifact)
