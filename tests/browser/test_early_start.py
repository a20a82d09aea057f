"""The model request leaves on Enter (``start_early``), not after ChatInterface's submit chain, and every
message still runs exactly once: adopted by the handler, started by the handler when the early start did not
happen, never twice when the early start arrives late."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pytest

from tests.browser.conftest import base_settings, free_port, wait_for_config
from tests.browser.fakes import CountingAgent, FakeProvider

pytestmark = pytest.mark.browser


@pytest.fixture
def counted_page(browser: Any, monkeypatch: pytest.MonkeyPatch):
    """The page on the fake agent, counting the turns start_early launched."""
    from webui.chat import ChatController
    from webui.page import PageOptions, build_demo
    from webui.sessions import SessionRegistry

    launched: list[str] = []
    original = ChatController.start_early

    async def spy(self, message, history, model, api_key, request: gr.Request):  # Gradio injects by annotation
        await original(self, message, history, model, api_key, request)
        if request.session_hash in self._started:
            launched.append(str(message.get("text") if isinstance(message, dict) else message))

    monkeypatch.setattr(ChatController, "start_early", spy)
    settings = base_settings(anthropic_api_key="test-key")
    registry = SessionRegistry(settings, FakeProvider(), factory=CountingAgent)
    demo = build_demo(settings, FakeProvider(), PageOptions(), registry=registry)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    wait_for_config(url)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.get_by_test_id("textbox").wait_for(timeout=30_000)
    try:
        yield page, registry, launched
    finally:
        context.close()
        demo.close()


def test_in_the_browser_each_message_starts_on_enter_and_runs_once(counted_page):
    page, registry, launched = counted_page
    box = page.get_by_test_id("textbox")
    for n, text in enumerate(["first question", "second question"], start=1):
        box.fill(text)
        box.press("Enter")
        page.wait_for_function(
            f"() => {{ const b = document.querySelectorAll('.bot'); return b.length >= {n} && "
            f"b[b.length - 1].textContent.includes('w19'); }}", timeout=30_000)
        page.locator("button.stop-button").wait_for(state="detached", timeout=30_000)
    (key,) = registry.keys()
    assert registry.get(key).agent.asked == ["first question", "second question"], "a message ran twice or never"
    assert launched == ["first question", "second question"], "the turns were not started on Enter"
    assert page.locator(".user").count() == 2 and page.locator(".bot").count() == 2
