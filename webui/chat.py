"""The ChatInterface handler: shows one agent turn as it streams, plus the Stop listener.

The handler reads the agent's turn directly (``AgentSession.start_turn`` gives a ``Turn`` with the turn's one
event queue; see ``agent/turn.py``). The turn is normally started by ``start_early``, a fast (queue=False)
listener on the same Enter press as ChatInterface's own submit chain: that chain makes three sequential
browser→server round trips (clear the box, append the message to the whole history, join the queue) before the
queued handler runs, ≈120 ms on an idle machine, far more with a long chat. Started early, the model request
overlaps that chain and the handler only adopts the running turn. (Examples, retry and edit do not pass through
the box's submit, and a cap on concurrent chats must hold: those start the turn in the handler.) The handler
takes events from the turn and yields on the pacer's clock, so
- a quiet stretch (a tool running without output) still shows the last text at once,
- a burst of tokens costs one yield, not one per token,
- when Gradio cancels the handler (Stop, tab closed) the turn's own task keeps running: the turn is cancelled
  once and winds down properly (dangling tool calls answered, transcript valid) instead of being torn apart.
Before a new turn the agent's transcript is rewound to the page (``agent.rewind``): Clear, Retry, Undo and
editing drop messages on the page, and the model must not see them either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from agent.config import is_public
from agent.events import Done, SandboxStatus, ToolFinished, UsageUpdate
from agent.presenter import stopped_title
from agent.turn import Turn
from webui.limits import InputLimits, model_problem
from webui.pacing import Pacer
from webui.render import STOPPED_MARK, STOPPED_NOTE, TurnRenderer
from webui.sessions import BrowserSession, SessionRegistry
from webui.status import safe_usage, sandbox_line, usage_line
from webui.visitors import Visitors, request_address
from webui.workspace import find_served_port

log = logging.getLogger(__name__)

TICK_S = 1.0

GENERIC_FAILURE = "⚠️ Something went wrong on our side while answering. Please send your message again."
NO_SESSION = "⚠️ This chat needs a browser session. Please reload the page and send your message again."


@dataclass(frozen=True)
class StartedTurn:
    """A turn ``start_early`` already started, waiting for the queued handler to adopt (and show) it."""

    mark: tuple[int, str, int]  # (user messages on the page before it, text, number of files): which message
    turn: Turn


def turn_mark(history: list | None, text: str, files: list[Path]) -> tuple[int, str, int]:
    """Identifies one submitted message within a tab: where it comes on the page, and what it says."""
    return sum(1 for m in history or [] if _role(m) == "user"), text, len(files)


def message_text_and_files(message: Any) -> tuple[str, list[Path]]:
    """The text and uploaded file paths of a (multimodal or plain) ChatInterface message."""
    if isinstance(message, str):
        return message, []
    if not isinstance(message, dict):
        return str(message or ""), []
    files: list[Path] = []
    for item in message.get("files") or []:
        path = item.get("path") if isinstance(item, dict) else item
        if path:
            files.append(Path(path))
    return str(message.get("text") or ""), files


class ChatController:
    """Binds the page's listeners to a SessionRegistry. One per built page."""

    def __init__(self, registry: SessionRegistry, min_interval: float = 0.04, early_start: bool = False,
                 limits: InputLimits = InputLimits(), visitors: Visitors | None = None) -> None:
        self.registry = registry
        self.visitors = visitors  # guardrails and the operator log per session (webui/visitors.py)
        self.limits = limits
        self.min_interval = min_interval
        self.early_start = early_start
        self.show_details = not is_public()  # operator details under an error: on the operator's machine only
        # Per tab (session hash): the turn start_early started and no handler adopted yet, and the last message
        # a handler took on (so a start_early that arrives after its handler never runs the message twice).
        self._started: dict[str, StartedTurn] = {}
        self._handled: dict[str, tuple[int, str, int]] = {}
        hooks = getattr(registry, "forget_hooks", None)  # a test's stand-in registry may have none
        if hooks is not None:
            hooks.append(self._forget)

    def _forget(self, key: str) -> None:
        """A page load's conversation was closed (e.g. a script's, after its last use): drop what is kept for it."""
        self._started.pop(key, None)
        self._handled.pop(key, None)

    # ----- helpers shared with the page -------------------------------------------------------------------
    def settings_for(self, model: str | None, api_key: str | None):
        base = self.registry.settings
        changes: dict[str, Any] = {}
        if model and model != base.model:
            changes["model"] = model
        if api_key and api_key.strip():
            changes["anthropic_api_key"] = api_key.strip()
        return base.replace(**changes) if changes else base

    def client(self, request: gr.Request | None) -> str:
        """The visitor's address, for the per-visitor sandbox cap."""
        return request_address(request, self.registry.policy.trust_proxy)

    def refusal(self, text: str, model: str | None, api_key: str | None) -> str | None:
        """Why this message is not sent to the model (too long, a model not offered on the operator's key)."""
        own_key = bool(api_key and api_key.strip())
        return self.limits.message_problem(text) or model_problem(model, own_key, self.registry.settings.model)

    def status_text(self, session: BrowserSession | None) -> str:
        kind = getattr(self.registry.provider, "kind", self.registry.settings.kind)
        if session is None:
            return sandbox_line(None, kind)
        try:
            status = session.agent.sandbox_status()
        except Exception:
            status = None
        return sandbox_line(status, kind)

    def usage_text(self, session: BrowserSession | None) -> str:
        line = usage_line(safe_usage(session.agent) if session is not None else None)
        budget = Visitors.budget_text(session) if session is not None else ""
        return f"{line}\n\nThis demo's budget: {budget}" if budget else line  # its own line: the usage folds out

    def _attach(self, session: BrowserSession, request: gr.Request, api_key: str | None) -> None:
        if self.visitors is not None:
            self.visitors.attach(session, request, own_key=bool(api_key and api_key.strip()))

    # ----- the chat handler ---------------------------------------------------------------------------------
    async def respond(
        self, message: Any, history: list, model: str, api_key: str, request: gr.Request
    ) -> AsyncIterator[tuple[Any, Any, Any, Any]]:
        """ChatInterface fn: yields (turn messages, status line, usage line, preview port). Never raises to the page."""
        turn = self._turn(message, history, model, api_key, request)
        try:
            async with contextlib.aclosing(turn):
                async for frame in turn:
                    yield frame
        except Exception:
            log.exception("showing a turn failed")
            yield [gr.ChatMessage(role="assistant", content=GENERIC_FAILURE)], gr.skip(), gr.skip(), gr.skip()

    async def _turn(
        self, message: Any, history: list, model: str, api_key: str, request: gr.Request
    ) -> AsyncIterator[tuple[Any, Any, Any, Any]]:
        key = getattr(request, "session_hash", None)
        if not key:  # never pool callers without a session into one shared conversation and sandbox
            yield [gr.ChatMessage(role="assistant", content=NO_SESSION)], gr.skip(), gr.skip(), gr.skip()
            return
        session = self.registry.open(key, self.client(request))
        self._attach(session, request, api_key)
        text, files = message_text_and_files(message)
        settings = self.settings_for(model, api_key)
        refused = self.refusal(text, model, api_key)
        if refused and self.visitors is not None:
            self.visitors.refused(session, "input")
        missing = settings.missing_key_message() or refused
        if missing:
            yield [gr.ChatMessage(role="assistant", content=f"⚠️ {missing}")], gr.skip(), gr.skip(), gr.skip()
            return
        if not text.strip() and not files:
            yield [gr.ChatMessage(role="assistant", content="*(Type a message or attach a file.)*")], gr.skip(), gr.skip(), gr.skip()
            return
        # Earlier turns are over: a step still pending in the history lost its last frame to a Stop or a closed
        # connection. It is marked stopped in place (the page shows these very dicts), so it never runs again.
        mark_pending_stopped(history)
        # over a sandbox cap: say so before anything reaches the model (all taken: the turn waits in line)
        full = self.registry.admit(session, may_wait=True)
        if full is not None:
            self._started.pop(key, None)
            if self.visitors is not None:
                self.visitors.refused(session, "capacity")
            yield [gr.ChatMessage(role="assistant", content=f"⚠️ {full.message}")], gr.skip(), gr.skip(), gr.skip()
            return
        mark = turn_mark(history, text, files)
        self._handled[key] = mark
        started = self._started.pop(key, None)
        if started is not None and started.mark == mark:
            turn = started.turn  # already talking to the model
        else:
            if started is not None:  # started for a message this handler is not for
                started.turn.cancel()
            session.apply_settings(settings)
            turn = await self._start(session, text, files, mark[0])
        renderer = TurnRenderer(session.artifacts, show_details=self.show_details)
        pacer = Pacer(min_interval=self.min_interval)
        status_dirty = True
        port_dirty = False  # a tool finished: its output may name the port a web server listens on
        try:
            while not turn.finished:
                timeout = pacer.wait_time() if renderer.changed else None
                if renderer.has_pending:  # keep the "running… N s" counter moving during silent tools
                    timeout = TICK_S if timeout is None else min(timeout, TICK_S)
                item = await turn.get(timeout)
                if item is None:
                    renderer.tick()
                while item is not None:
                    renderer.stopping = turn.stop_requested
                    renderer.feed(item)
                    if isinstance(item, (SandboxStatus, UsageUpdate, Done)):
                        status_dirty = True
                    if isinstance(item, ToolFinished):
                        port_dirty = status_dirty = True
                    item = turn.get_nowait()
                if not turn.finished and renderer.changed and pacer.due():
                    pacer.before_yield()
                    yield self._frame(session, renderer, status_dirty, with_port=port_dirty)
                    pacer.after_yield()
                    status_dirty = port_dirty = False
            if turn.stop_requested:
                renderer.stop()
            if not renderer.finished and not turn.stop_requested:
                renderer.add_note(GENERIC_FAILURE)
            yield self._frame(session, renderer, True, with_port=True)
        finally:
            session.touch()  # the end of a turn counts as the conversation's last use
            if not turn.finished:
                # Gradio closed us (Stop or tab gone): stop the turn; its task winds it down alone.
                turn.cancel()

    @staticmethod
    async def _start(session: BrowserSession, text: str, files: list[Path], number: int) -> Turn:
        """Wait for a stopped turn to wind down, rewind the transcript to the page, start this message's turn."""
        agent = session.agent
        if await agent.wait_idle():
            agent.rewind(number)
        return agent.start_turn(text, files, number=number)

    async def start_early(self, message: Any, history: list, model: str, api_key: str, request: gr.Request) -> None:
        """Fast (queue=False) listener on Enter: send the model request now instead of after Gradio's submit chain.

        Only a plain new turn starts here; anything unusual (no session, no key, empty message, the previous turn
        still winding down, this message already handled) is left to the handler, which says what is wrong.
        Entirely synchronous after the checks, so the handler can never find a half-started turn.
        """
        key = getattr(request, "session_hash", None)
        if not self.early_start or not key:
            return
        text, files = message_text_and_files(message)
        settings = self.settings_for(model, api_key)
        if settings.missing_key_message() or self.refusal(text, model, api_key) or (not text.strip() and not files):
            return
        mark = turn_mark(history, text, files)
        if self._handled.get(key) == mark:
            return
        session = self.registry.open(key, self.client(request))
        if session.closed or session.agent.turn_running or self.registry.admit(session) is not None:
            return
        self._attach(session, request, api_key)
        self._started.pop(key, None)  # an earlier start nobody adopted has finished (checked above): forget it
        session.apply_settings(settings)
        session.agent.rewind(mark[0])
        self._started[key] = StartedTurn(mark, session.agent.start_turn(text, files, number=mark[0]))

    def _frame(
        self, session: BrowserSession, renderer: TurnRenderer, with_status: bool, with_port: bool = False
    ) -> tuple[Any, Any, Any, Any]:
        """(turn messages, status line, usage line, preview port): unchanged parts are skipped to keep yields small.

        The port is looked for after each finished tool (not only at the end of the turn), so the Preview field
        shows a server's port as soon as the step that started it is done.
        """
        messages = renderer.messages()
        if not with_status:
            return messages, gr.skip(), gr.skip(), gr.skip()
        port = find_served_port(renderer.tool_texts()) if with_port else None
        return messages, self.status_text(session), self.usage_text(session), port if port else gr.skip()

    # ----- Stop -----------------------------------------------------------------------------------------------
    def stop(self, chat_value: list | None, request: gr.Request) -> tuple[list, list]:
        """Fast (queue=False) Stop listener: cancel model + code, mark pending steps stopped, say "Stopped." once.

        Gradio cancels the turn's handler at the same moment, so the renderer's own final frame (with its note)
        never reaches the page: the page's copy is marked here. Only the page changes; the agent's transcript
        is wound down by the agent itself.
        """
        session = self.registry.get(getattr(request, "session_hash", None))
        # A turn that already ran to its end (Stop clicked as it finished) gets no "Stopped." under its answer.
        # Gradio's own cancel often lands first: then the handler has already asked the turn to stop.
        turn = session.agent.turn if session is not None else None
        running = session is None or (turn is not None and (turn.running or turn.stop_requested))
        if session is not None:
            session.request_stop()
        value = mark_pending_stopped(list(chat_value or []))
        if running:
            value = add_stopped_note(value)
        return value, value

    # ----- sandbox --------------------------------------------------------------------------------------------
    async def prewarm(self, request: gr.Request) -> None:
        """First keystroke: start this tab's sandbox so it is ready when the model's first tool call comes.

        Skipped when the server has no Anthropic key (the visitor may never get to chat), for a caller without a
        live browser (a script: its sandbox starts with its first message), and over a sandbox cap (the message
        then says so); the sandbox then starts with the first message, in parallel with the model request.
        """
        if not self.registry.settings.anthropic_api_key:
            return
        key = getattr(request, "session_hash", None)
        if not key or not self.registry.is_live(key):
            return
        session = self.registry.open(key, self.client(request))
        if session.prewarm_task is None and self.registry.admit(session) is None:
            session.prewarm_task = asyncio.create_task(_quietly(session.agent.prewarm()))

    async def new_sandbox(self, request: gr.Request) -> str:
        session = self.registry.get(getattr(request, "session_hash", None))
        if session is None:
            return self.status_text(None)
        try:
            await session.agent.reset_sandbox()
        except Exception:
            log.exception("reset_sandbox failed")
            gr.Warning("The sandbox could not be restarted. Please try again.")
        return self.status_text(session)

    def refresh(self, request: gr.Request) -> tuple[str, str]:
        session = self.registry.get(getattr(request, "session_hash", None))
        return self.status_text(session), self.usage_text(session)

    async def unload(self, request: gr.Request) -> None:
        """The tab went away (closed or reloading): its conversation is kept for the grace period, then closed."""
        key = getattr(request, "session_hash", None)
        if key:
            self._started.pop(key, None)
            self._handled.pop(key, None)
        await self.registry.detach(key)


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, dict) else getattr(message, "role", None)


