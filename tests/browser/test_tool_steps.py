"""Tool steps on the real page, drawn from each tool's display hints: an edit shows its change as a diff."""

from __future__ import annotations

import time

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send, wait_idle, wait_until
from tests.support.claude_standin import ToolUse, text_reply, tool_reply
from webui.render import STOPPED_NOTE

pytestmark = pytest.mark.browser


def test_an_edit_step_shows_the_change_as_a_diff(page, claude):
    claude.push(
        tool_reply(ToolUse("write_file", {"path": "app.py", "content": "x = 1\ny = 2\nprint(x + y)\n"})),
        tool_reply(ToolUse("edit_file", {"path": "app.py", "old_text": "y = 2", "new_text": "y = 40"})),
        tool_reply(ToolUse("run_command", {"command": "python3 app.py"})),
        text_reply("It prints 41 now."),
    )
    send(page, "Make it print 41")
    page.get_by_text("It prints 41 now.").wait_for(timeout=90_000)
    step = page.get_by_text("Edited app.py").first
    step.wait_for(timeout=10_000)
    if "+y = 40" not in bot_text(page):
        step.click()  # a finished step is folded: open it
    deadline = time.monotonic() + 10
    while "+y = 40" not in bot_text(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = bot_text(page)
    assert "-y = 2" in text and "+y = 40" in text, f"the edit's diff is not shown: {text[-800:]!r}"
    diff = page.locator(".bot pre code[class*='diff']").first
    diff.wait_for(state="visible", timeout=10_000)
    assert "+y = 40" in diff.inner_text(), "the change should be a diff code block"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "edit-file-diff.png"))
    assert "Edited /home/user/app.py" in text or "replaced 1 occurrence" in text, text[-800:]


# ----- in Chromium ----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_shows_literal_titles_one_thought_failed_step_and_port_early(page, claude):
    from tests.support.claude_standin import Reply, Text, Thinking, ToolUse, tool_reply

    command = "echo '<h1>Hi</h1>' **bold** a & b <img src=x> localhost:8000; exit 3"
    # The thought streams for ~2 s while the first turn's sandbox boots (status events arrive mid-thought).
    claude.push(
        tool_reply(ToolUse("run_command", {"command": command}), thinking=Thinking("Let me try that. " * 8, chunks=8, delay=0.25)),
        Reply((Text("It failed; the port was 8000. " * 4, chunks=12, delay=0.4),)),
    )
    send(page, "Run the odd command")
    wait_until(lambda: "— failed" in bot_text(page), 60, "the failed step")
    page.get_by_text("Preview a web app").click()
    port = page.get_by_label("Port in the sandbox")
    wait_until(lambda: port.input_value() == "8000", 5, "the Preview port to show 8000 while the turn still runs")
    assert page.locator("button.stop-button").count() == 1, "the turn was already over: the port came too late"
    wait_idle(page)
    text = bot_text(page)
    assert "<h1>Hi</h1>" in text and "**bold**" in text and "a & b" in text and "<img src=x>" in text, text
    assert page.locator(".bot h1").count() == 0, "the command's HTML was rendered as a heading"
    assert page.locator(".bot img[src='x']").count() == 0, "the command's <img> became a live image"
    assert text.count("Thinking") == 1, f"one thought shown as several steps:\n{text}"
    assert "⚠️" in text
    page.get_by_text("— failed").first.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review-fixes-titles.png"))


@pytest.mark.browser
def test_stop_while_thinking_says_stopped_and_next_message_works(page, claude):
    from tests.support.claude_standin import Reply, Text, Thinking, text_reply

    claude.push(Reply((Thinking("pondering " * 40, chunks=40, delay=0.25), Text("never shown"))))
    send(page, "Think for a long time")
    wait_until(lambda: "Thinking" in bot_text(page), 30, "the thinking step")
    page.locator("button.stop-button").click()
    wait_idle(page, timeout=10)
    wait_until(lambda: STOPPED_NOTE in bot_text(page), 5, "the Stopped note")
    time.sleep(1.0)  # a late frame from the cancelled turn must not wipe or double the note
    assert bot_text(page).count(STOPPED_NOTE) == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review-fixes-stopped.png"))
    claude.push(text_reply("Still here."))
    send(page, "Hello again")
    wait_until(lambda: "Still here." in bot_text(page), 30, "the next answer")
    wait_idle(page)
    texts = str(claude.requests[-1].messages)
    assert "Hello again" in texts and "Think for a long time" in texts, "the conversation was not kept"
    assert STOPPED_NOTE not in texts, "the page's note leaked into what the model is sent"
