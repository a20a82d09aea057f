"""Make a gr.Chatbot post-process each earlier message once per turn instead of on every streamed yield.

Why: while a reply streams, ChatInterface hands Gradio the whole conversation on every yield, and
``Chatbot.postprocess`` rebuilds a pydantic ``Message`` for every earlier message each time (≈18 ms per yield
with 500 messages, the biggest part of the per-yield cost). The earlier messages of a turn are the very same
dict objects on every yield (ChatInterface keeps them in its state and only copies the list), so their result
can be reused.

Correctness: an entry is reused only for the *same object* (identity, with a reference held so the id cannot
be recycled) whose content/metadata did not change; new or edited messages (the turn being streamed) are
always processed afresh.

How: the instance's ``_postprocess`` is wrapped (an instance attribute), so the component stays a plain
``gr.Chatbot`` for Gradio and for the browser (a subclass would be a different frontend component).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

MAX_MEMO = 4000  # messages; cleared when exceeded (a cheap bound, re-filled on the next yield)


def memoize_postprocess(chatbot: gr.Chatbot) -> gr.Chatbot:
    original: Callable[[Any], Any] = chatbot._postprocess
    memo: dict[int, tuple[Any, Any, tuple]] = {}
    lock = threading.Lock()

    def _postprocess(message: Any) -> Any:
        if not isinstance(message, dict):
            return original(message)
        key = id(message)
        with lock:
            hit = memo.get(key)
        if hit is not None and hit[0] is message and hit[2] == _fingerprint(message):
            return hit[1]
        result = original(message)
        with lock:
            if len(memo) >= MAX_MEMO:
                memo.clear()
            memo[key] = (message, result, _fingerprint(message))
        return result

    chatbot._postprocess = _postprocess  # type: ignore[method-assign]
    return chatbot


def _fingerprint(message: dict) -> tuple:
    """Cheap guard against in-place edits of a cached dict: identity of its content and metadata objects."""
    content = message.get("content")
    meta = message.get("metadata")
    return (id(content), len(content) if isinstance(content, (list, str)) else -1, id(meta),
            tuple(meta.items()) if isinstance(meta, dict) else None)
