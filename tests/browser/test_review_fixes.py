"""Review findings on the chat page, each pinned by a test: inert step titles, one Thinking step per thought,
a visible "Stopped." after Stop, failed steps that stand out, and the Preview port following the turn.

Unit tests on the renderer and the Stop helpers run without a browser; the browser tests at the end check
what Chromium really shows (Gradio renders step titles as Markdown with HTML, so only a browser can tell).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import gradio as gr
import pytest

from agent.events import (
    Done,
    SandboxStatus,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolResult,
    ToolRunning,
    Usage,
    UsageUpdate,
)
from agent.presenter import one_line
from tests.browser.page_helpers import SHOTS, bot_text, send
from webui.chat import add_stopped_note, mark_pending_stopped
from webui.render import STOPPED_NOTE, TurnRenderer, inert, render_events, tool_title

NASTY = "echo '<h1>Hi</h1>' **bold** a & b <img src=x onerror=alert(1)> `tick` [l](http://x.test) $$x$$"


def _clock():
    ticks = itertools.count()
    return lambda: float(next(ticks))


# ----- 1. step titles are inert text --------------------------------------------------------------------------


def test_title_escapes_html_and_markdown_metacharacters():
    assert tool_title("run_command", {"command": "echo '<b>'"}) == "Ran a command\\: echo \\'&lt;b&gt;\\'"
    title = inert(NASTY)
    for raw in ("<", ">", "**", "[l]", "$$"):
        assert raw not in title, f"{raw!r} would be rendered, not shown"
    assert "\\`tick\\`" in title and "&lt;h1&gt;" in title and "a &amp; b" in title and "\\*\\*bold\\*\\*" in title
    assert inert("a_b # c") == "a\\_b \\# c"


def test_title_is_cut_before_escaping_so_no_entity_is_split():
    command = "x" * (59 - 3) + "<<<<<<<<"  # the cut falls inside the run of "<"
    title = tool_title("run_command", {"command": command})
    summary = title.split("\\: ", 1)[1]
    assert summary.endswith("&lt;&lt;…"), summary
    assert summary.replace("&lt;", "<") == one_line(command)
    assert not summary.endswith("&"), "an entity was cut in half"


# ----- 2. one thought, one Thinking step ------------------------------------------------------------------------


def test_sandbox_status_and_usage_do_not_split_a_thought():
    r = TurnRenderer(clock=_clock())
    r.feed(ThinkingDelta("first half, "))
    r.feed(SandboxStatus("starting", "local"))
    r.feed(SandboxStatus("ready", "local", "sbx1"))
    r.feed(UsageUpdate(Usage(1, 2), Usage(1, 2)))
    r.feed(ThinkingDelta("second half"))
    r.feed(TextDelta("Answer"))
    r.feed(Done("end_turn"))
    msgs = r.messages()
    thinking = [m for m in msgs if m.metadata.get("title") == "Thinking"]
    assert len(thinking) == 1, [m.metadata for m in msgs]
    assert thinking[0].content == "first half, second half"
    assert thinking[0].metadata["status"] == "done"
    assert msgs[-1].content == "Answer"


def test_sandbox_note_during_a_thought_goes_above_it():
    r = TurnRenderer(clock=_clock())
    r.feed(ThinkingDelta("hmm "))
    r.feed(SandboxStatus("restarted", "local", "sbx2"))
    r.feed(ThinkingDelta("still thinking"))
    note, step = r.messages()
    assert "restarted" in note.content
    assert step.metadata["title"] == "Thinking" and step.metadata["status"] == "pending"
    assert step.content == "hmm still thinking"


# ----- 3. Stop leaves a visible note --------------------------------------------------------------------------


def _user(text: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}], "metadata": None}


def test_stop_during_thinking_or_text_adds_one_stopped_note():
    value = [
        _user("hi"),
        {"role": "assistant", "content": [{"type": "text", "text": "let me"}],
         "metadata": {"title": "Thinking", "status": "pending"}},
        {"role": "assistant", "content": [{"type": "text", "text": "Half an ans"}], "metadata": None},
    ]
    out = add_stopped_note(mark_pending_stopped(value))
    assert out[1]["metadata"]["status"] == "done"
    assert out[-1] == {"role": "assistant", "content": STOPPED_NOTE}
    assert len(add_stopped_note(out)) == len(out), "a second Stop must not add a second note"
    browser_shape = out[:-1] + [{"role": "assistant", "content": [{"type": "text", "text": STOPPED_NOTE}], "metadata": None}]
    assert len(add_stopped_note(list(browser_shape))) == len(browser_shape)
    only_user = add_stopped_note([_user("hi")])
    assert only_user[-1]["content"] == STOPPED_NOTE, "Stop before any reply must still say so"
    assert gr.Chatbot(render=False).postprocess(out).model_dump()[-1]["content"][0]["text"] == STOPPED_NOTE


def test_stop_listener_notes_a_running_turn_but_not_a_finished_one():
    from types import SimpleNamespace

    from webui.chat import ChatController

    def press_stop(stop_requested: bool) -> list:
        turn = SimpleNamespace(running=False, stop_requested=stop_requested)  # the turn has ended
        session = SimpleNamespace(agent=SimpleNamespace(turn=turn))
        session.request_stop = lambda: setattr(turn, "stop_requested", True)
        controller = ChatController(SimpleNamespace(get=lambda key: session))
        value, state = controller.stop([_user("hi"), {"role": "assistant", "content": "Done."}],
                                       SimpleNamespace(session_hash="k"))
        assert value is state and turn.stop_requested
        return value

    assert press_stop(stop_requested=True)[-1]["content"] == STOPPED_NOTE  # Gradio's cancel landed first
    assert press_stop(stop_requested=False)[-1]["content"] == "Done.", "a finished answer got a Stopped note"


def test_renderer_stop_note_matches_the_page_note():
    r = TurnRenderer(clock=_clock())
    r.feed(TextDelta("partial"))
    r.stop()
    assert r.messages()[-1].content == STOPPED_NOTE


# ----- 4. failed steps stand out --------------------------------------------------------------------------------


def test_failed_step_title_says_failed_with_a_warning_mark():
    msgs = render_events(
        [
            ToolRunning("t1", "run_command", {"command": "ls /nope"}),
            ToolFinished("t1", "run_command", ToolResult(output="No such file\nExit code 2", is_error=True), 0.04),
        ]
    )
    title = msgs[0].metadata["title"]
    assert title.startswith("⚠️ ") and title.endswith(" — failed"), title
    ok = render_events([ToolRunning("t2", "run_command", {"command": "ls"}),
                        ToolFinished("t2", "run_command", ToolResult(output="a"), 0.01)])
    assert "⚠️" not in ok[0].metadata["title"] and "failed" not in ok[0].metadata["title"]


# ----- in Chromium ----------------------------------------------------------------------------------------------



def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _idle(page: Any, timeout: float = 60.0) -> None:
    page.locator("button.stop-button").wait_for(state="detached", timeout=timeout * 1000)


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
    _wait(lambda: "— failed" in bot_text(page), 60, "the failed step")
    page.get_by_text("Preview a web app").click()
    port = page.get_by_label("Port in the sandbox")
    _wait(lambda: port.input_value() == "8000", 5, "the Preview port to show 8000 while the turn still runs")
    assert page.locator("button.stop-button").count() == 1, "the turn was already over: the port came too late"
    _idle(page)
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
    _wait(lambda: "Thinking" in bot_text(page), 30, "the thinking step")
    page.locator("button.stop-button").click()
    _idle(page, timeout=10)
    _wait(lambda: STOPPED_NOTE in bot_text(page), 5, "the Stopped note")
    time.sleep(1.0)  # a late frame from the cancelled turn must not wipe or double the note
    assert bot_text(page).count(STOPPED_NOTE) == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review-fixes-stopped.png"))
    claude.push(text_reply("Still here."))
    send(page, "Hello again")
    _wait(lambda: "Still here." in bot_text(page), 30, "the next answer")
    _idle(page)
    texts = str(claude.requests[-1].messages)
    assert "Hello again" in texts and "Think for a long time" in texts, "the conversation was not kept"
    assert STOPPED_NOTE not in texts, "the page's note leaked into what the model is sent"
