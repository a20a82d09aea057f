"""Work survives a reload, in Chromium: the same conversation and sandbox after a reload; after the grace period
the chat is still there and continues on a fresh sandbox with a plain note; leaving during a reply asks first, and staying keeps the page working;
"New chat" asks, then clears the conversation and deletes the sandbox.

Each test has its own browser context (its own storage, so its own stored conversation) on a page launched here
with a grace period of its own; the model is the Claude stand-in, the sandboxes are real local ones.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import base_settings, launch_page, serve_page
from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY
from tests.support.claude_standin import ToolUse, text_reply, tool_reply
from tests.webui.test_session_limits import live_sandbox_ids, wait_until
from webui.admission import Caps, SessionPolicy
from webui.page import STORAGE_KEY
from webui.resume import FILES_GONE_NOTE

pytestmark = pytest.mark.browser

NOTES = "kept across reloads"


def _launch(claude_server: Any, grace: float) -> Any:
    from agent.sandbox import SandboxProvider

    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    return launch_page(settings, provider, sessions=SessionPolicy(reconnect_grace_s=grace,
                                                                  caps=Caps(per_client=50, total=50)))


@pytest.fixture(scope="module")
def reloading(claude_server: Any) -> Any:
    yield from serve_page(_launch(claude_server, grace=20))


@pytest.fixture(scope="module")
def forgetful(claude_server: Any) -> Any:
    yield from serve_page(_launch(claude_server, grace=1.5))


def open_page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.get_by_test_id("textbox").wait_for(timeout=30_000)
    return page


def wait_idle(page: Any, timeout: float = 60.0) -> None:
    page.locator("button.stop-button").wait_for(state="detached", timeout=timeout * 1000)
    page.locator("button.submit-button").wait_for(state="visible", timeout=timeout * 1000)


def save_notes(page: Any, claude: Any) -> None:
    """One turn that writes notes.txt in the sandbox; waits until the browser has stored the chat."""
    claude.push(tool_reply(ToolUse("write_file", {"path": "notes.txt", "content": NOTES})),
                text_reply("Saved your notes."))
    send(page, "Save my notes")
    wait_until(lambda: "Saved your notes." in bot_text(page), 60, "the reply")
    wait_idle(page)
    before = page.evaluate(f"() => localStorage.getItem({STORAGE_KEY!r})")
    time.sleep(1.0)  # the browser stores the chat right after the turn's end
    assert before is not None, "the browser stored nothing for this conversation"


def only_conversation(app: Any) -> Any:
    """The one conversation a page is using (earlier tests' closed tabs may still be in their grace period)."""
    sessions = [s for s in app.registry.conversations() if s.session_hash is not None]
    assert len(sessions) == 1, f"{len(sessions)} conversations in use on the server, expected one"
    return sessions[0]


def open_with_notes(context: Any, app: Any, claude: Any) -> tuple[Any, Any, str]:
    """Open the page and save notes in its sandbox: the page, its one conversation and that sandbox's id."""
    page = open_page(context, app.url)
    save_notes(page, claude)
    session = only_conversation(app)
    return page, session, session.agent.sandbox_status().sandbox_id


def test_a_reload_keeps_the_conversation_and_the_sandbox(browser, reloading, claude):
    app = reloading
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page, session, sandbox_id = open_with_notes(context, app, claude)
        assert sandbox_id in live_sandbox_ids(app.provider)

        page.reload()
        page.get_by_test_id("textbox").wait_for(timeout=30_000)
        wait_until(lambda: "Saved your notes." in bot_text(page), 20, "the conversation to show again after reload")
        assert "Save my notes" in page.locator(".user").first.inner_text()
        assert FILES_GONE_NOTE.split(":")[0] not in bot_text(page), "the page says the files are gone; they are not"
        page.screenshot(path=str(SHOTS / "reload-kept.png"))
        assert only_conversation(app) is session, "the reload got another conversation"
        assert session.agent.sandbox_status().sandbox_id == sandbox_id
        time.sleep(app.registry.policy.reconnect_grace_s / 4)
        assert sandbox_id in live_sandbox_ids(app.provider), "the sandbox was killed across the reload"

        claude.push(tool_reply(ToolUse("read_file", {"path": "notes.txt"})), text_reply("Read them back."))
        send(page, "Read my notes back")
        wait_until(lambda: "Read them back." in bot_text(page), 60, "the next reply")
        sent = str(claude.requests[-1].messages)
        assert NOTES in sent, "the file written before the reload is gone"
        assert "Save my notes" in sent, "the model lost the conversation from before the reload"
        assert session.agent.sandbox_status().sandbox_id == sandbox_id
    finally:
        context.close()
    wait_until(lambda: session not in app.registry.conversations(), 60, "the conversation to close after the tab closed")


def test_after_the_grace_period_the_chat_continues_on_a_new_sandbox(browser, forgetful, claude):
    app = forgetful
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = open_page(context, app.url)
        save_notes(page, claude)
        sandbox_id = only_conversation(app).agent.sandbox_status().sandbox_id
        page.close()  # the tab is closed; the browser (and its storage) stays
        wait_until(lambda: len(app.registry) == 0 and sandbox_id not in live_sandbox_ids(app.provider), 30,
                   "the sandbox to be freed after the grace period")

        page = open_page(context, app.url)
        wait_until(lambda: "Saved your notes." in bot_text(page), 20, "the earlier chat to show again")
        wait_until(lambda: "files, installed packages and running programs from before are gone" in bot_text(page),
                   10, "the note that the files are gone")
        assert FILES_GONE_NOTE.split(":")[0] in bot_text(page)
        page.screenshot(path=str(SHOTS / "reload-after-grace.png"))

        claude.push(text_reply("Carrying on."))
        send(page, "Go on")
        wait_until(lambda: "Carrying on." in bot_text(page), 60, "the reply on the new sandbox")
        sent = str(claude.requests[-1].messages)
        assert "Save my notes" in sent and "Saved your notes." in sent, "the model did not get the earlier chat"
        assert "fresh one" in sent and "gone" in sent, "the model was not told the sandbox is new"
        new_id = only_conversation(app).agent.sandbox_status().sandbox_id
        assert new_id and new_id != sandbox_id
    finally:
        context.close()


TICKS = "for i in $(seq 1 40); do echo tick $i; sleep 0.5; done"


def leave(page: Any, answer: str) -> list[str]:
    """Try to close the tab; the browser's question (if any) is answered ``answer`` ("stay" or "leave")."""
    asked: list[str] = []

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss() if answer == "stay" else dialog.accept()

    page.on("dialog", on_dialog)
    page.close(run_before_unload=True)
    for _ in range(50):  # Playwright hands out the dialog event while one of its calls runs
        if asked or page.is_closed():
            break
        try:
            page.wait_for_timeout(200)
        except PlaywrightError:  # the page went meanwhile
            break
    page.remove_listener("dialog", on_dialog)
    return asked


def ticks(page: Any) -> int:
    return bot_text(page).count("tick ")


def test_leaving_during_a_reply_asks_first_and_staying_keeps_the_page_working(browser, reloading, claude):
    app = reloading
    context = browser.new_context()
    try:
        idle = open_page(context, app.url)
        claude.push(text_reply("Nothing running now."))
        send(idle, "Hello")
        wait_until(lambda: "Nothing running now." in bot_text(idle), 60, "the reply")
        wait_idle(idle)
        with idle.expect_event("close", timeout=10_000):
            assert leave(idle, "stay") == [], "the page asked before leaving although nothing was running"

        page = open_page(context, app.url)
        claude.push(tool_reply(ToolUse("run_command", {"command": TICKS})))  # stopped before Claude is asked again
        send(page, "Run something long")
        wait_until(lambda: ticks(page) >= 2, 30, "the command's first output")
        session = only_conversation(app)
        assert leave(page, "stay") == ["beforeunload"], "leaving during a reply did not ask first"
        assert not page.is_closed(), "the page closed although leaving was declined"

        # The visitor stayed: the reply goes on streaming (Gradio's own listener did not close the connection)...
        shown = ticks(page)
        wait_until(lambda: ticks(page) >= shown + 3, 15, "the reply to keep streaming after choosing to stay")
        # ... Stop still works ...
        page.locator("button.stop-button").click()
        wait_idle(page, 15)
        wait_until(lambda: "Stopped." in bot_text(page), 10, "the Stopped note")
        # ... the next message is answered in the same conversation, on the same sandbox ...
        claude.push(text_reply("Still here."))
        send(page, "Are you there?")
        wait_until(lambda: "Still here." in bot_text(page), 60, "the next reply after staying")
        wait_idle(page)
        # ... and the server still sees the tab: its heartbeat is open, the conversation not left for closing.
        assert only_conversation(app) is session and not session.closed
        assert app.registry.heartbeats.is_live(session.session_hash), "the page's heartbeat closed after staying"
        assert session.detached_at is None, "the server took the tab for gone after staying"
        page.screenshot(path=str(SHOTS / "leave-declined.png"))

        claude.push(tool_reply(ToolUse("run_command", {"command": TICKS})))  # stopped before Claude is asked again
        send(page, "Run something long again")
        wait_until(lambda: ticks(page) >= shown + 5, 30, "the second command's output")
        assert leave(page, "leave") == ["beforeunload"]
        wait_until(page.is_closed, 10, "the page to close when the visitor chose to leave")
        wait_until(lambda: session.detached_at is not None or session.closed, 30,
                   "the server to see the page gone after the visitor chose to leave")
    finally:
        context.close()


def test_new_chat_asks_then_clears_the_conversation_and_the_sandbox(browser, reloading, claude):
    app = reloading
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page, session, sandbox_id = open_with_notes(context, app, claude)
        new_chat = page.get_by_role("button", name="New chat")
        assert new_chat.is_visible()

        page.once("dialog", lambda dialog: dialog.dismiss())
        new_chat.click()
        page.wait_for_timeout(1500)
        assert "Saved your notes." in bot_text(page), "declining the question still cleared the chat"
        assert only_conversation(app) is session and sandbox_id in live_sandbox_ids(app.provider)

        questions: list[str] = []

        def accept(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        new_chat.click()
        wait_until(lambda: page.locator(".bot").count() == 0 and page.locator(".user").count() == 0, 15,
                   "the chat to be cleared")
        assert "sandbox" in questions[0] and "files" in questions[0]
        wait_until(lambda: sandbox_id not in live_sandbox_ids(app.provider), 20, "the old sandbox to be deleted")
        assert session.closed and session not in app.registry.conversations()
        assert not [s for s in app.registry.conversations() if s.session_hash is not None]

        claude.push(text_reply("A clean start."))
        send(page, "Hello again")
        wait_until(lambda: "A clean start." in bot_text(page), 60, "the first reply of the new chat")
        assert "Save my notes" not in str(claude.requests[-1].messages), "the new chat still carries the old one"
        page.reload()  # and the browser now remembers the new chat, not the old one
        page.get_by_test_id("textbox").wait_for(timeout=30_000)
        wait_until(lambda: "A clean start." in bot_text(page), 20, "the new chat after a reload")
        assert "Saved your notes." not in bot_text(page)
    finally:
        context.close()
