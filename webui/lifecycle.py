"""Start-up and shut-down for the page's sandboxes.

- Start-up: kill sandboxes a crashed earlier run of this app left behind (``provider.reap_orphans``), and find
  out whether the local sandbox can run at all, so the page can say so plainly instead of failing later.
- Shut-down: Gradio runs ``demo.unload`` for open tabs only sometimes (Ctrl-C) and never on SIGTERM, so the
  server's lifespan closes every session's sandbox and the provider; SIGTERM is turned into the same orderly
  path as Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import threading
import uuid
from typing import Any, AsyncIterator, Callable

from webui.sessions import SessionRegistry

log = logging.getLogger(__name__)


def instance_owner() -> str:
    """A name for this server process, stored in each sandbox's metadata so a later run can spot orphans."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def local_sandbox_problem(provider: Any) -> str | None:
    """Why the local sandbox cannot run here, in plain words (None when it can, or when E2B is used)."""
    if getattr(provider, "kind", None) != "local":
        return None
    checker = getattr(provider, "unavailable_reason", None)
    if callable(checker):
        try:
            return checker()
        except Exception:
            log.warning("local sandbox check failed", exc_info=True)
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed on this machine"
    return None


def make_lifespan(registry: SessionRegistry, provider: Any, owner: str) -> Callable[[Any], Any]:
    """An ASGI lifespan for ``demo.launch(app_kwargs={"lifespan": ...})``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            reaped = await provider.reap_orphans(owner)
            if reaped:
                log.info("killed %d sandbox(es) left over from an earlier run", reaped)
        except Exception:
            log.warning("could not check for left-over sandboxes", exc_info=True)
        try:
            yield
        finally:
            closed = await registry.close_all()
            if closed:
                log.info("closed %d open session sandbox(es) at shutdown", closed)
            close_provider(provider)

    return lifespan


def close_provider(provider: Any) -> None:
    try:
        provider.close()
    except Exception:
        log.warning("closing the sandbox provider failed", exc_info=True)


def install_sigterm_handler() -> None:
    """Make SIGTERM behave like Ctrl-C (orderly server shutdown, lifespan exit). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _handler)
