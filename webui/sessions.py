"""The page's conversations: one AgentSession (and so at most one sandbox) each, and when they end.

A conversation is bound to the page load that uses it (Gradio's ``session_hash``). A browser keeps the
conversation's id and a secret (``webui/resume.py``), so a reload binds the new page load to the same
conversation. When a page goes away (``unload``), its conversation is kept for ``reconnect_grace_s`` and then
closed: sandbox killed, files deleted, the conversation dropped from memory. A conversation whose page load has no
live browser behind it (no heartbeat stream: a script calling the API) is closed ``no_browser_timeout_s`` after its
last use. A conversation takes a sandbox slot (``webui/admission.py``) before its sandbox is created.

Why a registry object instead of ``gr.State``: the session must be reachable from listeners that have no
state inputs (the Stop button's fast listener, ``demo.unload``, the server's shutdown hook), and closing must be
prompt (``gr.State``'s delete callback runs up to an hour late). The registry belongs to one built page
(``build_demo``), not to the module, so two pages in one process never share sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Settings
from webui.admission import GatedProvider, LocalSlots, Refusal, RefusalKind, SessionPolicy, SlotStore
from webui.artifacts import ArtifactStore
from webui.liveness import Heartbeats
from webui.resume import Ticket, secret_matches

log = logging.getLogger(__name__)

SessionFactory = Callable[[Settings, Any, str], Any]
MAX_SWEEP_INTERVAL_S = 5.0


def _default_factory(settings: Settings, provider: Any, tag: str) -> Any:
    from agent.session import AgentSession

    return AgentSession(settings, provider, session_tag=tag)


@dataclass(eq=False)
class BrowserSession:
    """One conversation: its agent (transcript, sandbox and the turn in flight), its files, who it belongs to.

    The turn itself (its task, its one event queue, whether Stop was pressed) lives in the agent
    (``agent.turn``); undo, retry and clear are the agent's ``rewind``.
    """

    key: str  # the conversation id
    agent: Any  # agent.session.AgentSession
    artifacts: ArtifactStore
    settings: Settings
    client: str = ""  # the visitor's address (for the per-visitor cap)
    secret_hash: str | None = field(default=None, repr=False)  # None: cannot be claimed again (API callers)
    session_hash: str | None = None  # the page load using it; None while detached
    detached_at: float | None = None
    last_active: float = field(default_factory=time.monotonic)
    closed: bool = False
    prewarm_task: asyncio.Task | None = None

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def apply_settings(self, settings: Settings) -> None:
        """Per-session model / own key. The agent keeps its transcript and sandbox."""
        if settings == self.settings:
            return
        self.settings = settings
        updater = getattr(self.agent, "update_settings", None)
        if callable(updater):
            updater(settings)
        else:
            self.agent.settings = settings

    def request_stop(self) -> None:
        """Stop the model stream and the running code (thread-safe; returns at once)."""
        try:
            self.agent.cancel()
        except Exception:  # never let Stop fail on the page
            log.exception("cancel failed")


@dataclass(frozen=True)
class _Claim:
    """A page load's conversation-to-be: created on its first use (so a page that never chats costs nothing)."""

    ticket: Ticket
    turns: Sequence[tuple[int, str, str]]  # the earlier conversation, given back to the model as text
    note: str | None
    at: float


