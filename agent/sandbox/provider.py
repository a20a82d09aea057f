"""The sandbox provider: one per process, the factory every session gets its sandbox from.

Two kinds behind one interface, both driven by the unmodified e2b SDK:
- ``e2b``: E2B's cloud (E2B_API_KEY, optional E2B_DOMAIN / E2B_API_URL / E2B_SANDBOX_URL);
- ``local``: the embedded server ``agent.localbox`` (speaks E2B's protocol, jails with bubblewrap), started
  lazily in a child process on first use and stopped by ``close()``.
The provider holds no conversation state: sessions own their sandboxes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from typing import Any, Literal

import httpx
from e2b import SandboxQuery
from e2b.exceptions import AuthenticationException, RateLimitException, TimeoutException
from e2b_code_interpreter import AsyncSandbox

from agent.config import APP_NAME, Settings
from agent.failures import scrub
from agent.sandbox.errors import SandboxUnavailable
from agent.sandbox.facade import Sandbox

log = logging.getLogger(__name__)

# Who created a sandbox: the deployment (host) and this very process. Sandboxes of the same owner but an
# earlier process are orphans (that process crashed or was restarted) and may be reaped.
DEFAULT_OWNER = os.environ.get("AGENT_INSTANCE") or socket.gethostname()
PROCESS_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


class SandboxProvider:
    def __init__(self, settings: Settings, kind: Literal["local", "e2b"]) -> None:
        self.settings = settings
        self.kind = kind
        self._server: Any = None  # agent.localbox.LocalServer once started
        self._server_error: str | None = None
        self._server_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxProvider:
        return cls(settings, settings.kind)

    # ------------------------------------------------------------------ connection options

    def _local_server(self) -> Any:
        """Start the embedded server once (blocking; call from a worker thread)."""
        with self._server_lock:
            if self._closed:
                raise SandboxUnavailable("The sandbox service is shutting down.")
            if self._server is not None:
                return self._server
            if self._server_error is not None:
                raise SandboxUnavailable(self._server_error)
            try:
                from agent.localbox import LocalboxUnavailable, start_server
            except ImportError:
                self._server_error = "The local sandbox server is not installed in this checkout."
                raise SandboxUnavailable(self._server_error) from None
            try:
                self._server = start_server(
                    internet=self.settings.local_internet,
                    allow_domains=self.settings.local_allow_domains,
                    allow_unisolated=self.settings.local_allow_unisolated,
                )
            except LocalboxUnavailable as exc:
                self._server_error = f"The local sandbox cannot run on this machine: {exc}"
                raise SandboxUnavailable(self._server_error) from None
            except Exception as exc:
                log.exception("local sandbox server failed to start")
                raise SandboxUnavailable(f"The local sandbox server failed to start ({type(exc).__name__}).") \
                    from None
            return self._server

    async def sdk_options(self) -> dict[str, Any]:
        """Keyword arguments that point the e2b SDK at this provider's control plane and sandboxes."""
        if self.kind == "local":
            server = await asyncio.to_thread(self._local_server)
            return dict(server.sdk_options())
        s = self.settings
        if not s.e2b_api_key:
            raise SandboxUnavailable("E2B sandboxes need E2B_API_KEY (or leave every E2B setting unset to use the "
                                     "local sandbox).")
        opts = {"api_key": s.e2b_api_key, "api_url": s.e2b_api_url, "sandbox_url": s.e2b_sandbox_url,
                "domain": s.e2b_domain}
        return {k: v for k, v in opts.items() if v}

    # ------------------------------------------------------------------ the interface sessions use

    async def create(self, metadata: dict[str, str]) -> Sandbox:
        """A new sandbox tagged with ``metadata`` (plus app/owner/process), alive for the idle timeout."""
        opts = await self.sdk_options()
        tags = {"app": APP_NAME, "owner": DEFAULT_OWNER, "process": PROCESS_ID, **metadata}
        kwargs: dict[str, Any] = {"timeout": self.settings.sandbox_idle_timeout_s, "metadata": tags}
        if self.settings.e2b_template:
            kwargs["template"] = self.settings.e2b_template
        try:
            return Sandbox(await AsyncSandbox.create(**kwargs, **opts), self.preview_url)
        except AuthenticationException:
            raise SandboxUnavailable("The sandbox service rejected the API key (check E2B_API_KEY).") from None
        except RateLimitException:
            raise SandboxUnavailable("The sandbox service refused to start another sandbox (too many are running, or "
                                     "too many were started in a short time); try again in a minute.") from None
        except SandboxUnavailable:
            raise
        except Exception as exc:
            log.warning("sandbox creation failed: %s", type(exc).__name__)
            if isinstance(exc, (httpx.TransportError, TimeoutException, OSError)):  # no answer, or a cut one
                where = "the local sandbox server" if self.kind == "local" else "E2B's sandbox service"
                hint = "" if self.kind == "local" else " Check the network (and E2B_DOMAIN / E2B_API_URL if set)."
                raise SandboxUnavailable(f"Could not reach {where} to start a sandbox.{hint}") from None
            said = scrub(str(exc), 160)  # the service's own words, never the SDK's class name
            raise SandboxUnavailable(f"Could not start a sandbox ({said})." if said
                                     else "Could not start a sandbox.") from None

    async def connect(self, sandbox_id: str) -> Sandbox:
        return Sandbox(await AsyncSandbox.connect(sandbox_id, **(await self.sdk_options())), self.preview_url)

    async def reap_orphans(self, owner: str | None = None) -> int:
        """Kill sandboxes tagged by this app and ``owner`` that an earlier process left behind.

        A sandbox whose tagging process is still alive on this host (another instance of the app) is spared.

        The local server is started fresh with each process, so it never holds orphans: nothing to do (and the
        server is not started just for this).
        """
        if self.kind == "local":
            return 0
        owner = owner or DEFAULT_OWNER
        opts = await self.sdk_options()
        paginator = AsyncSandbox.list(query=SandboxQuery(metadata={"app": APP_NAME, "owner": owner}), **opts)
        killed = 0
        while paginator.has_next:
            for info in await paginator.next_items():
                if _still_running((info.metadata or {}).get("process", "")):
                    continue  # ours, or another live app process on this host (a second instance, a restart overlap)
                try:
                    if await AsyncSandbox.kill(info.sandbox_id, **opts):
                        killed += 1
                except Exception as exc:
                    log.warning("could not reap sandbox %s: %s", info.sandbox_id, type(exc).__name__)
        return killed

    def preview_url(self, sandbox_id: str, port: int) -> str | None:
        """Where a web server on ``port`` inside the sandbox can be opened from a browser (None: not possible)."""
        if self.kind == "e2b":
            if self.settings.e2b_sandbox_url and not self.settings.e2b_domain:
                return None  # a custom sandbox URL: where its ports are published is unknown
            domain = self.settings.e2b_domain or "e2b.app"
            return f"https://{port}-{sandbox_id}.{domain}"
        server = self._server
        if server is None:
            return None
        try:
            return server.preview_url(sandbox_id, port)
        except Exception:
            return None

    def close(self) -> None:
        """Stop the embedded server (and with it every local sandbox). Sync and idempotent: safe at exit."""
        with self._server_lock:
            self._closed = True
            server, self._server = self._server, None
        if server is not None:
            try:
                server.stop()
            except Exception:
                log.warning("stopping the local sandbox server failed", exc_info=True)


def _still_running(process_tag: str) -> bool:
    """Whether the process that tagged a sandbox (``<pid>-<random>``) is this one or still alive on this host."""
    if process_tag == PROCESS_ID:
        return True
    try:
        pid = int(process_tag.split("-", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True

