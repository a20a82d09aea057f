"""Gradio's ChatInterface with a message box that keeps its placeholder.

On send, ChatInterface replaces the box with ``MultimodalTextbox("", interactive=False, placeholder="")``, and on
Retry it sends ``update(interactive=False, placeholder="")``; neither puts the placeholder back, so after the first
message the box is blank with no hint of what it is for. Here both only clear and lock the box; the placeholder
given to the page stays.
"""

from __future__ import annotations

import inspect
from typing import Any

import gradio as gr


class ChatInterface(gr.ChatInterface):
    def _clear_and_save_textbox(self, message: Any) -> tuple[Any, Any]:
        return gr.update(value="", interactive=False), message


def keep_placeholder(demo: gr.Blocks, textbox: Any) -> int:
    """Make the page's listeners that blank the box's placeholder (Retry's lock step) leave it alone.

    Those listeners are argument-free lambdas inside ChatInterface whose only output is the box; each is called
    once here (it only builds an update) to see what it sets. Returns how many were changed.
    """
    changed = 0
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if (getattr(fn, "__name__", "") != "<lambda>" or inspect.iscoroutinefunction(fn) or block_fn.inputs
                or list(block_fn.outputs) != [textbox]):
            continue
        try:
            update = fn()
        except TypeError:
            continue
        if isinstance(update, dict) and update.get("placeholder") == "":
            kept = {k: v for k, v in update.items() if k != "placeholder"}
            block_fn.fn = lambda kept=kept: dict(kept)
            changed += 1
    return changed
