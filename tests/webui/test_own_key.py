"""A key pasted in one tab's Settings is that tab's alone: another tab (another Gradio session on the same page)
never sends it, whether the page has no key of its own or runs on the operator's key.

Two sessions of one SessionRegistry with the real AgentSession talk to the Claude stand-in, which records the
key each request carried.
"""

from __future__ import annotations

import asyncio
import secrets
from types import SimpleNamespace

from tests.browser.conftest import base_settings
from tests.browser.fakes import FakeProvider
from tests.support.claude_standin import text_reply


def _controller(claude, operator_key: str | None):
    from webui.chat import ChatController
    from webui.sessions import SessionRegistry

    settings = base_settings(anthropic_api_key=operator_key, anthropic_base_url=claude.base_url)
    return ChatController(SessionRegistry(settings, FakeProvider()), min_interval=0.0, early_start=False)


async def _say(controller, tab: str, text: str, pasted_key: str) -> str:
    request = SimpleNamespace(session_hash=tab)
    frames = [frame async for frame in controller.respond(text, [], "", pasted_key, request)]
    return "".join(str(getattr(m, "content", "")) for m in frames[-1][0])


def _keys(claude) -> list[str | None]:
    return [request.api_key for request in claude.requests]


def test_a_key_pasted_in_one_tab_is_never_used_by_another(claude):
    key_a, key_b = "test-key-tab-a-" + secrets.token_hex(8), "test-key-tab-b-" + secrets.token_hex(8)

    async def scenario():
        controller = _controller(claude, operator_key=None)
        try:
            claude.push(text_reply("Hello A."))
            assert "Hello A." in await _say(controller, "tab-a", "hi", key_a)
            assert _keys(claude) == [key_a]
            # Tab B has pasted nothing: the page has no key, so B is told to add one and nothing is sent.
            answer = await _say(controller, "tab-b", "hi", "")
            assert "ANTHROPIC_API_KEY" in answer and "Hello" not in answer, answer
            assert _keys(claude) == [key_a], "tab B reached the model with tab A's key"
            claude.push(text_reply("Hello B."), text_reply("Hello A again."))
            assert "Hello B." in await _say(controller, "tab-b", "hi", key_b)
            assert "Hello A again." in await _say(controller, "tab-a", "again", key_a)
            assert _keys(claude) == [key_a, key_b, key_a]
        finally:
            await controller.registry.close_all()

    asyncio.run(scenario())


def test_on_the_operators_key_another_tab_uses_the_operators_key_not_a_pasted_one(claude):
    operator, pasted = "test-key-operator-" + secrets.token_hex(8), "test-key-pasted-" + secrets.token_hex(8)

    async def scenario():
        controller = _controller(claude, operator_key=operator)
        try:
            claude.push(text_reply("Own key."), text_reply("Operator's key."), text_reply("Own key again."))
            assert "Own key." in await _say(controller, "tab-a", "hi", pasted)
            assert "Operator's key." in await _say(controller, "tab-b", "hi", "")
            assert "Own key again." in await _say(controller, "tab-a", "again", pasted)
            assert _keys(claude) == [pasted, operator, pasted]
            assert controller.registry.settings.anthropic_api_key == operator, "a pasted key changed the page's own"
        finally:
            await controller.registry.close_all()

    asyncio.run(scenario())
