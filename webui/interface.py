"""Gradio's ChatInterface with a message box that keeps its placeholder.

On send, ChatInterface replaces the box with ``MultimodalTextbox("", interactive=False, placeholder="")`` and
never puts the placeholder back, so after the first message the box is blank with no hint of what it is for.
Here the send step only clears and locks the box; the placeholder given to the page stays.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class ChatInterface(gr.ChatInterface):
    def _clear_and_save_textbox(self, message: Any) -> tuple[Any, Any]:
        return gr.update(value="", interactive=False), message
