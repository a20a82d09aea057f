"""Start-up and shut-down for the page's sandboxes.

- Start-up: kill sandboxes a crashed earlier run of this app left behind (``provider.reap_orphans``), and find
  out whether the local sandbox can run at all, so the page can say so plainly instead of failing later.
- Shut-down: Gradio runs ``demo.unload`` for open tabs only sometimes (Ctrl-C) and never on SIGTERM, so the
  server's lifespan closes every session's sandbox and the provider; SIGTERM is turned into the same orderly
  path as Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from webui.artifacts import sweep_leftovers
from webui.liveness import forget_scripted_state, heartbeat_middleware
from webui.sessions import SessionRegistry

log = logging.getLogger(__name__)


def probe_local_sandbox(provider: Any) -> str | None:
    """Start the embedded local sandbox server now and say, in plain words, why it cannot run (None: fine).

    Doing this at start-up costs a second or two once, and means the page can tell people the truth up front
    ("the local sandbox cannot run here: ...") instead of failing on their first message. E2B: nothing to do.
    """
    if getattr(provider, "kind", None) != "local":
        return None
    try:
        asyncio.run(provider.sdk_options())
    except Exception as exc:  # SandboxUnavailable carries plain words; anything else gets a generic line
        message = str(exc) if type(exc).__name__ == "SandboxUnavailable" else ""
        log.warning("local sandbox unavailable: %s", message or type(exc).__name__)
        return message or "The local sandbox server could not be started."
    return None


class Lifecycle:
    """Owns start-up reaping and shut-down cleanup for one page and its provider.

    Why both a lifespan and ``shutdown()``: uvicorn runs the lifespan's exit only after every connection has
    closed, and an open tab's heartbeat stream keeps one open, while Gradio gives the server thread 5 s before
    the process moves on. So the main thread also closes the sessions itself, on the server's own event loop
    (the sandboxes' SDK clients belong to it), before stopping the server.
    """

    def __init__(self, registry: SessionRegistry, provider: Any) -> None:
        self.registry = registry
        self.provider = provider
        self._loop: asyncio.AbstractEventLoop | None = None

    def middleware(self) -> list[Any]:
        """For ``launch(app_kwargs={"middleware": ...})``: tells the registry which tabs have a live browser."""
        return [heartbeat_middleware(self.registry.heartbeats)]

    def lifespan(self, app: Any) -> Any:
        """For ``demo.launch(app_kwargs={"lifespan": lifecycle.lifespan})``."""
        return self._lifespan(app)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        swept = sweep_leftovers()  # download copies and outputs a killed earlier run left in Gradio's cache
        if swept:
            log.info("removed %d file folder(s) left over from an earlier run", swept)
        try:
            reaped = await self.provider.reap_orphans()  # this deployment's sandboxes from earlier processes
            if reaped:
                log.info("killed %d sandbox(es) left over from an earlier run", reaped)
        except Exception:
            log.warning("could not check for left-over sandboxes", exc_info=True)
        housekeeping = asyncio.create_task(self._forget_scripted_states(app), name="forget scripted state")
        try:
            yield
        finally:
            housekeeping.cancel()
            await self._close_sessions()

    async def _forget_scripted_states(self, app: Any) -> None:
        """Every few seconds: Gradio's values of sessions that never had a browser go after the no-browser
        timeout (``webui/liveness.py``)."""
        try:
            holder = app.get_blocks().state_holder
        except Exception:  # not Gradio's app (a test's plain lifespan): nothing to sweep
            return
        idle = self.registry.policy.no_browser_timeout_s
        while True:
            await asyncio.sleep(max(0.5, min(30.0, idle / 4)))
            try:
                dropped = forget_scripted_state(holder, self.registry.heartbeats,
                                                lambda key: self.registry.get(key) is not None, idle)
            except Exception:
                log.warning("forgetting scripted sessions' values failed", exc_info=True)
                continue
            if dropped:
                log.info("forgot the page values of %d session(s) that never had a browser", dropped)

    async def _close_sessions(self) -> None:
        closed = await self.registry.close_all()
        if closed:
            log.info("closed %d open session sandbox(es) at shutdown", closed)

    def shutdown(self, demo: Any = None, timeout: float = 20.0) -> None:
        """From the main thread: close every session's sandbox, stop the server, stop the provider."""
        loop = self._loop
        log.info("shutting down with %d open session(s)", len(self.registry))
        if loop is not None and loop.is_running() and len(self.registry):
            try:
                asyncio.run_coroutine_threadsafe(self._close_sessions(), loop).result(timeout)
            except Exception:
                log.warning("closing sessions at shutdown failed", exc_info=True)
        if demo is not None:
            try:
                demo.close()
            except Exception:
                log.warning("stopping the server failed", exc_info=True)
        close_provider(self.provider)


def make_lifespan(registry: SessionRegistry, provider: Any) -> Callable[[Any], Any]:
    """An ASGI lifespan that reaps orphans at start and closes sessions and the provider at exit."""
    lifecycle = Lifecycle(registry, provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with lifecycle.lifespan(app):
            yield
        close_provider(provider)

    return lifespan


def close_provider(provider: Any) -> None:
    try:
        provider.close()
    except Exception:
        log.warning("closing the sandbox provider failed", exc_info=True)


def install_sigterm_handler() -> None:
    """Make SIGTERM behave like Ctrl-C (raises KeyboardInterrupt in the main thread). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _handler)
