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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import Settings
from webui.artifacts import ArtifactStore

log = logging.getLogger(__name__)

SessionFactory = Callable[[Settings, Any, str], Any]


def _default_factory(settings: Settings, provider: Any, tag: str) -> Any:
    from agent.session import AgentSession

    return AgentSession(settings, provider, session_tag=tag)


@dataclass(eq=False)
class BrowserSession:
    """What one browser tab owns: its agent (conversation, sandbox and the turn in flight) and its files.

    The turn itself (its task, its one event queue, whether Stop was pressed) lives in the agent
    (``agent.turn``); undo, retry and clear are the agent's ``rewind``.
    """

    key: str
    agent: Any  # agent.session.AgentSession
    artifacts: ArtifactStore
    settings: Settings
    closed: bool = False
    prewarm_task: asyncio.Task | None = None

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

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())  # a snapshot: sessions may come and go meanwhile

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
            await session.agent.wait_idle(3.0)
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
