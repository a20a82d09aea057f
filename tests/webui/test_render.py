"""Unit tests for webui.render: events in, chat messages out (no browser, no server).

They live beside the browser tests because they test the same page; they are not marked ``browser``.
"""

from __future__ import annotations

import itertools

import gradio as gr

from agent.events import (
    Artifact,
    Done,
    Error,
    SandboxStatus,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputDelta,
    ToolOutput,
    ToolResult,
    ToolRunning,
    ToolStarted,
    Usage,
    UsageUpdate,
)
from agent.presenter import clip_middle, one_line
from webui.artifacts import ArtifactStore
from webui.render import STOPPED_NOTE, TurnRenderer, fence, inert, render_events, tool_title


def _clock():
    ticks = itertools.count()
    return lambda: float(next(ticks))


def _titles(messages):
    return [m.metadata.get("title") for m in messages]


def test_text_streams_into_one_message():
    r = TurnRenderer(clock=_clock())
    r.feed(TextDelta("Hel"))
    assert [m.content for m in r.messages()] == ["Hel"]
    r.feed(TextDelta("lo"))
    r.feed(Done("end_turn"))
    msgs = r.messages()
    assert [m.content for m in msgs] == ["Hello"]
    assert msgs[0].metadata == {}


def test_thinking_becomes_collapsible_step_done_when_text_starts():
    r = TurnRenderer(clock=_clock())
    r.feed(ThinkingDelta("let me "))
    r.feed(ThinkingDelta("think"))
    (step,) = r.messages()
    assert step.metadata["title"] == "Thinking" and step.metadata["status"] == "pending"
    assert step.content == "let me think"
    r.feed(TextDelta("Answer"))
    step, text = r.messages()
    assert step.metadata["status"] == "done" and step.metadata["log"] == "2.0 s"
    assert text.content == "Answer" and not text.metadata


def test_tool_step_pending_then_done_with_input_output_and_duration():
    r = TurnRenderer(clock=_clock())
    r.feed(ToolStarted("t1", "run_command"))
    (step,) = r.messages()
    assert step.metadata["status"] == "pending" and step.metadata["title"] == "Running a command"
    r.feed(ToolInputDelta("t1", "run_command", '{"command": "npm i', {"command": "npm i"}))
    r.feed(ToolInputDelta("t1", "run_command", 'nstall react"}', {"command": "npm install react"}))
    (step,) = r.messages()
    assert step.metadata["title"] == "Running a command\\: npm install react"
    assert "$ npm install react" in step.content
    r.feed(ToolRunning("t1", "run_command", {"command": "npm install react"}))
    r.feed(ToolOutput("t1", "run_command", "stdout", "added 3 packages\n"))
    (step,) = r.messages()
    assert step.metadata["status"] == "pending" and "added 3 packages" in step.content
    r.feed(ToolFinished("t1", "run_command", ToolResult(output="added 3 packages\nexit code 0"), 1.234))
    (step,) = r.messages()
    assert step.metadata["status"] == "done" and step.metadata["title"] == "Ran a command\\: npm install react"
    assert step.metadata["log"] == "1.2 s" and "duration" not in step.metadata  # one format, not Gradio's
    assert "exit code 0" in step.content and "⚠️" not in step.metadata["title"]


def test_failed_tool_is_marked_in_title():
    msgs = render_events(
        [
            ToolRunning("t1", "execute_code", {"code": "1/0", "language": "python"}),
            ToolFinished("t1", "execute_code", ToolResult(output="ZeroDivisionError", is_error=True), 0.5),
            Done("end_turn"),
        ]
    )
    step = msgs[0]
    assert step.metadata["title"] == "⚠️ Ran Python code — failed"
    assert step.metadata["log"] == "0.5 s" and step.metadata["status"] == "done"
    assert "ZeroDivisionError" in step.content and "```python\n1/0\n```" in step.content


def test_write_file_title_and_language():
    title = tool_title("write_file", {"path": "src/App.jsx", "content": "x"})
    assert title == "Wrote src\\/App\\.jsx"
    msgs = render_events([ToolRunning("t", "write_file", {"path": "src/App.jsx", "content": "export default 1"})])
    assert "```jsx\nexport default 1\n```" in msgs[0].content


def test_stop_marks_pending_steps_stopped_and_adds_note():
    r = TurnRenderer(clock=_clock())
    r.feed(ToolRunning("t1", "run_command", {"command": "sleep 100"}))
    r.feed(Error("cancelled", "Stopped by the user."))
    r.feed(Done("cancelled"))
    step, note = r.messages()
    assert step.metadata["status"] == "done" and step.metadata["log"] == "stopped"
    assert step.metadata["title"] == "■ Stopped while running a command\\: sleep 100"
    assert note.content == "■ Stopped."
    assert not r.has_pending


