"""Sessions without a browser, sandbox caps and conversation tickets, over raw HTTP as a script would call the page.

A script that calls ``/gradio_api/queue/join`` itself opens no heartbeat stream, so Gradio never runs ``unload``
for it: these tests check that such a session is closed (sandbox killed, dropped from memory) after its last use,
that it cannot prewarm a sandbox, that one address and everyone together hold at most their cap of sandboxes with a
plain message past it, and that a conversation can be claimed again only with its secret. Real Gradio server,
real local sandboxes, the Claude stand-in for the model.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.browser.conftest import base_settings, launch_page, serve_page
from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY
from tests.support.claude_standin import ToolUse, text_reply, tool_reply
from webui.admission import Caps, SessionPolicy

# ----- raw API calls -----------------------------------------------------------------------------------------


def fn_index(demo: Any, name: str) -> int:
    """The index of the page's listener whose function (or API name) is ``name``."""
    for index, block_fn in demo.fns.items():
        if block_fn.api_name == name or getattr(block_fn.fn, "__name__", "") == name:
            return index
    raise AssertionError(f"no listener {name!r}")


def queued_call(url: str, demo: Any, api: str, data: list, session_hash: str, headers: dict | None = None,
                timeout: float = 60) -> Any:
    """Join the queue and read the event's stream to its end, as a script without a browser does; the output."""
    with httpx.Client(base_url=url, timeout=timeout, headers=headers or {}) as client:
        joined = client.post("gradio_api/queue/join",
                             json={"data": data, "fn_index": fn_index(demo, api), "session_hash": session_hash})
        assert joined.status_code == 200, joined.text
        with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return message["output"]["data"]
    raise AssertionError("the event stream ended without a result")


def direct_call(url: str, demo: Any, name: str, data: list, session_hash: str) -> Any:
    """A listener that is not queued (queue=False), as the page calls it."""
    with httpx.Client(base_url=url, timeout=30) as client:
        resp = client.post("gradio_api/run/predict",
                           json={"data": data, "fn_index": fn_index(demo, name), "session_hash": session_hash})
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]


def chat(url: str, demo: Any, text: str, session_hash: str, headers: dict | None = None) -> str:
    output = queued_call(url, demo, "chat", [{"text": text, "files": []}, [], "", ""], session_hash, headers)
    return json.dumps(output[0])


class Heartbeat:
    """An open heartbeat stream for ``session_hash``, as a browser page keeps one."""

    def __init__(self, url: str, session_hash: str) -> None:
        self._client = httpx.Client(base_url=url, timeout=None)
        self._stream = self._client.stream("GET", f"gradio_api/heartbeat/{session_hash}")
        self._response = self._stream.__enter__()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            for _ in self._response.iter_bytes():
                pass
        except Exception:
            pass

    def close(self) -> None:
        self._client.close()


def live_sandbox_ids(provider: Any) -> set[str]:
    from e2b_code_interpreter import Sandbox

    with ThreadPoolExecutor(1) as pool:
        opts = pool.submit(asyncio.run, provider.sdk_options()).result()
    paginator = Sandbox.list(**opts)
    ids: set[str] = set()
    while paginator.has_next:
        ids.update(info.sandbox_id for info in paginator.next_items())
    return ids


