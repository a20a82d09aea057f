""""New sandbox" asks first: a small confirmation under the button, then an immediate note of what happened.

The sandbox holds the tab's files, so throwing it away is not undoable. The first click only shows the question
("Delete … and start a fresh sandbox?" with *Yes* and *Cancel*); *Yes* hides it, says at once that the files are
gone and that the next step starts a fresh sandbox, and then resets (the status line follows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

QUESTION = ("**Delete this sandbox and all its files?** The next step Claude runs starts a fresh, empty sandbox. "
            "The conversation stays.")
DONE_NOTE = "The sandbox and its files were deleted. The next step starts a fresh sandbox."


def confirmed_reset(button: gr.Button, reset: Callable[..., Any], status: gr.Markdown) -> None:
    """Put the question under ``button`` (call inside the layout, right after it) and wire the clicks."""
    with gr.Group(visible=False, elem_id="new-sandbox-confirm") as box:
        gr.Markdown(QUESTION)
        with gr.Row():
            yes = gr.Button("Yes, delete it", variant="stop", size="sm", elem_id="new-sandbox-yes")
            no = gr.Button("Cancel", size="sm", elem_id="new-sandbox-cancel")
    note = gr.Markdown("", visible=False, elem_id="new-sandbox-note")

    def ask() -> tuple[Any, Any, Any]:
        return gr.update(visible=True), gr.update(visible=False), gr.update(visible=False)

    def cancel() -> tuple[Any, Any]:
        return gr.update(visible=False), gr.update(visible=True)

    def done() -> tuple[Any, Any, Any]:
        return gr.update(visible=False), gr.update(visible=True), gr.update(value=DONE_NOTE, visible=True)

    quiet = {"queue": False, "show_progress": "hidden", "api_visibility": "undocumented"}
    button.click(ask, None, [box, button, note], **quiet)
    no.click(cancel, None, [box, button], **quiet)
    yes.click(done, None, [box, button, note], **quiet).then(reset, None, status, api_visibility="undocumented")
