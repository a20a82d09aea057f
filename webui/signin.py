"""Hugging Face sign-in with an allow-list, for a page hosted as a Space (``AGENT_HF_USERS=alice,bob``).

How: the page carries Gradio's ``LoginButton`` (which makes Gradio add its OAuth routes and a signed session
cookie; the Space needs ``hf_oauth: true`` in the README's front matter), and ``launch(auth_dependency=...)`` names
the signed-in user only when they are on the list. Gradio then answers 401 to everything else — the page, its
config, the queue, uploads. ``SignInGate`` turns that 401 on the page itself into what a person needs: a visitor
who is not signed in gets a page with a "Sign in with Hugging Face" link; one who is signed in but not listed is
told so plainly.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGIN_PATH = "login/huggingface"  # Gradio's OAuth routes (gradio/oauth.py), relative to the page
LOGOUT_PATH = "logout"


def parse_allow_list(raw: str) -> frozenset[str]:
    """``alice, Bob`` → {"alice", "bob"} (Hugging Face user names are case-insensitive)."""
    return frozenset(name.strip().lower() for name in raw.split(",") if name.strip())


def signed_in_name(session: Mapping[str, Any] | None, now: float | None = None) -> str | None:
    """The Hugging Face user name of a valid (unexpired) sign-in kept in Gradio's session cookie, or None."""
    info = (session or {}).get("oauth_info")
    if not isinstance(info, Mapping):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, (int, float)) and expires <= (time.time() if now is None else now):
        return None
    user = info.get("userinfo")
    name = user.get("preferred_username") if isinstance(user, Mapping) else None
    return name if isinstance(name, str) and name else None


def allowed_user(session: Mapping[str, Any] | None, allow: Iterable[str]) -> str | None:
    name = signed_in_name(session)
    return name if name is not None and name.lower() in set(allow) else None


def auth_dependency(allow: frozenset[str]) -> Callable[[Any], str | None]:
    """For ``launch(auth_dependency=...)``: the request's user when signed in and on the list, else None."""

    def user_of(request: Any) -> str | None:
        return allowed_user(request.scope.get("session"), allow)

    return user_of


class SignInGate:
    """For the page itself: a sign-in link for visitors not signed in, plain words for accounts not on the list.

    Pure ASGI; must sit inside Gradio's session middleware (true for middlewares given to FastAPI's constructor:
    Gradio adds its own later, outside them).
    """

    def __init__(self, app: ASGIApp, allow: frozenset[str]) -> None:
        self.app = app
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("path", "").rstrip("/") != "":
            await self.app(scope, receive, send)
            return
        if allowed_user(scope.get("session"), self.allow) is not None:
            await self.app(scope, receive, send)
            return
        name = signed_in_name(scope.get("session"))
        status, page = (401, sign_in_page()) if name is None else (403, not_listed_page(name))
        await _respond(send, status, page.encode(), [(b"content-type", b"text/html; charset=utf-8")])


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>{title}</title></head><body style='font-family:sans-serif;max-width:40em;margin:4em auto;"
            f"padding:0 1em'><h1>This demo is open to invited people only</h1>{body}</body></html>")


def sign_in_page() -> str:
    """For a visitor not signed in. The link leaves the Space's frame (target=_top): Hugging Face's sign-in page
    cannot be shown inside a frame, and the sign-in cookie works best on the app's own address."""
    return _page("Sign in", f"<p><a href='{LOGIN_PATH}' target='_top'>Sign in with Hugging Face</a> to use it.</p>")


def not_listed_page(name: str) -> str:
    who = html.escape(name)
    return _page("Not on the list", f"<p>You are signed in to Hugging Face as <b>{who}</b>, which is not on this "
                 "demo's list. Ask the person who shared it to add you, or "
                 f"<a href='{LOGOUT_PATH}' target='_top'>sign out</a> and use another account.</p>")


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def middleware(allow: frozenset[str]) -> list[Any]:
    from starlette.middleware import Middleware

    return [Middleware(SignInGate, allow=allow)]