def mark_pending_stopped(messages: list) -> list:
    """Pending steps in a chat value (browser dicts or ChatMessages) become done and marked stopped."""
    for msg in messages:
        meta = msg.get("metadata") if isinstance(msg, dict) else getattr(msg, "metadata", None)
        if not meta or meta.get("status") != "pending":
            continue
        title = str(meta.get("title") or "")
        new_meta = dict(meta)
        new_meta["status"] = "done"
        if title != "Thinking":
            new_meta["log"] = "stopped"
            if not title.startswith(STOPPED_MARK):
                new_meta["title"] = f"{STOPPED_MARK} {stopped_title(title)}"
        if isinstance(msg, dict):
            msg["metadata"] = new_meta
        else:
            msg.metadata = new_meta
    return messages


def _text_of(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def add_stopped_note(messages: list) -> list:
    """Append a plain "■ Stopped." reply unless the turn already ends with one (Stop pressed twice, late frame).

    Without it, a turn stopped while Claude was thinking or writing looks like it simply ended.
    """
    if not messages:  # nothing on the page: nothing was stopped
        return messages
    if _role(messages[-1]) == "assistant" and _text_of(messages[-1]).strip() in (STOPPED_NOTE, "Stopped."):
        return messages
    messages.append({"role": "assistant", "content": STOPPED_NOTE})
    return messages


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.warning("sandbox prewarm failed", exc_info=True)
