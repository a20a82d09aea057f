"""The model request leaves on Enter (``start_early``), not after ChatInterface's submit chain, and every
message still runs exactly once: adopted by the handler, started by the handler when the early start did not
happen, never twice when the early start arrives late."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from tests.browser.conftest import base_settings
from tests.browser.fakes import CountingAgent, FakeProvider


def _controller(early_start: bool = True):
    from webui.chat import ChatController
    from webui.sessions import SessionRegistry

    settings = base_settings(anthropic_api_key="test-key")
    registry = SessionRegistry(settings, FakeProvider(), factory=CountingAgent)
    return ChatController(registry, min_interval=0.0, early_start=early_start), settings


async def _answer(controller, message: str, history: list, request) -> list:
    frames = [frame async for frame in controller.respond(message, history, "", "", request)]
    return frames[-1][0]


def _text(messages: list) -> str:
    return "".join(str(getattr(m, "content", "")) for m in messages)


def test_handler_adopts_the_turn_started_on_enter():
    async def scenario():
        controller, _ = _controller()
        request = SimpleNamespace(session_hash="tab-1")
        await controller.start_early("hello", [], "", "", request)
        session = controller.registry.get("tab-1")
        assert session is not None and session.agent.turn is not None, "Enter did not start the turn"
        assert session.agent.asked == [] or session.agent.asked == ["hello"]
        await asyncio.sleep(0.05)  # the model is already answering before the handler runs
        assert session.agent.asked == ["hello"]
        final = await _answer(controller, "hello", [], request)
        assert "w19" in _text(final), "the adopted turn's answer was not shown"
        assert session.agent.asked == ["hello"], "the message ran twice"
        # A late early start for the message the handler already took must not run it again.
        await controller.start_early("hello", [], "", "", request)
        await asyncio.sleep(0.05)
        assert session.agent.asked == ["hello"]
        # The next message (one more user message on the page) starts early again.
        history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "w0"}]
        await controller.start_early("again", history, "", "", request)
        final = await _answer(controller, "again", history, request)
        assert "w19" in _text(final) and session.agent.asked == ["hello", "again"]

    asyncio.run(scenario())


def test_handler_runs_the_turn_itself_when_nothing_or_something_else_was_started():
    async def scenario():
        controller, _ = _controller()
        request = SimpleNamespace(session_hash="tab-2")
        # No early start (an example click, retry, edit): the handler starts the turn.
        final = await _answer(controller, "first", [], request)
        session = controller.registry.get("tab-2")
        assert "w19" in _text(final) and session.agent.asked == ["first"]
        # An early start for a different message than the handler's: stopped, the handler's message runs.
        history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "w0"}]
        await controller.start_early("tool please", history, "", "", request)
        await asyncio.sleep(0.05)  # its fake tool is running
        final = await _answer(controller, "second", history, request)
        assert session.agent.asked == ["first", "tool please", "second"]
        assert "w19" in _text(final)

    asyncio.run(scenario())


def test_no_early_start_without_a_key_an_empty_message_or_when_disabled():
    async def scenario():
        controller, _ = _controller()
        request = SimpleNamespace(session_hash="tab-3")
        await controller.start_early({"text": "  ", "files": []}, [], "", "", request)
        assert controller.registry.get("tab-3") is None
        await controller.start_early("hi", [], "", "", SimpleNamespace(session_hash=None))
        assert len(controller.registry) == 0
        off, _ = _controller(early_start=False)
        await off.start_early("hi", [], "", "", request)
        assert off.registry.get("tab-3") is None

        from webui.chat import ChatController
        from webui.sessions import SessionRegistry

        keyless = ChatController(SessionRegistry(base_settings(anthropic_api_key=None), FakeProvider(),
                                                 factory=CountingAgent), early_start=True)
        await keyless.start_early("hi", [], "", "", request)
        assert keyless.registry.get("tab-3") is None

    asyncio.run(scenario())


def test_start_early_is_the_first_listener_on_enter_and_skips_the_queue():
    from webui.page import PageOptions, build_demo

    settings = base_settings(anthropic_api_key="test-key")
    demo = build_demo(settings, FakeProvider(), PageOptions())
    config = demo.get_config_file()
    box = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "chat-input")
    on_enter = [d for d in config["dependencies"] if [box, "submit"] in [list(t) for t in d["targets"]]]
    assert len(on_enter) >= 2, on_enter
    first = demo.fns[on_enter[0]["id"]]
    assert first.fn == demo.controller.start_early, "the browser would send ChatInterface's chain first"
    assert on_enter[0]["queue"] is False and on_enter[0]["outputs"] == []
    assert demo.controller.early_start

    capped = build_demo(settings, FakeProvider(), PageOptions(concurrency_limit=2))
    assert not capped.controller.early_start, "an early start would bypass the cap on concurrent chats"
