"""Hugging Face sign-in with an allow-list, for a page hosted as a Space (``AGENT_HF_USERS=alice,bob``).

How: the page carries Gradio's ``LoginButton`` (which makes Gradio add its OAuth routes and a signed session
cookie; the Space needs ``hf_oauth: true`` in the README's front matter), and ``launch(auth_dependency=...)`` names
the signed-in user only when they are on the list. Gradio then answers 401 to everything else — the page, its
config, the queue, uploads. ``SignInRedirect`` turns that 401 on the page itself into what a person needs: a visitor
who is not signed in is sent to Hugging Face's sign-in; one who is signed in but not listed gets a plain page.
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


class SignInRedirect:
    """On a 401 for the page itself: redirect to sign-in, or say plainly that the account is not on the list.

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
        if name is None:
            await _respond(send, 302, b"", [(b"location", LOGIN_PATH.encode())])
        else:
            await _respond(send, 403, not_listed_page(name).encode(), [(b"content-type", b"text/html; charset=utf-8")])


def not_listed_page(name: str) -> str:
    who = html.escape(name)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Not on the list</title></head>"
        "<body style='font-family:sans-serif;max-width:40em;margin:4em auto'>"
        f"<h1>This demo is open to invited people only</h1><p>You are signed in to Hugging Face as <b>{who}</b>, "
        "which is not on this demo's list. Ask the person who shared it to add you, or "
        f"<a href='{LOGOUT_PATH}'>sign out</a> and use another account.</p></body></html>"
    )


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def middleware(allow: frozenset[str]) -> list[Any]:
    from starlette.middleware import Middleware

    return [Middleware(SignInRedirect, allow=allow)]
