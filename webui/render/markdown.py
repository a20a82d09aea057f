"""Markdown for the page: code fences that cannot break, step titles made inert, a tool call's input as Markdown."""

from __future__ import annotations

import json
import re
from typing import Any

from agent.presenter import clip_middle, has_hints, step_title, tool_code, tool_diff, tool_path
from webui.safety import inline_code, literal

# Display caps: what the page shows, not what the model sees (the agent cuts the model's copy itself).
MAX_INPUT_CHARS = 12_000
MAX_OUTPUT_CHARS = 12_000

FAILED_MARK = "⚠️"  # has a plain-text glyph in common fonts too, unlike ❌
STOPPED_MARK = "■"
STOPPED_NOTE = f"{STOPPED_MARK} Stopped."

_BACKTICKS = re.compile(r"`{3,}")
_NOT_LANG = re.compile(r"[^A-Za-z0-9_+#.-]")


def fence(text: str, lang: str = "") -> str:
    """A Markdown code block that cannot be broken by backticks inside ``text``."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=2)
    ticks = "`" * max(3, longest + 1)
    lang = _NOT_LANG.sub("", lang)[:30]  # a backtick in the info string would unmake the fence
    return f"{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}"


def inert(text: str) -> str:
    """Plain text that reads the same after Gradio's Markdown + HTML rendering of a step title.

    Gradio renders ``metadata["title"]`` as Markdown with HTML allowed, so a command like ``echo '<h1>x</h1>'``
    would become a heading and ``<img src=...>`` a live image. ``<``, ``>`` and ``&`` become entities (a
    backslash would keep ``&lt;`` from being decoded); every other ASCII punctuation mark gets a backslash,
    which CommonMark allows for all of them, so ``*``, ``_``, backticks, ``[]``, ``#``, list markers and
    autolinks stay literal. A zero-width space after each ``$`` keeps ``$$`` from starting LaTeX.
    Escape after cutting text to length, never before, so no entity or escape is cut in half.
    """
    return literal(text)


def tool_title(name: str, tool_input: dict[str, Any], mark: str = "", suffix: str = "", finished: bool = True) -> str:
    """The step title in plain words (``agent.presenter.step_title``), safe to hand to Gradio: the model's text in
    it is made inert (see ``inert``)."""
    title = inert(step_title(name, tool_input, finished=finished))
    if mark:
        title = f"{mark} {title}"
    return f"{title}{suffix}"


def render_tool_input(name: str, tool_input: dict[str, Any]) -> str:
    """The code, command, file or change the model wrote, as Markdown (as the tool's display hints say)."""
    if not has_hints(name):
        if not tool_input:
            return ""
        return fence(clip_middle(json.dumps(tool_input, indent=2, ensure_ascii=False), MAX_INPUT_CHARS), "json")
    parts = []
    path = tool_path(name, tool_input)
    if path:
        parts.append(inline_code(path))  # a backtick in a model-chosen path must not end the code
    block = tool_code(name, tool_input)
    if block is not None:
        parts.append(fence(clip_middle(block.text, MAX_INPUT_CHARS), block.language))
    change = tool_diff(name, tool_input)
    if change:
        parts.append(fence(clip_middle(change, MAX_INPUT_CHARS), "diff"))
    return "\n\n".join(parts)
