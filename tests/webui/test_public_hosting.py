"""The page as a stranger meets it over HTTP: security headers, the optional password, the upload cap, Gradio's
cache cleaning, the message cap and the model list — each checked against a launched page (real Gradio server,
real HTTP), without a browser."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.browser.conftest import base_settings, launch_page, serve_page
from tests.browser.fakes import FakeProvider
from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY
from tests.support.claude_standin import text_reply
from webui.access import Accounts
from webui.hosting import Hosting
from webui.limits import InputLimits

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def locked_page() -> Any:
    """A page behind AGENT_PASSWORD with a 2 KB upload cap (no chat needed, so no sandbox)."""
    hosting = Hosting(accounts=Accounts(shared_password=PASSWORD), limits=InputLimits(max_upload_bytes=2048),
                      cache_max_age_s=2)
    yield from serve_page(launch_page(base_settings(anthropic_api_key="unused"), FakeProvider(), hosting=hosting))


def login(client: httpx.Client, password: str) -> httpx.Response:
    return client.post("login", data={"username": "visitor", "password": password})


def test_every_response_carries_the_security_headers(locked_page):
    with httpx.Client(base_url=locked_page.url, timeout=30) as client:
        for path in ("", "config", "gradio_api/info"):
            resp = client.get(path)
            csp = resp.headers.get("content-security-policy", "")
            assert "form-action 'self'" in csp and "img-src 'self' data: blob:" in csp, (path, csp)
            assert "frame-ancestors 'self'" in csp and "hf.space" not in csp
            assert resp.headers.get("x-content-type-options") == "nosniff"
            assert resp.headers.get("referrer-policy") == "same-origin"


def test_spaces_may_frame_the_page():
    from webui.headers import content_security_policy

    assert "frame-ancestors 'self' https://huggingface.co https://*.hf.space" in content_security_policy(spaces=True)


def test_without_the_password_nothing_runs(locked_page):
    with httpx.Client(base_url=locked_page.url, timeout=30) as client:
        assert client.get("config").status_code == 401
        join = client.post("gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x" * 10})
        assert join.status_code == 401
        upload = client.post("gradio_api/upload", files={"files": ("a.txt", b"hello")})
        assert upload.status_code == 401
        assert login(client, "wrong password").status_code == 400
        assert client.get("config").status_code == 401


def test_with_the_password_the_page_opens(locked_page):
    with httpx.Client(base_url=locked_page.url, timeout=30) as client:
        assert login(client, PASSWORD).status_code == 200
        assert client.get("config").status_code == 200


def test_uploads_obey_the_upload_cap(locked_page):
    with httpx.Client(base_url=locked_page.url, timeout=30) as client:
        assert login(client, PASSWORD).status_code == 200
        small = client.post("gradio_api/upload", files={"files": ("small.txt", b"x" * 1000)})
        assert small.status_code == 200, small.text
        big = client.post("gradio_api/upload", files={"files": ("big.txt", b"x" * 5000)})
        assert big.status_code == 413, big.text


def test_gradio_cleans_its_upload_cache(locked_page):
    from pathlib import Path

    with httpx.Client(base_url=locked_page.url, timeout=30) as client:
        assert login(client, PASSWORD).status_code == 200
        resp = client.post("gradio_api/upload", files={"files": ("kept-briefly.txt", b"x" * 100)})
        assert resp.status_code == 200, resp.text
    stored = Path(resp.json()[0])
    assert stored.exists()
    deadline = time.monotonic() + 15
    while stored.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not stored.exists(), "an upload older than the cache age is still in Gradio's cache"


def test_accounts_from_the_environment():
    assert Accounts.from_env({}) is None
    accounts = Accounts.from_env({"AGENT_USERS": "alice:one, bob:two:three", "AGENT_PASSWORD": ""})
    assert accounts is not None
    assert accounts.check("alice", "one") and accounts.check("bob", "two:three")
    assert not accounts.check("alice", "two:three") and not accounts.check("carol", "one")
    shared = Accounts.from_env({"AGENT_PASSWORD": "pw"})
    assert shared is not None and shared.check("anyone", "pw") and not shared.check("anyone", "")
    assert "pw" not in repr(shared) and "one" not in repr(accounts)
    with pytest.raises(ValueError, match="AGENT_USERS"):
        Accounts.from_env({"AGENT_USERS": "nopassword"})


# ----- message cap and model list, through the page's own API (gradio_client, as a script would) -----------------


@pytest.fixture(scope="module")
def capped_app(claude_server: Any) -> Any:
    from agent.sandbox import SandboxProvider

    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    limits = InputLimits(max_message_bytes=1000, max_request_bytes=64 * 1024)
    yield from serve_page(launch_page(settings, provider, hosting=Hosting(limits=limits)))


def chat(url: str, text: str, model: str, key: str = "") -> str:
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        result = client.predict({"text": text, "files": []}, model, key, api_name="/chat")
    finally:
        client.close()
    return str(result)


def test_a_message_over_the_cap_is_refused_before_the_model(capped_app, claude):
    claude.push(text_reply("should not be sent"))
    reply = chat(capped_app.url, "x" * 1500, "claude-sonnet-5-5")
    assert "too long" in reply and "1000 bytes" in reply
    time.sleep(0.5)
    assert claude.requests == [], "the over-long message reached the model"


def test_the_early_start_listener_cannot_get_around_the_message_cap_or_the_model_list(capped_app, claude):
    """The Enter key's fast listener (``start_early``) is an API endpoint too: a script calling it directly with a
    message over the cap, or a model not offered, starts nothing."""
    from tests.webui.test_session_limits import direct_call

    claude.push(text_reply("should not be sent"), text_reply("should not be sent either"))
    too_long = [{"text": "x" * 1500, "files": []}, [], "claude-sonnet-5-5", ""]
    unlisted = [{"text": "hi", "files": []}, [], "claude-some-unlisted-model", ""]
    for data, key in ((too_long, "earlylong01"), (unlisted, "earlymodel1")):
        direct_call(capped_app.url, capped_app.demo, "start_early", data, key)
        session = capped_app.registry.get(key)
        assert session is None or session.agent.turn is None, "the early start began a turn"
    time.sleep(0.5)
    assert claude.requests == [], "the early start sent a refused message to the model"


def test_a_request_body_over_the_cap_is_refused_before_the_app_reads_it(capped_app, claude):
    """Gradio reads and parses a whole body in memory (about three times its size at the peak): a body over
    AGENT_MAX_REQUEST gets 413 and plain words, whether its length is declared or it comes in chunks."""
    from tests.webui.test_session_limits import fn_index

    data = {"data": [{"text": "hi", "files": []}, [{"role": "user", "content": "y" * 100_000}], "", ""],
            "fn_index": fn_index(capped_app.demo, "chat"), "session_hash": "bigbody0001"}
    body = json.dumps(data).encode()
    with httpx.Client(base_url=capped_app.url, timeout=30) as client:
        declared = client.post("gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        chunked = client.post("gradio_api/queue/join", content=iter([body[:50_000], body[50_000:]]),
                              headers={"content-type": "application/json"})
        upload = client.post("gradio_api/upload", files={"files": ("notes.txt", b"z" * 100_000)})
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert "larger than 64 KB, the most this page accepts" in answer.json()["detail"]
        assert "form-action 'self'" in answer.headers.get("content-security-policy", "")
    assert upload.status_code == 200, "uploads keep their own (larger) cap"
    assert capped_app.registry.get("bigbody0001") is None and claude.requests == []


def test_the_operators_key_runs_only_listed_models(capped_app, claude):
    claude.push(text_reply("listed model ok"))
    assert "listed model ok" in chat(capped_app.url, "hi", "claude-haiku-4-5")
    reply = chat(capped_app.url, "hi", "claude-some-unlisted-model")
    assert "not offered here" in reply
    assert [r.body["model"] for r in claude.requests] == ["claude-haiku-4-5"]


def test_a_visitors_own_key_may_name_any_model(capped_app, claude):
    claude.push(text_reply("own key ok"))
    assert "own key ok" in chat(capped_app.url, "hi", "claude-some-unlisted-model", key="visitor-own-key")
    assert claude.requests[-1].body["model"] == "claude-some-unlisted-model"


def test_size_settings_from_the_environment():
    from webui.limits import human_size, parse_size

    assert parse_size("X", "100kb") == 100 * 1024 and parse_size("X", "20 MB") == 20 * 1024**2
    assert parse_size("X", "2000") == 2000 and parse_size("X", "1gib") == 1024**3
    for bad in ("", "abc", "10 parsecs", "0kb", "-5mb"):
        with pytest.raises(ValueError, match="AGENT_MAX_MESSAGE"):
            parse_size("AGENT_MAX_MESSAGE", bad)
    limits = InputLimits.from_env({"AGENT_MAX_MESSAGE": "1kb", "AGENT_MAX_UPLOAD": "5mb", "AGENT_MAX_REQUEST": "2mb"})
    assert (limits.max_message_bytes, limits.max_upload_bytes) == (1024, 5 * 1024**2)
    assert limits.max_request_bytes == 2 * 1024**2 and InputLimits().max_request_bytes == 8 * 1024**2
    assert InputLimits.from_env({}) == InputLimits()
    assert limits.message_problem("é" * 600) is not None and limits.message_problem("e" * 1024) is None
    assert human_size(100 * 1024) == "100 KB" and human_size(1536) == "1.5 KB"
    with pytest.raises(ValueError, match="AGENT_CACHE_MAX_AGE"):
        Hosting.from_env({"AGENT_CACHE_MAX_AGE": "soon"})
    with pytest.raises(ValueError, match="AGENT_MAX_UPLOAD"):
        Hosting.from_env({"AGENT_MAX_UPLOAD": "big"})


def test_public_pages_without_a_password_are_logged(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="webui.hosting"):
        Hosting.from_env({"GRADIO_SERVER_NAME": "0.0.0.0"}).launch_kwargs()
    assert "no password" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="webui.hosting"):
        kwargs = Hosting.from_env({"GRADIO_SERVER_NAME": "0.0.0.0", "AGENT_PASSWORD": "pw"}).launch_kwargs()
    assert "no password" not in caplog.text and callable(kwargs["auth"])
