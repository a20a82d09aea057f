"""A step's final state never changes afterwards, checked on the handler and the renderer directly: a call that
ends after Stop shows as stopped, and the next turn never shows an earlier step as running (the browser test is
tests/browser/test_step_state.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agent.events import Done, Error, ToolFinished, ToolResult, ToolRunning
from webui.render import TurnRenderer


def test_a_call_that_ends_after_stop_shows_as_stopped_not_failed():
    """The killed command answers with an error; after a Stop that is the Stop's doing, not a failure."""
    r = TurnRenderer()
    r.feed(ToolRunning("t1", "run_command", {"command": "sleep 60"}))
    r.stopping = True
    r.feed(ToolFinished("t1", "run_command", ToolResult("Stopped by the user.", is_error=True), 1.0))
    r.feed(Error("cancelled", "Stopped by the user."))
    r.feed(Done("cancelled"))
    step, note = r.messages()
    assert step.metadata["status"] == "done" and "stopped" in step.metadata["log"]
    assert step.metadata["title"].startswith("■") and "failed" not in step.metadata["title"]
    assert note.content == "■ Stopped."


def test_the_next_turn_never_shows_an_earlier_step_as_running():
    """History that still holds a pending step (its last frame was lost to Stop or a dropped connection) is
    shown stopped by the next turn: the page displays these very dicts."""
    import asyncio
    from types import SimpleNamespace

    from tests.browser.conftest import base_settings
    from tests.browser.fakes import FakeAgentSession, FakeProvider
    from webui.chat import ChatController
    from webui.sessions import SessionRegistry

    history = [
        {"role": "user", "content": "Run something long"},
        {"role": "assistant", "content": "```bash\n$ sleep 60\n```",
         "metadata": {"title": "Running a command: sleep 60", "status": "pending", "log": "running… 3 s"}},
    ]

    async def scenario() -> None:
        registry = SessionRegistry(base_settings(anthropic_api_key="test-key"), FakeProvider(),
                                   factory=lambda s, p, t: FakeAgentSession(s, p, t, words=3, delay=0.0))
        controller = ChatController(registry, min_interval=0.0)
        frames = [f async for f in controller.respond("hello", list(history), "", "",
                                                      SimpleNamespace(session_hash="tab"))]
        assert frames

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API may own this thread's event loop
        pool.submit(asyncio.run, scenario()).result()
    meta = history[1]["metadata"]
    assert meta["status"] == "done" and meta["log"] == "stopped" and meta["title"].startswith("■")