def test_error_is_a_short_note_and_retry_notice_is_transient():
    r = TurnRenderer(clock=_clock())
    r.feed(Error("overloaded", "Claude is overloaded right now.", retrying=True, retry_after=2))
    assert "Retrying in 2 s" in r.messages()[0].content
    r.feed(TextDelta("ok"))
    assert [m.content for m in r.messages()] == ["ok"]
    r.feed(Error("overloaded", "Claude is overloaded right now. Please try again in a minute."))
    r.feed(Done("error"))
    msgs = r.messages()
    assert msgs[-1].content.startswith("⚠️ Claude is overloaded")
    assert "Traceback" not in msgs[-1].content


def test_png_artifact_is_written_to_cache_and_shown_inline(tmp_path):
    store = ArtifactStore(tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    msgs = render_events(
        [
            ToolRunning("t1", "execute_code", {"code": "plt.show()"}),
            ToolFinished(
                "t1",
                "execute_code",
                ToolResult(artifacts=(Artifact("image/png", png, "chart.png"), Artifact("text/html", "<b>hi</b>"))),
                0.1,
            ),
            TextDelta("Here it is."),
        ],
        artifacts=store,
    )
    step, image, html, text = msgs
    assert image.content["path"].startswith(str(store.folder)) and image.content["path"].endswith(".png")
    assert open(image.content["path"], "rb").read() == png
    assert isinstance(html.content, gr.HTML)
    assert html.content.value.startswith('<iframe sandbox=""'), "sandbox HTML must be framed without scripts"
    assert "&lt;b&gt;hi&lt;/b&gt;" in html.content.value, "the markup must be escaped into srcdoc"
    assert text.content == "Here it is."
    store.cleanup()
    assert not store.folder.exists()


def test_usage_does_not_change_chat_and_sandbox_failure_is_explained():
    r = TurnRenderer(clock=_clock())
    r.feed(UsageUpdate(Usage(1, 2), Usage(1, 2)))
    assert not r.changed and r.messages() == []
    r.feed(SandboxStatus("failed", "local", message="bubblewrap is not installed"))
    assert "bubblewrap is not installed" in r.messages()[0].content


def test_empty_turn_says_no_reply_and_length_limit_is_explained():
    assert render_events([Done("end_turn")])[0].content == "*(No reply.)*"
    msgs = render_events([TextDelta("abc"), Done("max_tokens")])
    assert "length limit" in msgs[-1].content


def test_fence_survives_backticks_and_clip_keeps_head_and_tail():
    text = "a ``` b"
    assert fence(text).startswith("````\n")
    clipped = clip_middle("x" * 100 + "y" * 100, 60)
    assert clipped.startswith("x") and clipped.endswith("y") and "140 characters not shown" in clipped


def test_messages_reuses_objects_and_only_rebuilds_changed_blocks():
    r = TurnRenderer(clock=_clock())
    r.feed(TextDelta("a"))
    first = r.messages()
    r.feed(ToolRunning("t", "run_command", {"command": "ls"}))
    second = r.messages()
    assert second[0] is first[0]
    assert len(second) == 2


def test_running_step_shows_elapsed_seconds():
    now = [0.0]
    r = TurnRenderer(clock=lambda: now[0])
    r.feed(ToolRunning("t", "run_command", {"command": "sleep 5"}))
    assert r.messages()[0].metadata["log"] == "running…"
    now[0] = 3.2
    r.tick()
    assert r.changed
    assert r.messages()[0].metadata["log"] == "running… 3 s"
    r.tick()
    assert not r.changed  # same second: nothing to send


def test_memoized_chatbot_reuses_unchanged_messages_and_redoes_changed_ones():
    import gradio as gr

    from webui.chatbot import memoize_postprocess

    bot = gr.Chatbot(render=False)
    calls = []
    original = bot._postprocess

    def counting(message):
        calls.append(message)
        return original(message)

    bot._postprocess = counting
    memoize_postprocess(bot)
    history = [{"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": None},
               {"role": "assistant", "content": [{"type": "text", "text": "hello"}], "metadata": {"title": "t", "status": "done"}}]
    first = bot.postprocess(list(history) + [{"role": "assistant", "content": "stream 1"}])
    assert len(calls) == 3
    second = bot.postprocess(list(history) + [{"role": "assistant", "content": "stream 2"}])
    assert len(calls) == 4  # only the streamed message was processed again
    history[1]["metadata"]["status"] = "pending"  # an in-place edit is noticed
    third = bot.postprocess(list(history))
    assert len(calls) == 5
    assert first.model_dump()[:2] == second.model_dump()[:2]
    assert second.model_dump()[2]["content"][0]["text"] == "stream 2"
    assert third.model_dump()[1]["metadata"]["status"] == "pending"
    assert type(bot) is gr.Chatbot and bot.get_block_name() == "chatbot"

NASTY = "echo '<h1>Hi</h1>' **bold** a & b <img src=x onerror=alert(1)> `tick` [l](http://x.test) $$x$$"


# ----- step titles are inert text --------------------------------------------------------------------------


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


# ----- one thought, one Thinking step ------------------------------------------------------------------------


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


def test_renderer_stop_note_matches_the_page_note():
    r = TurnRenderer(clock=_clock())
    r.feed(TextDelta("partial"))
    r.stop()
    assert r.messages()[-1].content == STOPPED_NOTE


# ----- failed steps stand out --------------------------------------------------------------------------------


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
