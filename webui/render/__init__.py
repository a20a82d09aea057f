"""Agent events in, Gradio chat messages out: how one turn looks on the page.

``TurnRenderer`` (``turn.py``) folds the typed event stream of ``AgentSession.run_turn`` into a list of
``gr.ChatMessage``: reply text, a collapsible "Thinking" step, one collapsible step per tool call (pending with a
spinner while the input streams in and the tool runs, then done with its duration; failed and stopped calls are
marked in the title), inline artifacts (charts, HTML) and short notes for errors. ``blocks.py`` holds the
per-message blocks, ``markdown.py`` the Markdown helpers (fences, inert titles, a tool's input). Shared wording
with the CLI (summaries, clipping, languages) lives in ``agent.presenter``.
"""

from webui.render.markdown import (
    FAILED_MARK,
    MAX_INPUT_CHARS,
    MAX_OUTPUT_CHARS,
    STOPPED_MARK,
    STOPPED_NOTE,
    fence,
    inert,
    render_tool_input,
    tool_title,
)
from webui.render.turn import TurnRenderer, render_events

__all__ = [
    "FAILED_MARK", "MAX_INPUT_CHARS", "MAX_OUTPUT_CHARS", "STOPPED_MARK", "STOPPED_NOTE", "TurnRenderer", "fence",
    "inert", "render_events", "render_tool_input", "tool_title",
]
