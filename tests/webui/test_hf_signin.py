"""Hugging Face sign-in with an allow-list (a Space with AGENT_HF_USERS): the real page with Gradio's OAuth routes
and signed session cookie; the sign-in itself (Hugging Face's side) is stood in for by a session cookie signed the
way Gradio's session middleware signs it."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
import pytest

from tests.browser.conftest import base_settings, launch_page, serve_page
from tests.browser.fakes import FakeProvider
from webui.hosting import Hosting
from webui.signin import allowed_user, parse_allow_list, signed_in_name

SECRET = "test-oauth-secret"


@pytest.fixture
def space_page(monkeypatch):
    import gradio.http_server
    import gradio.oauth as oauth

    # A real Space has the `spaces` package Gradio's own hot-reloader needs; here the reloader thread would only
    # fail in the background, so Gradio's server is told it is not on a Space (the page's settings still are).
    monkeypatch.setattr(gradio.http_server, "get_space", lambda: None)
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/demo")
    for name, value in (("OAUTH_CLIENT_ID", "test-client"), ("OAUTH_CLIENT_SECRET", SECRET),
                        ("OAUTH_SCOPES", "openid profile"), ("OPENID_PROVIDER_URL", "http://127.0.0.1:9")):
        monkeypatch.setattr(oauth, name, value)
    hosting = Hosting(spaces=True, public=True, hf_users=parse_allow_list("Alice, carol"))
    yield from serve_page(launch_page(base_settings(anthropic_api_key="unused"), FakeProvider(), hosting=hosting))


def session_cookie(username: str, expires_in: float = 3600) -> str:
    """A Starlette session cookie holding a Hugging Face sign-in, signed with Gradio's OAuth session key."""
    from itsdangerous import TimestampSigner

    session = {"oauth_info": {"userinfo": {"preferred_username": username}, "expires_at": time.time() + expires_in}}
    data = base64.b64encode(json.dumps(session).encode())
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    return TimestampSigner(key).sign(data).decode()


def test_only_listed_hugging_face_accounts_get_in(space_page):
    url = space_page.url
    with httpx.Client(base_url=url, timeout=30) as anonymous:
        first = anonymous.get("")
        assert first.status_code == 401 and "href='login/huggingface'" in first.text
        assert "form-action 'self'" in first.headers.get("content-security-policy", "")
        assert anonymous.get("config").status_code == 401
        assert anonymous.post("gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 401
    with httpx.Client(base_url=url, timeout=30, cookies={"session": session_cookie("alice")}) as alice:
        assert alice.get("").status_code == 200
        assert alice.get("config").status_code == 200
    with httpx.Client(base_url=url, timeout=30, cookies={"session": session_cookie("bob")}) as bob:
        page = bob.get("")
        assert page.status_code == 403 and "not on this demo" in page.text and "bob" in page.text
        assert bob.get("config").status_code == 401
    with httpx.Client(base_url=url, timeout=30, cookies={"session": session_cookie("alice", -10)}) as expired:
        assert expired.get("").status_code == 401


def test_sign_in_helpers():
    assert parse_allow_list(" Alice,,bob ") == frozenset({"alice", "bob"})
    assert signed_in_name({}) is None and signed_in_name({"oauth_info": "x"}) is None
    info = {"oauth_info": {"userinfo": {"preferred_username": "Alice"}, "expires_at": time.time() + 60}}
    assert allowed_user(info, {"alice"}) == "Alice" and allowed_user(info, {"bob"}) is None


def test_hugging_face_sign_in_is_for_spaces_only():
    assert Hosting.from_env({"AGENT_HF_USERS": "alice"}).hf_users == frozenset()
    on_space = Hosting.from_env({"AGENT_HF_USERS": "alice", "SYSTEM": "spaces", "SPACE_ID": "a/b"})
    assert on_space.hf_users == frozenset({"alice"}) and on_space.spaces and on_space.public
    with pytest.raises(ValueError, match="not both"):
        Hosting.from_env({"AGENT_HF_USERS": "alice", "SPACE_ID": "a/b", "AGENT_PASSWORD": "pw"})
