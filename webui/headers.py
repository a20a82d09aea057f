"""Security headers on every response of the page's server (an ASGI middleware on Gradio's FastAPI app).

- ``Content-Security-Policy``: images and media only from the app itself, ``data:`` and ``blob:`` (a remote image in
  the chat or in an HTML output loads nothing); forms post only to the app (a planted form cannot send a key
  off-site); no plugins; no ``<base>`` hijack; the page may be framed only by itself and, on Hugging Face Spaces,
  by huggingface.co and ``*.hf.space``. Scripts, styles and frames are left to Gradio: its page needs inline
  scripts and styles, and the preview panel frames the sandbox's own origin.
- ``X-Content-Type-Options: nosniff``: a served file is never reinterpreted as a script or a page.
- ``Referrer-Policy: same-origin``: links to other sites carry no address of the page.

``srcdoc`` frames (HTML outputs) inherit this policy, and carry their own stricter one too (``OUTPUT_FRAME_CSP``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

SPACES_FRAME_ANCESTORS = ("https://huggingface.co", "https://*.hf.space")
GOOGLE_FONTS_CSS = "https://fonts.googleapis.com"  # Gradio's themes import their fonts from Google Fonts
GOOGLE_FONTS_FILES = "https://fonts.gstatic.com"

# Inside the sandboxed iframe of an HTML output: nothing remote at all (inline styles and data: images only).
OUTPUT_FRAME_CSP = ("default-src 'none'; img-src data: blob:; media-src data: blob:; style-src 'unsafe-inline'; "
                    "font-src data:; form-action 'none'; base-uri 'none'")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def content_security_policy(spaces: bool = False) -> str:
    ancestors = " ".join(("'self'", *SPACES_FRAME_ANCESTORS)) if spaces else "'self'"
    return "; ".join((
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        f"font-src 'self' data: {GOOGLE_FONTS_FILES}",
        f"style-src 'self' 'unsafe-inline' {GOOGLE_FONTS_CSS}",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
        "object-src 'none'",
        "base-uri 'self'",
    ))


def security_headers(spaces: bool = False) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(spaces).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]


class SecurityHeaders:
    """Pure ASGI middleware (streams such as the chat's SSE pass through untouched): adds the headers above to
    every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, spaces: bool = False) -> None:
        self.app = app
        self.headers = security_headers(spaces)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message.get("type") == "http.response.start":
                present = {bytes(name).lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def middleware(spaces: bool = False) -> list[Any]:
    """For ``launch(app_kwargs={"middleware": ...})``: FastAPI takes its first middlewares in its constructor."""
    from starlette.middleware import Middleware

    return [Middleware(SecurityHeaders, spaces=spaces)]
