"""Bounds on what a visitor sends: request, message and upload size, and which models the operator's key may call.

Checked before anything reaches the model, each refusal in plain words. Why: a page on the open internet takes
requests from scripts too — a 50 MB message would be kept in memory and sent to Claude on the operator's key, and
any model id (the most expensive one) could be named through the API. Before any of that, ``RequestCap`` refuses a
request body over ``AGENT_MAX_REQUEST`` while it arrives: Gradio reads a whole body into memory and parses it
(about three times its size at the peak), so five 50 MB calls at once used to raise the app's memory by 670 MB.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.downloads import DEFAULT_FILE_CAP, DEFAULT_ZIP_CAP
from agent.downloads import plain_size as human_size  # one wording of sizes, shared with downloads
from agent.models import MODELS

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
# Gradio reads "100mb" as 100 MiB; kept the same here so one setting means one number everywhere.
_GRADIO_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}


def parse_size(name: str, raw: str) -> int:
    """``100kb`` / ``100mb`` / ``2000000`` as bytes; ValueError with plain words naming the setting."""
    match = _SIZE.match(raw)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS or int(match.group(1)) <= 0:
        raise ValueError(f"{name} must be a size such as 100kb or 20mb, not {raw!r}")
    return int(match.group(1)) * _GRADIO_UNITS.get(unit, _UNITS[unit])



@dataclass(frozen=True)
class InputLimits:
    max_request_bytes: int = 8 * 1024**2  # one API request's body (the page sends the chat shown with each message)
    max_message_bytes: int = 100 * 1024  # text of one chat message, UTF-8
    max_upload_bytes: int = 100 * 1024**2  # one uploaded file (Gradio refuses bigger ones at upload)
    max_download_bytes: int = DEFAULT_FILE_CAP  # one file downloaded from the sandbox
    max_zip_bytes: int = DEFAULT_ZIP_CAP  # everything in the workspace zip (before compression)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InputLimits:
        source = os.environ if env is None else env
        d = cls()
        request = source.get("AGENT_MAX_REQUEST", "").strip()
        message = source.get("AGENT_MAX_MESSAGE", "").strip()
        upload = source.get("AGENT_MAX_UPLOAD", "").strip()
        download = source.get("AGENT_MAX_DOWNLOAD", "").strip()
        zipped = source.get("AGENT_MAX_ZIP", "").strip()
        return cls(
            max_request_bytes=parse_size("AGENT_MAX_REQUEST", request) if request else d.max_request_bytes,
            max_message_bytes=parse_size("AGENT_MAX_MESSAGE", message) if message else d.max_message_bytes,
            max_upload_bytes=parse_size("AGENT_MAX_UPLOAD", upload) if upload else d.max_upload_bytes,
            max_download_bytes=parse_size("AGENT_MAX_DOWNLOAD", download) if download else d.max_download_bytes,
            max_zip_bytes=parse_size("AGENT_MAX_ZIP", zipped) if zipped else d.max_zip_bytes,
        )

    def message_problem(self, text: str) -> str | None:
        """Why a message is refused (too long), or None."""
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self.max_message_bytes:
            return None
        return (f"This message is too long to send ({human_size(size)}; the limit here is "
                f"{human_size(self.max_message_bytes)}). Please shorten it, or attach the text as a file.")


def model_problem(model: str | None, own_key: bool, default_model: str) -> str | None:
    """Why a model choice is refused, or None. On the operator's key only the listed models (and the operator's
    own default) may be used; a visitor who brings their own key may name any model."""
    if own_key or not model or model == default_model or any(model == mid for _, mid in MODELS):
        return None
    return ("That model is not offered here. Pick one from the list in Settings, or paste your own Anthropic key "
            "there to use any model.")


class RequestCap:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 and plain words before the app reads any of it.

    The declared length is checked first; a body without one (chunked) is counted as it arrives. Uploads are left
    to Gradio, which streams them to disk under their own cap (``AGENT_MAX_UPLOAD``). A body within the cap is
    handed on as it came.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (scope.get("type") != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS")
                or scope.get("path", "").rstrip("/").endswith("/upload")):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, send: Any) -> None:
        words = (f"This request is larger than {human_size(self.max_bytes)}, the most this page accepts. If it "
                 "came from a long chat, start a new chat.")
        body = json.dumps({"error": words, "detail": words}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[dict], receive: Any) -> Any:
    """A ``receive`` that gives ``messages`` first, then whatever the connection sends next (a disconnect)."""
    pending = list(messages)

    async def replayed() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def request_cap(max_bytes: int) -> Any:
    """For ``launch(app_kwargs={"middleware": [...]})``."""
    from starlette.middleware import Middleware

    return Middleware(RequestCap, max_bytes=max_bytes)
