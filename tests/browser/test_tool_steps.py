"""Tool steps on the real page, drawn from each tool's display hints: an edit shows its change as a diff."""

from __future__ import annotations

import time

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

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