def wait_until(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def new_hash() -> str:
    return uuid.uuid4().hex[:11]


def sandbox_ids(demo: Any) -> set[str]:
    ids = set()
    for session in demo.registry.conversations():
        status = session.agent.sandbox_status()
        if status is not None and status.sandbox_id:
            ids.add(status.sandbox_id)
    return ids


# ----- pages -----------------------------------------------------------------------------------------------------


def _page(claude_server: Any, policy: SessionPolicy) -> Any:
    from agent.sandbox import SandboxProvider

    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    return launch_page(settings, provider, sessions=policy)


@pytest.fixture(scope="module")
def short_lived(claude_server: Any) -> Any:
    """Sessions without a browser are closed 3 s after their last use."""
    policy = SessionPolicy(reconnect_grace_s=3, no_browser_timeout_s=3, caps=Caps(per_client=50, total=50))
    yield from serve_page(_page(claude_server, policy))


@pytest.fixture(scope="module")
def capped(claude_server: Any) -> Any:
    """Two sandboxes per address, three in all; X-Forwarded-For is not trusted.

    uvicorn itself takes X-Forwarded-For from peers on loopback (a reverse proxy on the same machine); these test
    clients stand for visitors connecting directly, so that is switched off for this page.
    """
    saved = os.environ.get("FORWARDED_ALLOW_IPS")
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    try:
        running = _page(claude_server, SessionPolicy(no_browser_timeout_s=60, caps=Caps(per_client=2, total=3)))
    finally:
        if saved is None:
            os.environ.pop("FORWARDED_ALLOW_IPS", None)
        else:
            os.environ["FORWARDED_ALLOW_IPS"] = saved
    yield from serve_page(running)


@pytest.fixture(scope="module")
def behind_proxy(claude_server: Any) -> Any:
    """Behind a trusted proxy (as on Spaces): one sandbox per forwarded address, two in all."""
    policy = SessionPolicy(no_browser_timeout_s=60, caps=Caps(per_client=1, total=2), trust_proxy=True)
    yield from serve_page(_page(claude_server, policy))


# ----- sessions without a browser --------------------------------------------------------------------------------


def test_a_session_without_a_browser_is_closed_after_its_last_use(short_lived, claude):
    app = short_lived
    claude.push(tool_reply(ToolUse("write_file", {"path": "kept.txt", "content": "hello"})), text_reply("Saved."))
    key = new_hash()
    assert "Saved." in chat(app.url, app.demo, "Save a file", key)
    session = app.registry.get(key)
    assert session is not None
    sandbox_id = session.agent.sandbox_status().sandbox_id
    assert sandbox_id in live_sandbox_ids(app.provider)
    download = session.artifacts.write_download("kept.txt", b"hello")  # a download copy in Gradio's cache
    assert key in app.demo.state_holder.session_data and key in app.demo.controller._handled
    took = wait_until(lambda: app.registry.get(key) is None and len(app.registry) == 0, 20,
                      "the script's session to be closed")
    assert took < 10, f"closed {took:.1f} s after its last use (timeout 3 s)"
    wait_until(lambda: sandbox_id not in live_sandbox_ids(app.provider), 10, "the script's sandbox to be killed")
    wait_until(lambda: app.registry.slots.held() == 0, 10, "the closed session's sandbox slot to be free")
    # Nothing of it stays in memory or on disk: Gradio's own per-session values (its copy of the chat), what the
    # chat handler kept for the page load, the session's files.
    assert key not in app.demo.state_holder.session_data, "Gradio still keeps the closed session's values"
    assert key not in app.demo.controller._handled and key not in app.demo.controller._started
    assert not download.exists() and not session.artifacts.folder.exists(), "the session's files were kept"


def test_a_session_with_a_live_browser_is_kept_and_closes_with_it(short_lived, claude):
    app = short_lived
    key = new_hash()
    heartbeat = Heartbeat(app.url, key)
    try:
        wait_until(lambda: app.registry.is_live(key), 10, "the heartbeat to be seen")
        claude.push(text_reply("Still here."))
        assert "Still here." in chat(app.url, app.demo, "Hello", key)
        time.sleep(6)  # twice the no-browser timeout
        assert app.registry.get(key) is not None, "a session with a live browser was closed"
    finally:
        heartbeat.close()
    wait_until(lambda: app.registry.get(key) is None and len(app.registry) == 0, 20,
               "the session to close after its browser went away")


def test_a_script_cannot_prewarm_a_sandbox(short_lived):
    app = short_lived
    key = new_hash()
    direct_call(app.url, app.demo, "prewarm", [], key)
    time.sleep(2)
    assert app.registry.get(key) is None and not sandbox_ids(app.demo), "a prewarm without a browser made a session"
    heartbeat = Heartbeat(app.url, key)  # the same call from a page with a live browser does start the sandbox
    try:
        wait_until(lambda: app.registry.is_live(key), 10, "the heartbeat to be seen")
        direct_call(app.url, app.demo, "prewarm", [], key)
        wait_until(lambda: bool(sandbox_ids(app.demo)), 30, "the prewarmed sandbox")
    finally:
        heartbeat.close()
    wait_until(lambda: len(app.registry) == 0, 20, "the prewarmed session to close with its browser")


def test_made_up_session_ids_leave_no_page_values_behind(short_lived):
    """Gradio keeps a copy of the page's values (about 0.1 MB) for every session id a request names, and frees it
    only when a browser's session closes: a script naming a fresh id per call grew the app for good. Those of ids
    that never had a browser go after the no-browser timeout; a live browser's stay."""
    app = short_lived
    holder = app.demo.state_holder
    made_up = [new_hash() for _ in range(20)]
    for key in made_up:
        direct_call(app.url, app.demo, "refresh", [], key)
    browser = new_hash()
    heartbeat = Heartbeat(app.url, browser)
    try:
        wait_until(lambda: app.registry.is_live(browser), 10, "the heartbeat to be seen")
        direct_call(app.url, app.demo, "refresh", [], browser)
        assert all(key in holder.session_data for key in made_up) and browser in holder.session_data
        wait_until(lambda: not any(key in holder.session_data for key in made_up), 20,
                   "Gradio's values of the made-up sessions to be dropped")
        assert browser in holder.session_data, "a live browser's page values were dropped"
    finally:
        heartbeat.close()


# ----- caps ----------------------------------------------------------------------------------------------------


def test_session_settings_from_the_environment():
    policy = SessionPolicy.from_env({})
    assert policy.trust_proxy is False, "X-Forwarded-For must not be trusted unless the operator says so"
    assert policy.caps == Caps(per_client=3, total=20) and policy.no_browser_timeout_s == 120
    assert SessionPolicy.from_env({"AGENT_TRUST_PROXY": "1"}).trust_proxy
    assert SessionPolicy.from_env({}, spaces=True).trust_proxy, "on Spaces the first hop is the visitor"
    tuned = SessionPolicy.from_env({"AGENT_MAX_SANDBOXES_PER_CLIENT": "1", "AGENT_MAX_SANDBOXES": "4",
                                    "AGENT_NO_BROWSER_TIMEOUT": "30", "AGENT_RECONNECT_GRACE": "0"}, kind="local")
    assert tuned.caps == Caps(per_client=1, total=4) and tuned.no_browser_timeout_s == 30
    assert tuned.reconnect_grace_s == 0
    for bad in ({"AGENT_TRUST_PROXY": "maybe"}, {"AGENT_MAX_SANDBOXES": "0"}, {"AGENT_NO_BROWSER_TIMEOUT": "x"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SessionPolicy.from_env(bad)



def test_one_address_holds_at_most_its_cap_of_sandboxes(capped, claude):
    app = capped
    claude.push(text_reply("one"), text_reply("two"))
    keys = [new_hash() for _ in range(3)]
    assert "one" in chat(app.url, app.demo, "hi", keys[0])
    assert "two" in chat(app.url, app.demo, "hi", keys[1])
    third = chat(app.url, app.demo, "hi", keys[2])
    assert "You already have 2 chats open" in third and "Close one" in third, third
    assert "rate" not in third.lower() and "Traceback" not in third
    assert len(claude.requests) == 2, "a message over the cap reached the model"
    wait_until(lambda: len(sandbox_ids(app.demo)) == 2, 30, "the two sandboxes")
    assert app.registry.slots.held("127.0.0.1") == 2
    # X-Forwarded-For is not trusted here: a made-up address does not get around the cap.
    spoofed = chat(app.url, app.demo, "hi", new_hash(), headers={"X-Forwarded-For": "203.0.113.9"})
    assert "You already have 2 chats open" in spoofed
    # Closing one frees its slot for the next chat.
    asyncio.run_coroutine_threadsafe(app.registry.close(keys[0]), app.registry.loop).result(30)
    claude.push(text_reply("after closing one"))
    assert "after closing one" in chat(app.url, app.demo, "hi", keys[2])
    for key in (keys[1], keys[2]):
        asyncio.run_coroutine_threadsafe(app.registry.close(key), app.registry.loop).result(30)


class WaitingChat:
    """A script's chat message sent in the background; ``lines`` collects its event stream as it arrives."""

    def __init__(self, url: str, demo: Any, text: str, forwarded_for: str) -> None:
        self.key = new_hash()
        self.lines: list[str] = []
        self.result: str | None = None
        self._args = (url, demo, text, forwarded_for)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        url, demo, text, forwarded_for = self._args
        data = [{"text": text, "files": []}, [], "", ""]
        with httpx.Client(base_url=url, timeout=120, headers={"X-Forwarded-For": forwarded_for}) as client:
            client.post("gradio_api/queue/join",
                        json={"data": data, "fn_index": fn_index(demo, "chat"), "session_hash": self.key})
            with client.stream("GET", "gradio_api/queue/data", params={"session_hash": self.key}) as stream:
                for line in stream.iter_lines():
                    self.lines.append(line)
                    if "process_completed" in line:
                        self.result = line
                        return

    def saw(self, words: str) -> bool:
        return any(words in line for line in list(self.lines))

    def join(self, timeout: float) -> str:
        self._thread.join(timeout)
        assert self.result is not None, "the chat did not finish"
        return self.result


def test_over_the_total_cap_a_chat_waits_in_line_and_starts_when_a_sandbox_is_free(behind_proxy, claude):
    app = behind_proxy
    first, second = new_hash(), new_hash()
    claude.push(text_reply("first visitor"), text_reply("second visitor"))
    assert "first visitor" in chat(app.url, app.demo, "hi", first, {"X-Forwarded-For": "198.51.100.1, 10.0.0.1"})
    assert "second visitor" in chat(app.url, app.demo, "hi", second, {"X-Forwarded-For": "198.51.100.2"})
    third = WaitingChat(app.url, app.demo, "hi", "198.51.100.3")
    wait_until(lambda: third.saw("The demo is busy: you are next. Your message will start as soon as a sandbox "
                                 "is free."), 20, "the third visitor's place in line")
    fourth = WaitingChat(app.url, app.demo, "hi", "198.51.100.4")
    wait_until(lambda: fourth.saw("The demo is busy: 1 person ahead of you."), 20, "the fourth visitor's place")
    assert app.registry.slots.waiting() == 2 and len(claude.requests) == 2, "a waiting message reached the model"
    assert not any("rate" in line.lower() or "Traceback" in line for line in third.lines)
    # The per-visitor cap is still an immediate refusal.
    again = chat(app.url, app.demo, "hi", new_hash(), {"X-Forwarded-For": "198.51.100.1"})
    assert "You already have 1 chat open" in again, again
    # Stop leaves the line.
    direct_call(app.url, app.demo, "stop", [[]], fourth.key)
    assert "Stopped" in fourth.join(30)
    wait_until(lambda: app.registry.slots.waiting() == 1, 10, "the stopped chat to leave the line")
    # The first visitor leaves: the one waiting gets the sandbox and its message runs.
    claude.push(text_reply("third visitor, after waiting"))
    asyncio.run_coroutine_threadsafe(app.registry.close(first), app.registry.loop).result(30)
    assert "third visitor, after waiting" in third.join(60)
    assert app.registry.slots.waiting() == 0 and app.registry.slots.held() == 2
    assert app.registry.slots.held("198.51.100.3") == 1 and len(claude.requests) == 3
    for key in (second, third.key):
        asyncio.run_coroutine_threadsafe(app.registry.close(key), app.registry.loop).result(30)


# ----- conversation tickets -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reloadable(claude_server: Any) -> Any:
    """A closed tab's conversation is kept 30 s (the default)."""
    yield from serve_page(_page(claude_server, SessionPolicy(caps=Caps(per_client=50, total=50))))


def test_a_conversation_is_given_back_only_with_its_secret(reloadable, claude):
    app = reloadable
    owner = new_hash()
    heartbeat = Heartbeat(app.url, owner)
    wait_until(lambda: app.registry.is_live(owner), 10, "the heartbeat to be seen")
    ticket = direct_call(app.url, app.demo, "load", [None], owner)[2]
    assert set(ticket) == {"id", "secret", "history"} and len(ticket["secret"]) >= 32
    claude.push(text_reply("Mine."))
    assert "Mine." in chat(app.url, app.demo, "Hello", owner)
    session = app.registry.get(owner)
    assert session.key == ticket["id"]
    heartbeat.close()  # the owner's tab goes away: its conversation waits for a reload
    wait_until(lambda: session.session_hash is None, 10, "the conversation to be detached")

    thief = new_hash()
    forged = {"id": ticket["id"], "secret": "x" * 43, "history": []}
    stolen = direct_call(app.url, app.demo, "load", [forged], thief)
    assert stolen[2]["id"] != ticket["id"], "a wrong secret was given the conversation"
    assert app.registry.get(thief) is None and session.session_hash is None
    claude.push(text_reply("Fresh."))
    chat(app.url, app.demo, "What did I say?", thief)
    assert "Hello" not in json.dumps(claude.requests[-1].messages), "the thief's turn saw the owner's chat"
    assert app.registry.get(thief) is not session

    back = new_hash()  # the owner reloads: the right secret gets the same conversation
    direct_call(app.url, app.demo, "load", [ticket], back)
    assert app.registry.get(back) is session
