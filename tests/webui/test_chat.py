"""The page's chat handler (webui/chat.py) without a browser: Stop marking, message parsing, Stop notes, the
handler reading the agent's own turn."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from webui.chat import add_stopped_note, mark_pending_stopped, message_text_and_files
from webui.render import STOPPED_NOTE


def test_mark_pending_stopped_on_browser_values():
    value = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": None},
        {"role": "assistant", "content": [], "metadata": {"title": "Running a command: sleep 9", "status": "pending"}},
        {"role": "assistant", "content": [], "metadata": {"title": "Thinking", "status": "pending"}},
        {"role": "assistant", "content": [], "metadata": {"title": "read_file · a", "status": "done"}},
    ]
    out = mark_pending_stopped(value)
    assert out[1]["metadata"] == {"title": "■ Stopped while running a command: sleep 9", "status": "done",
                                   "log": "stopped"}
    assert out[2]["metadata"] == {"title": "Thinking", "status": "done"}
    assert out[3]["metadata"]["status"] == "done" and "log" not in out[3]["metadata"]


def test_message_text_and_files_handles_both_shapes():
    assert message_text_and_files("plain") == ("plain", [])
    text, files = message_text_and_files({"text": "see file", "files": ["/tmp/a.csv", {"path": "/tmp/b.png"}]})
    assert text == "see file" and files == [Path("/tmp/a.csv"), Path("/tmp/b.png")]


def test_the_handler_reads_the_agents_own_turn_and_stop_lives_in_that_turn():
    """One queue per turn: the page shows the events of ``agent.turn`` itself (no pump, no second queue), and
    Stop is recorded once, on that turn (not on the page's session)."""
    import asyncio
    import inspect
    from types import SimpleNamespace

    import webui.chat
    from tests.browser.conftest import base_settings
    from tests.browser.fakes import FakeAgentSession, FakeProvider
    from webui.chat import ChatController
    from webui.sessions import SessionRegistry

    assert "Queue" not in inspect.getsource(webui.chat), "the page must not keep a queue of its own"

    async def scenario() -> None:
        registry = SessionRegistry(base_settings(anthropic_api_key="test-key"), FakeProvider(),
                                   factory=lambda s, p, t: FakeAgentSession(s, p, t, words=50, delay=0.01))
        controller = ChatController(registry, min_interval=0.0, early_start=True)
        request = SimpleNamespace(session_hash="tab")
        await controller.start_early("hello", [], "", "", request)
        session = registry.get("tab")
        turn = session.agent.turn
        assert controller._started["tab"].turn is turn
        frames = controller.respond("hello", [], "", "", request)
        await anext(frames)  # the handler adopted the started turn and shows it
        controller.stop([], request)  # the fast Stop listener
        await asyncio.sleep(0.1)
        assert turn.stop_requested and not hasattr(session, "stop_requested")
        last = [f async for f in frames][-1][0]
        assert turn.finished and turn.done.stop_reason == "cancelled"
        assert last[-1].content == "■ Stopped."

    asyncio.run(scenario())


# ----- Stop leaves a visible note --------------------------------------------------------------------------


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
