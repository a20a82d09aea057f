"""Unit tests for the page's small pure pieces: pacing, status lines, Stop marking, message parsing.

No browser and no server; not marked ``browser``.
"""

from __future__ import annotations

from pathlib import Path

from agent.events import SandboxStatus, Usage
from webui.chat import mark_pending_stopped, message_text_and_files
from webui.pacing import Pacer
from webui.status import format_remaining, notices, sandbox_line, usage_line


def test_pacer_yields_at_once_after_quiet_then_spaces_yields():
    now = [100.0]
    pacer = Pacer(min_interval=0.04, clock=lambda: now[0])
    assert pacer.due()  # nothing shown for a while: the first token goes out at once
    pacer.before_yield()
    pacer.after_yield()
    assert not pacer.due() and abs(pacer.wait_time() - 0.04) < 1e-9
    now[0] += 0.05
    assert pacer.due()


def test_pacer_stretches_interval_when_yields_get_expensive():
    now = [0.0]
    pacer = Pacer(min_interval=0.04, cost_factor=4.0, max_interval=0.5, clock=lambda: now[0])
    for _ in range(20):
        pacer.before_yield()
        now[0] += 0.03  # Gradio needs 30 ms per yield (a long chat)
        pacer.after_yield()
        now[0] += pacer.interval
    assert 0.11 < pacer.interval <= 0.5  # ~4 x 30 ms: Gradio's share stays bounded


def test_sandbox_line_and_usage_line():
    assert "not started yet" in sandbox_line(None, "local")
    st = SandboxStatus("ready", "local", "sbx1", expires_at=1000.0 + 872)
    assert sandbox_line(st, "local", now=1000.0) == "**Sandbox:** local · ready · expires in 14:32"
    failed = SandboxStatus("failed", "e2b", message="The sandbox service rejected the API key.")
    assert "failed — The sandbox service rejected" in sandbox_line(failed, "e2b")
    assert format_remaining(3725) == "1:02:05"
    assert usage_line(None) == "Nothing spent yet"
    line = usage_line(Usage(1200, 340, 50, 9000, 0.04234))
    assert "<summary>≈ $0.04 so far</summary>" in line  # one short phrase; the counts fold out on a click
    assert "1,200 tokens read" in line and "9,000 re-read from the cache" in line and "50 stored in" in line
    assert "$0.0423" in line
    assert "<summary>< $0.01 so far</summary>" in usage_line(Usage(10, 5, 0, 0, 0.0001))


def test_notices_explain_how_to_fix():
    assert notices(None, None, False) == ""
    text = notices("No Anthropic API key is set. Put ANTHROPIC_API_KEY=...", "The local sandbox cannot run", True)
    assert "ANTHROPIC_API_KEY" in text and "E2B_API_KEY" in text and "Spaces" in text


def test_mark_pending_stopped_on_browser_values():
    value = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": None},
        {"role": "assistant", "content": [], "metadata": {"title": "run_command · sleep 9", "status": "pending"}},
        {"role": "assistant", "content": [], "metadata": {"title": "Thinking", "status": "pending"}},
        {"role": "assistant", "content": [], "metadata": {"title": "read_file · a", "status": "done"}},
    ]
    out = mark_pending_stopped(value)
    assert out[1]["metadata"] == {"title": "■ run_command · sleep 9", "status": "done", "log": "stopped"}
    assert out[2]["metadata"] == {"title": "Thinking", "status": "done"}
    assert out[3]["metadata"]["status"] == "done" and "log" not in out[3]["metadata"]


def test_message_text_and_files_handles_both_shapes():
    assert message_text_and_files("plain") == ("plain", [])
    text, files = message_text_and_files({"text": "see file", "files": ["/tmp/a.csv", {"path": "/tmp/b.png"}]})
    assert text == "see file" and files == [Path("/tmp/a.csv"), Path("/tmp/b.png")]


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


def test_find_served_port_prefers_the_newest_mention():
    from webui.workspace import find_served_port

    assert find_served_port(["npm run dev", "  VITE ready\n  ➜  Local:   http://localhost:5173/"]) == 5173
    assert find_served_port(["nohup python -m http.server 8000 > log 2>&1 &", ""]) == 8000
    assert find_served_port(["ls", "total 0"]) is None
    assert find_served_port(["serve --port 3000", "ok", "curl -s localhost:8080", "hi"]) == 8080


def test_a_broken_configuration_stops_the_app_with_one_plain_line(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env_file = tmp_path / ".env"
    env_file.write_text('ANTHROPIC_API_KEY="sk-ant-unclosed\n')
    root = Path(__file__).resolve().parents[2]
    for extra in ({"AGENT_ENV_FILE": str(env_file)}, {"AGENT_ENV_FILE": "", "AGENT_MAX_CONCURRENT": "many"}):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AGENT_", "E2B_"))}
        env.update(extra, GRADIO_SERVER_PORT="0")
        done = subprocess.run([sys.executable, str(root / "app.py")], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Configuration problem:"), done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "sk-ant-unclosed" not in done.stderr


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
