"""A page load finds its conversation again (reload), or starts a new one ("New chat").

``load`` runs when the page opens, with what the browser stored (``webui/resume.py``):
- the conversation is still on the server (a reload within the grace period) and the secret matches: the page
  load is bound to it — same transcript, same sandbox, files intact — and the stored chat is shown again;
- it is gone (away longer than the grace period, or the server restarted): the stored chat is shown again with a
  plain note that the files are gone, and the model gets the earlier turns back as text with its first message;
- another open tab of the same browser is using it: this tab starts its own conversation.
``new_chat`` (after the visitor confirmed in the page) closes the conversation — sandbox and files — and starts an
empty one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import gradio as gr

from webui.resume import (
    FILES_GONE_NOTE,
    MODEL_NOTE,
    Ticket,
    read_stored,
    shown_history,
    stored_value,
    transcript_turns,
)

log = logging.getLogger(__name__)

OTHER_TAB_WAIT_S = 2.0  # a reload's old page may still be going away when the new one loads

# In the browser: keep the chat as shown after every change that ends a turn (or undo, retry, clear).
SAVE_HISTORY_JS = "(history, stored) => (stored && stored.id ? {...stored, history: history || []} : stored)"
NEW_CHAT_JS = """(confirmed, stored) => {
  const ok = window.confirm("Start a new chat? This conversation is cleared and its sandbox is deleted, with all of its files.");
  if (ok) { const stop = document.querySelector("button.stop-button"); if (stop) stop.click(); }
  return [ok, stored];
}"""
# While a reply is running, leaving or reloading the page asks first (the browser shows its own words). Gradio's
# own beforeunload listener (registered before any of the page's code runs, so it always runs first) closes the
# page's connection by aborting its two streams, the reply's and the heartbeat: the server then cancels the reply
# and, a little later, lets the conversation go. A visitor who chose to stay would be left on a dead page. So while
# a reply runs, an abort asked for during the beforeunload event itself is not done: if the visitor stays, the
# streams carry on (the reply keeps streaming, Stop and the next message work); if they leave, the browser closes
# the connections as the page goes. Gradio's client opens a new reply stream for the next message by itself.
BEFORE_UNLOAD_JS = """() => {
  const busy = () => !!document.querySelector("button.stop-button");
  const abort = AbortController.prototype.abort;
  AbortController.prototype.abort = function (...args) {
    const event = window.event;
    if (event && event.type === "beforeunload" && busy()) return;
    return abort.apply(this, args);
  };
  window.addEventListener("beforeunload", (event) => {
    if (!busy()) return;
    event.preventDefault();
    event.returnValue = "";
  });
}"""


class Reconnect:
    """The page's load and "New chat" listeners, on the page's ChatController."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self.registry = controller.registry

    def _lines(self, session: Any) -> tuple[str, str]:
        return self.controller.status_text(session), self.controller.usage_text(session)

    async def load(self, stored: Any, request: gr.Request) -> tuple[Any, Any, Any, Any, Any]:
        """(chat shown, chat state, stored value, status line, usage line) for a page that just opened."""
        key = getattr(request, "session_hash", None)
        found = read_stored(stored)
        if not key:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if found.ticket is not None:
            session, busy = self.registry.resume(key, found.ticket)
            waited = 0.0
            while busy and waited < OTHER_TAB_WAIT_S:
                await asyncio.sleep(0.1)
                waited += 0.1
                session, busy = self.registry.resume(key, found.ticket)
            if session is not None:
                log.info("a reloaded page got its conversation back")
                history = shown_history(found.history, session.artifacts.folder)
                return (history, history, gr.skip(), *self._lines(session))
            if busy:  # open in another tab of this browser: this tab starts its own
                ticket = Ticket.new()
                self.registry.claim(key, ticket)
                return [], [], stored_value(ticket, []), *self._lines(None)
        ticket = Ticket.new()
        if not any(m["role"] == "user" for m in found.history):
            self.registry.claim(key, ticket)
            return gr.skip(), gr.skip(), stored_value(ticket, []), gr.skip(), gr.skip()
        history = shown_history(found.history, None)
        history.append({"role": "assistant", "content": [{"type": "text", "text": FILES_GONE_NOTE}]})
        self.registry.claim(key, ticket, transcript_turns(found.history), MODEL_NOTE)
        log.info("a page came back after its conversation was closed; continuing it on a new sandbox")
        return history, history, stored_value(ticket, history), *self._lines(None)

    async def new_chat(self, confirmed: Any, stored: Any, request: gr.Request) -> tuple[Any, Any, Any, Any, Any]:
        """After the visitor confirmed: close this tab's conversation (sandbox and files) and start an empty one."""
        key = getattr(request, "session_hash", None)
        if confirmed is not True or not key:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        await self.registry.close(key)
        ticket = Ticket.new()
        self.registry.claim(key, ticket)
        gr.Info("New chat started. The previous sandbox and its files were deleted.")
        return [], [], stored_value(ticket, []), *self._lines(None)
