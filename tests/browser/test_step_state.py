"""A step's final state never changes afterwards: stopped, failed and finished steps keep their marks (and the
"■ Stopped." note stays) through later turns, on the real page (the handler and renderer checks are in
tests/webui/test_step_state.py)."""

from __future__ import annotations

import time

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send, wait_idle, wait_until
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

STUBBORN = "trap '' TERM INT HUP; sleep 60 & wait; sleep 60"


@pytest.mark.browser
def test_stopped_failed_and_finished_steps_keep_their_state_through_two_more_turns(browser, app, claude):
    """On a phone-sized page in dark mode: one turn with a finished, a failed and a stopped step; two more turns.

    The long command ignores polite stop signals, so the turn's own last frame comes late and Gradio's cancel may
    win the race: the page's Stop marking and the next turn's check must keep the step stopped. (A plain
    ``sleep`` dies so fast that the turn's last frame would show it stopped without either.)"""
    claude.push(
        tool_reply(ToolUse("run_command", {"command": "echo fine"})),
        tool_reply(ToolUse("run_command", {"command": "ls /no-such-folder"})),
        tool_reply(ToolUse("run_command", {"command": STUBBORN})),
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(app.url)
        page.get_by_test_id("textbox").wait_for(timeout=30_000)
        send(page, "Run three things")
        wait_until(lambda: "sleep 60" in bot_text(page) and "running" in bot_text(page), 60,
                   "the long command to run")
        time.sleep(0.5)
        page.locator("button.stop-button").click()
        wait_idle(page, timeout=10)
        wait_until(lambda: "Stopped." in bot_text(page), 5, "the stopped note")
        expected = steps_of(page)
        assert [state for _, state in expected] == ["done", "failed", "stopped"], expected
        for n in (1, 2):
            claude.push(text_reply(f"Answer {n}."))
            send(page, f"Next message {n}")
            wait_until(lambda: f"Answer {n}." in bot_text(page), 30, f"answer {n}")
            wait_idle(page)
            time.sleep(0.5)  # a late frame would land now
            text = bot_text(page)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"steps-after-stop-turn-{n}-phone-dark.png"), full_page=True)
            assert steps_of(page) == expected, f"after turn {n} the steps changed: {steps_of(page)} != {expected}"
            assert "running…" not in text, f"after turn {n} a step shows running again: {text!r}"
            assert page.locator(".bot .loading-spinner").count() == 0, f"a spinner came back after turn {n}"
            assert text.count("■ Stopped.") == 1, f"the stopped note is gone after turn {n}: {text!r}"
    finally:
        context.close()


def steps_of(page) -> list[tuple[str, str]]:
    """Each step's title and state (done, failed, stopped, pending) as the page shows them."""
    out = []
    for title, log, spinner in page.evaluate("""() => Array.from(document.querySelectorAll('.bot .thought-group'))
        .map(group => {
            const head = group.querySelector(':scope > *:first-child');
            const log = head.querySelector('.duration');
            const logText = log ? log.innerText.trim() : '';
            const title = head.innerText.replace(logText, '').trim();
            return [title, logText, !!head.querySelector('.loading-spinner')];
        })"""):
        if spinner or "running" in log or "writing" in log:
            state = "pending"
        elif "stopped" in log:
            state = "stopped"
        elif "failed" in title:
            state = "failed"
        else:
            state = "done"
        out.append((title, state))
    return out
