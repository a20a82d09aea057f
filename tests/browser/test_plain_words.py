"""Plain words on the real page: step titles say what happened, durations have one format, the usage line is
one short phrase with the counts a click away, and an API failure says what to do, its operator details on a
separate line (the test page runs on loopback: a local run)."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.support.claude_standin import ToolUse, text_reply, tool_reply, unauthorized

pytestmark = pytest.mark.browser


def wait_for_text(page, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot_text(page):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {text!r}: {bot_text(page)[-600:]!r}")
        time.sleep(0.1)


def test_steps_durations_and_usage_read_plainly(page, claude):
    claude.push(
        tool_reply(ToolUse("write_file", {"path": "counter-app/index.html", "content": "<p>hi</p>\n"})),
        tool_reply(ToolUse("run_command", {"command": "ls counter-app"})),
        text_reply("All done."),
    )
    send(page, "Make a page")
    wait_for_text(page, "All done.")
    page.locator("button.stop-button").wait_for(state="detached", timeout=30_000)
    text = bot_text(page)
    assert "Wrote counter-app/index.html" in text and "Ran a command: ls counter-app" in text, text
    assert "write_file" not in text and "run_command" not in text, "a tool's code name is shown to people"
    logs = page.locator(".bot .thought-group .duration").all_inner_texts()
    assert logs and all(re.fullmatch(r"\d+(\.\d+)? s|\d+ min( \d+ s)?", log.strip()) for log in logs), logs

    page.locator("#settings").get_by_text("Settings").first.click()
    usage = page.locator("#usage")
    summary = usage.locator("summary")
    summary.wait_for(timeout=10_000)
    assert re.fullmatch(r"(≈ \$\d+\.\d\d|< \$0\.01) so far", summary.inner_text().strip()), summary.inner_text()
    assert usage.locator("details").evaluate("d => !d.open"), "the counts are details on demand, folded at first"
    summary.click()
    page.wait_for_function("() => document.querySelector('#usage details').open")
    assert "tokens read" in usage.inner_text(), usage.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "plain-words-steps-usage.png"))


def test_an_api_failure_says_what_to_do_with_operator_details_apart(page, claude):
    claude.push(unauthorized())
    send(page, "hello")
    wait_for_text(page, "did not accept the API key")
    page.locator("button.stop-button").wait_for(state="detached", timeout=30_000)
    lines = [line for line in bot_text(page).splitlines() if line.strip()]
    said = next(line for line in lines if "did not accept the API key" in line)
    assert "ANTHROPIC" not in said and "401" not in said, said
    assert "Settings" in said, "the instruction names the page's Settings"
    details = [line for line in lines if line.startswith("Details")]
    assert details and "ANTHROPIC_API_KEY" in details[0], lines