class SessionRegistry:
    """Creates, finds, hands back (reload) and closes the conversations of one page."""

    def __init__(
        self,
        settings: Settings,
        provider: Any,
        factory: SessionFactory = _default_factory,
        artifact_root: Path | None = None,
        policy: SessionPolicy = SessionPolicy(),
        slots: SlotStore | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.policy = policy
        self.slots: SlotStore = slots if slots is not None else LocalSlots()
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats()
        self._factory = factory
        self._artifact_root = artifact_root
        self._sessions: dict[str, BrowserSession] = {}  # by conversation id
        self._bound: dict[str, str] = {}  # session hash -> conversation id
        self._claims: dict[str, _Claim] = {}  # session hash -> claim not used yet
        self._lock = threading.Lock()
        self._sweeper: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's loop, once a session was opened
        self.forget_hooks: list[Callable[[str], None]] = []  # called with a page load's hash when it is let go
        self.abandoned_hooks: list[Callable[[str], None]] = []  # ... when it was closed for having no browser

    # ----- finding --------------------------------------------------------------------------------------------
    def get(self, key: str | None) -> BrowserSession | None:
        """The conversation bound to page load ``key`` (a session hash), if any. Looking does not count as a use
        (the page's status refresh looks every few seconds); a message (``open``) does."""
        if not key:
            return None
        with self._lock:
            cid = self._bound.get(key)
            return self._sessions.get(cid) if cid else None

    def open(self, key: str, client: str = "") -> BrowserSession:
        """Page load ``key``'s conversation, created on first use (no sandbox yet: that starts lazily or on
        prewarm). A claim from the page's load (``claim``) gives it its id, secret and earlier turns."""
        with self._lock:
            cid = self._bound.get(key)
            session = self._sessions.get(cid) if cid else None
            if session is None:
                claim = self._claims.pop(key, None)
                ticket = claim.ticket if claim is not None else Ticket.new()
                session = self._new(ticket.conversation_id, client,
                                    ticket.secret_hash if claim is not None else None)
                session.session_hash = key
                self._sessions[session.key] = session
                self._bound[key] = session.key
                if claim is not None and (claim.turns or claim.note):
                    restore = getattr(session.agent, "restore", None)
                    if callable(restore):
                        restore(claim.turns, claim.note)
        session.touch()
        self._ensure_sweeper()
        return session

    def _new(self, cid: str, client: str, secret_hash: str | None) -> BrowserSession:
        gated = GatedProvider(self.provider, self.slots, cid, client, self.policy.caps, self.policy.line)
        agent = self._factory(self.settings, gated, f"browser-{cid[:12]}")
        return BrowserSession(cid, agent, ArtifactStore(self._artifact_root), self.settings, client=client,
                              secret_hash=secret_hash)

    def is_live(self, key: str | None) -> bool:
        """Whether page load ``key`` has a browser behind it (an open heartbeat stream)."""
        return self.heartbeats.is_live(key)

    def admit(self, session: BrowserSession, may_wait: bool = False) -> Refusal | None:
        """Take the conversation's sandbox slot (before its sandbox exists); a Refusal over a cap.

        ``may_wait``: a conversation about to start a turn may instead wait in line for a slot when every one is
        taken and the line has room (None then; the turn waits, ``webui/waiting.py``)."""
        refusal = self.slots.acquire(session.key, session.client, self.policy.caps)
        line = self.policy.line
        if refusal is None or not may_wait or refusal.kind is not RefusalKind.ALL_FULL or line.max_waiting <= 0:
            return refusal
        waiting = self.slots.waiting()
        if waiting >= line.max_waiting:
            return Refusal(RefusalKind.LINE_FULL, refusal.held, refusal.cap, waiting)
        return None

    # ----- a page load's conversation: given back on reload, or new -----------------------------------------
    def resume(self, key: str, ticket: Ticket) -> tuple[BrowserSession | None, bool]:
        """Bind page load ``key`` to the conversation ``ticket`` names, if it is still here and the secret
        matches. (session, False) when bound; (None, True) while another live page uses it; (None, False) when
        there is no such conversation (closed, or never this browser's)."""
        with self._lock:
            session = self._sessions.get(ticket.conversation_id)
            if session is None or session.closed or not secret_matches(ticket.secret, session.secret_hash):
                return None, False
            other = session.session_hash
            if other is not None and other != key and self.heartbeats.is_live(other):
                return None, True
            if other is not None:
                self._bound.pop(other, None)
            self._claims.pop(key, None)
            session.session_hash = key
            session.detached_at = None
            self._bound[key] = session.key
        session.touch()
        return session, False

    def claim(self, key: str, ticket: Ticket, turns: Sequence[tuple[int, str, str]] = (),
              note: str | None = None) -> None:
        """Page load ``key`` will start the conversation ``ticket`` on its first use (see ``open``)."""
        with self._lock:
            if key not in self._bound:
                self._claims[key] = _Claim(ticket, tuple(turns), note, time.monotonic())
        self._ensure_sweeper()

    # ----- ending ---------------------------------------------------------------------------------------------
    async def detach(self, key: str | None) -> None:
        """Page load ``key`` went away (tab closed or reloading): keep its conversation for the grace period."""
        if not key:
            return
        with self._lock:
            self._claims.pop(key, None)
            cid = self._bound.pop(key, None)
            session = self._sessions.get(cid) if cid else None
            if session is None or session.session_hash != key:
                return
            session.session_hash = None
            session.detached_at = time.monotonic()
            session.touch()
            keep = session.secret_hash is not None and self.policy.reconnect_grace_s > 0
        if not keep:  # nobody can claim it again
            await self._close(session)

    async def close(self, key: str | None) -> bool:
        """Close page load ``key``'s conversation now (sandbox killed, files deleted). Idempotent; never raises."""
        session = self.get(key)
        if session is None:
            return False
        return await self._close(session)

    async def _close(self, session: BrowserSession) -> bool:
        with self._lock:
            if self._sessions.get(session.key) is not session:
                return False
            del self._sessions[session.key]
            key = session.session_hash
            if key is not None and self._bound.get(key) == session.key:
                del self._bound[key]
        for hook in self.forget_hooks if key is not None else ():
            hook(key)
        session.closed = True
        session.request_stop()
        task = session.prewarm_task
        if task is not None and not task.done():
            task.cancel()
        try:
            await session.agent.wait_idle(3.0)
        except Exception:
            pass
        try:
            await session.agent.close()
        except Exception:
            log.exception("closing a session's sandbox failed")
        finally:
            self.slots.release(session.key)
        session.artifacts.cleanup()
        return True

    async def sweep(self) -> int:
        """Close conversations past their time: detached beyond the grace period, or without a live browser
        beyond the no-browser timeout since their last use. A running turn counts as use."""
        now = time.monotonic()
        expired: list[BrowserSession] = []
        with self._lock:
            for session in self._sessions.values():
                if self.heartbeats.is_live(session.session_hash) or getattr(session.agent, "turn_running", False):
                    session.last_active = now
                    continue
                limit = (self.policy.reconnect_grace_s if session.detached_at is not None
                         else self.policy.no_browser_timeout_s)
                if now - session.last_active > limit:
                    expired.append(session)
            for key, claim in list(self._claims.items()):
                if now - claim.at > self.policy.no_browser_timeout_s and not self.heartbeats.is_live(key):
                    del self._claims[key]
        closed = 0
        for session in expired:
            log.info("closing an unused conversation (%s)", "tab gone" if session.detached_at else "no browser")
            key = session.session_hash if session.detached_at is None else None
            closed += await self._close(session)
            for hook in self.abandoned_hooks if key is not None else ():
                hook(key)
        return closed

    def _ensure_sweeper(self) -> None:
        """Run ``sweep`` periodically on the server's loop while there is anything to sweep."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.loop = loop
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep_loop(), name="session sweeper")

    async def _sweep_loop(self) -> None:
        shortest = min(self.policy.reconnect_grace_s or 1.0, self.policy.no_browser_timeout_s)
        interval = max(0.2, min(MAX_SWEEP_INTERVAL_S, shortest / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("closing unused conversations failed")
            with self._lock:
                if not self._sessions and not self._claims:
                    self._sweeper = None
                    return

    async def close_all(self) -> int:
        task, self._sweeper = self._sweeper, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        with self._lock:
            sessions = list(self._sessions.values())
            self._claims.clear()
        results = await asyncio.gather(*(self._close(s) for s in sessions), return_exceptions=True)
        return sum(1 for r in results if r is True)

    # ----- counting -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Conversations held in memory (bound to a page load, detached within their grace, or API callers)."""
        with self._lock:
            return len(self._sessions)

    def keys(self) -> list[str]:
        """The page loads (session hashes) that have a conversation now."""
        with self._lock:
            return list(self._bound)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())  # a snapshot: sessions may come and go meanwhile

    def conversations(self) -> list[BrowserSession]:
        with self._lock:
            return list(self._sessions.values())
