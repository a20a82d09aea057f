"""One AgentSession (and so one sandbox) per browser session, found by Gradio's ``session_hash``.

Why a registry object instead of ``gr.State``: the session must be reachable from listeners that have no
state inputs (the Stop button's fast listener, ``demo.unload`` on tab close, the server's shutdown hook), and
closing must be prompt (``gr.State``'s delete callback runs up to an hour late). The registry belongs to one
built page (``build_demo``), not to the module, so two pages in one process never share sessions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Settings
from webui.artifacts import ArtifactStore
from webui.render import TurnRenderer

log = logging.getLogger(__name__)

SessionFactory = Callable[[Settings, Any, str], Any]


def _default_factory(settings: Settings, provider: Any, tag: str) -> Any:
    from agent.session import AgentSession

    return AgentSession(settings, provider, session_tag=tag)


@dataclass(eq=False)
class BrowserSession:
    """What one browser tab owns: its agent (conversation + sandbox), its files, and the turn in flight."""

    key: str
    agent: Any  # agent.session.AgentSession
    artifacts: ArtifactStore
    settings: Settings
    turn: TurnRenderer | None = None  # the turn being shown, so Stop can mark its steps at once
    turn_task: asyncio.Task | None = None  # pumps run_turn; outlives a cancelled page handler to finish cleanly
    stop_requested: bool = False
    closed: bool = False
    prewarm_task: asyncio.Task | None = None
    # Where each agent turn started: (user messages on the page before it, transcript length, blocks in the
    # transcript's last message). Lets the transcript follow the page when someone clears, retries or undoes.
    turn_marks: list[tuple[int, int, int | None]] = field(default_factory=list)

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

    def begin_turn(self, page_user_messages: int) -> None:
        """Bring the agent's transcript in line with the page, then remember where this turn starts.

        The page's Clear, Retry and Undo buttons (and editing) drop messages only on the page. Before a new turn
        runs, every agent turn that started at or after the page's current number of user messages is cut
        from the transcript, so the model never sees what the person removed. (The sandbox is not rewound.)
        """
        messages = self.agent.messages
        gone = [m for m in self.turn_marks if m[0] >= page_user_messages]
        if gone:
            _, length, blocks = gone[0]
            del messages[length:]
            if blocks is not None and messages and isinstance(messages[-1].get("content"), list):
                del messages[-1]["content"][blocks:]
            self.turn_marks = [m for m in self.turn_marks if m[0] < page_user_messages]
        last = messages[-1] if messages else None
        blocks_now = len(last["content"]) if last and last.get("role") == "user" and isinstance(last.get("content"), list) else None
        self.turn_marks.append((page_user_messages, len(messages), blocks_now))

    def request_stop(self) -> None:
        """Stop the model stream and the running code (thread-safe; returns at once)."""
        self.stop_requested = True
        if self.turn is not None:
            self.turn.stop()
        try:
            self.agent.cancel()
        except Exception:  # never let Stop fail on the page
            log.exception("cancel failed")

    async def finish_previous_turn(self, timeout: float = 5.0) -> None:
        """Wait (briefly) for a stopped turn to wind down so the transcript is complete before the next one."""
        task = self.turn_task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except (TimeoutError, Exception):
                log.warning("previous turn did not finish within %.1f s", timeout)
        self.turn_task = None


class SessionRegistry:
    """Creates, finds and closes the browser sessions of one page."""

    def __init__(
        self,
        settings: Settings,
        provider: Any,
        factory: SessionFactory = _default_factory,
        artifact_root: Path | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self._factory = factory
        self._artifact_root = artifact_root
        self._sessions: dict[str, BrowserSession] = {}
        self._lock = threading.Lock()

    def get(self, key: str | None) -> BrowserSession | None:
        if not key:
            return None
        with self._lock:
            return self._sessions.get(key)

    def open(self, key: str) -> BrowserSession:
        """The tab's session, created on first use (no sandbox yet: that starts lazily or on prewarm)."""
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                agent = self._factory(self.settings, self.provider, f"browser-{key[:12]}")
                session = BrowserSession(key, agent, ArtifactStore(self._artifact_root), self.settings)
                self._sessions[key] = session
            return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    async def close(self, key: str | None) -> bool:
        """Free a tab's sandbox and files (tab closed). Idempotent; never raises."""
        if not key:
            return False
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is None:
            return False
        session.closed = True
        session.request_stop()
        for task in (session.prewarm_task,):
            if task is not None and not task.done():
                task.cancel()
        try:
            await session.finish_previous_turn(timeout=3.0)
        except Exception:
            pass
        try:
            await session.agent.close()
        except Exception:
            log.exception("closing a session's sandbox failed")
        session.artifacts.cleanup()
        return True

    async def close_all(self) -> int:
        keys = self.keys()
        results = await asyncio.gather(*(self.close(k) for k in keys), return_exceptions=True)
        return sum(1 for r in results if r is True)
