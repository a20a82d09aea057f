"""The Files and Preview panels: upload into the tab's sandbox, list and download files, show a served app.

Every action works on the sandbox of the calling browser session only (found by ``session_hash``) and answers
in plain words; nothing here raises to the page.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from agent.config import is_loopback_host
from agent.downloads import DownloadCaps
from agent.presenter import count_of
from agent.sandbox import SandboxUnavailable
from webui.downloads import DownloadDesk
from webui.limits import human_size
from webui.safety import inline_code  # file names come from the sandbox: never markup
from webui.sessions import BrowserSession, SessionRegistry
from webui.visitors import request_address

log = logging.getLogger(__name__)

WORKSPACE = "/home/user"
MAX_LISTED = 500
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


_PORT_PATTERNS = (
    re.compile(r"(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::\]):(\d{2,5})"),
    re.compile(r"(?:--port|-p|PORT=|port\s+|http\.server\s+)[= ]?(\d{2,5})\b", re.IGNORECASE),
)


def find_served_port(texts: list[str]) -> int | None:
    """The port a web server was most likely started on, from commands and their output (newest wins)."""
    for text in reversed(texts):
        for pattern in _PORT_PATTERNS:
            found = [int(p) for p in pattern.findall(text or "") if 0 < int(p) < 65536]
            if found:
                return found[-1]
    return None


LOCAL_PREVIEW_HIDDEN = (
    "<p>The live preview cannot be opened from here: on this shared page the sandbox runs on the server, and its "
    "web apps are reachable only from that machine. Download the workspace (Files) and run it on your own "
    "computer, or ask the person running this page to use E2B sandboxes, whose previews open anywhere.</p>"
)


def is_internal_url(url: str) -> bool:
    """True for an address only the app's own machine can open (loopback, ``*.localhost``, a private network)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or is_loopback_host(host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_link_local or address.is_unspecified


class WorkspaceActions:
    default_port = 5173

    def __init__(self, registry: SessionRegistry, provider: Any, max_upload_bytes: int = MAX_UPLOAD_BYTES,
                 download_caps: DownloadCaps = DownloadCaps(), public: bool = False) -> None:
        self.registry = registry
        self.public = public  # strangers reach the page: an address only this machine can open is never shown
        self.provider = provider
        self.max_upload_bytes = max_upload_bytes
        self.downloads = DownloadDesk(download_caps)

    def _session(self, request: gr.Request, create: bool = False) -> BrowserSession | None:
        key = getattr(request, "session_hash", None)
        if create and key:
            return self.registry.open(key, request_address(request, self.registry.policy.trust_proxy))
        return self.registry.get(key)

    async def upload(self, files: list[str] | str | None, request: gr.Request) -> str:
        session = self._session(request, create=True)
        if session is None or not files:
            return ""
        paths = [files] if isinstance(files, str) else list(files)
        done: list[str] = []
        for item in paths:
            path = Path(item if isinstance(item, str) else getattr(item, "name", str(item)))
            try:
                if path.stat().st_size > self.max_upload_bytes:
                    return f"⚠️ {inline_code(path.name)} is larger than {human_size(self.max_upload_bytes)}, the limit here."
                done.append(await session.agent.upload(path.name, path.read_bytes()))
            except SandboxUnavailable as exc:  # e.g. over a sandbox cap: its words say why and what to do
                return f"⚠️ {exc}"
            except Exception:
                log.warning("upload failed", exc_info=True)
                return f"⚠️ Could not upload {inline_code(path.name)} into the sandbox. Please try again."
        listed = ", ".join(inline_code(p) for p in done)
        return f"Uploaded {listed}. Mention it in your message so Claude uses it."

    async def list_files(self, request: gr.Request) -> tuple[Any, str]:
        session = self._session(request)
        if session is None:
            return gr.update(choices=[], value=None), "No sandbox yet: send a message first."
        try:
            files = await session.agent.list_files(WORKSPACE)
        except Exception:
            log.warning("list_files failed", exc_info=True)
            return gr.update(choices=[], value=None), "⚠️ Could not list the sandbox's files. Please try again."
        files = sorted(files)[:MAX_LISTED]
        note = f"{count_of(len(files), 'file').capitalize()} in `{WORKSPACE}`." if files else f"No files in `{WORKSPACE}` yet."
        return gr.update(choices=files, value=files[0] if files else None), note

    async def download_file(self, path: str | None, request: gr.Request) -> tuple[Any, str]:
        session = self._session(request)
        if session is None or not path:
            return None, "Pick a file first (List workspace files)."
        return await self.downloads.file(session, path)

    async def download_zip(self, request: gr.Request) -> tuple[Any, str]:
        session = self._session(request)
        if session is None:
            return None, "No sandbox yet: send a message first."
        return await self.downloads.zip(session)

    def auto_preview(self, port: float | None, panel_open: bool, request: gr.Request) -> tuple[Any, Any, Any]:
        """The preview panel opened on the app at ``port`` (a reply found a server), unless it is open already."""
        if panel_open:
            return gr.skip(), gr.skip(), gr.skip()
        return self.preview(port, request), gr.Accordion(open=True), True

    def preview(self, port: float | None, request: gr.Request) -> str:
        session = self._session(request)
        status = None
        if session is not None:
            try:
                status = session.agent.sandbox_status()
            except Exception:
                status = None
        if status is None or not status.sandbox_id or status.state not in ("ready", "restarted", "starting"):
            return "<p>No sandbox is running yet. Ask Claude to build and serve an app first.</p>"
        try:
            port_n = int(port or 0)
        except (TypeError, ValueError):
            port_n = 0
        if not 0 < port_n < 65536:
            return "<p>Please enter a port between 1 and 65535.</p>"
        try:
            url = self.provider.preview_url(status.sandbox_id, port_n)
        except Exception:
            log.warning("preview_url failed", exc_info=True)
            url = None
        if url and self.public and is_internal_url(url):
            return LOCAL_PREVIEW_HIDDEN
        if not url:
            return (
                "<p>A live preview is not available for this sandbox right now. Check that the app is running "
                "(ask Claude), or use E2B (set <code>E2B_API_KEY</code>) for previews, or download the workspace "
                "and run it yourself.</p>"
            )
        safe = html.escape(url, quote=True)
        return (
            f'<p><a href="{safe}" target="_blank" rel="noopener">Open {safe} in a new tab</a></p>'
            f'<iframe src="{safe}" style="width:100%;height:520px;border:1px solid #ccc;border-radius:8px;background:white" '
            f'sandbox="allow-scripts allow-forms allow-same-origin allow-popups"></iframe>'
        )
