"""Turns without tools: streamed text, thinking passed back with its signature, usage, what the request holds."""

from __future__ import annotations

import json

from agent.events import UsageUpdate
from tests.agent.helpers import (
    TextDelta,
    ThinkingDelta,
    agent_session,
    assert_valid_transcript,
    collect,
    make_settings,
    run,
)
from tests.support.claude_standin import Reply, Text, Thinking, Tokens, ToolUse, text_reply, tool_reply

EXPECTED_TOOLS = {"execute_code", "write_file", "read_file", "run_command", "list_files"}


def test_text_only_turn_streams_and_reports_usage(claude, provider):
    reply = "Hello! I am the stand-in, streaming in several pieces."
    claude.push(text_reply(reply, chunks=6, delay=0.03, usage=Tokens(input=120, output=30, cache_write=400, cache_read=800)))

    async def scenario():
        settings = make_settings(claude)
        async with agent_session(settings, provider) as s:
            turn = await collect(s, "Say hello")
            return settings, turn, list(s.messages), s.usage

    settings, turn, messages, usage = run(scenario())
    assert turn.text == reply, f"text events must add up to the reply; events:\n{turn.describe()}"
    assert len(turn.of(TextDelta)) >= 3, f"text should arrive as several deltas (streamed); events:\n{turn.describe()}"
    assert not turn.errors, turn.describe()
    done = turn.done
    assert done.stop_reason == "end_turn", turn.describe()
    u = done.usage
    assert (u.input_tokens, u.output_tokens, u.cache_write_tokens, u.cache_read_tokens) == (120, 30, 400, 800), (
        f"Done.usage must carry the numbers from message_start/message_delta: {u}")
    assert u.cost_usd > 0, "an estimated cost should be computed"
    assert turn.of(UsageUpdate), f"a UsageUpdate event is expected; events:\n{turn.describe()}"
    assert usage.input_tokens == 120 and usage.output_tokens == 30, f"session usage: {usage}"

    req = claude.requests[0]
    body = req.body
    assert body["model"] == settings.model
    assert body.get("stream") is True, "the agent must stream"
    assert req.last_user_text().strip().endswith("Say hello") or "Say hello" in req.last_user_text()
    assert body.get("system"), "a system prompt is expected"
    assert "cache_control" in json.dumps(body), "prompt caching must be on (cache_control somewhere in the request)"
    names = {t["name"] for t in body.get("tools", [])}
    assert names >= EXPECTED_TOOLS, f"tools declared: {sorted(names)}"
    not_eager = [t["name"] for t in body["tools"] if t["name"] in EXPECTED_TOOLS and t.get("eager_input_streaming") is not True]
    assert not not_eager, f"tools must be declared with eager_input_streaming: true; missing on {not_eager}"
    assert claude.api_key not in json.dumps([e.to_dict() for e in turn.events]), "the API key leaked into an event"

    assert_valid_transcript(messages)
    assert messages[-1]["role"] == "assistant"
    assert reply in json.dumps(messages[-1]), "the reply must be in the transcript"


def test_thinking_is_streamed_and_its_signature_passed_back_unchanged(claude, provider):
    claude.push(
        tool_reply(ToolUse("run_command", {"command": "echo thought-through"}),
                   thinking=Thinking("I should run echo first.", signature="sig-keep-me-exactly-123", chunks=4, delay=0.02)),
        Reply((Thinking("Now I can answer.", signature="sig-second-456"), Text("All done."))),
    )

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "Think, then run echo"), list(s.messages)

    turn, messages = run(scenario())
    assert turn.thinking == "I should run echo first.Now I can answer.", (
        f"ThinkingDelta events must carry the thinking text; events:\n{turn.describe()}")
    assert len(turn.of(ThinkingDelta)) >= 4, turn.describe()
    assert turn.text.endswith("All done."), turn.describe()
    assert turn.done.stop_reason == "end_turn", turn.describe()
    assert len(claude.requests) == 2, f"expected 2 model requests, got {len(claude.requests)}"

    first = claude.requests[0].body
    assert first.get("thinking") and first["thinking"].get("type") != "disabled", (
        f"thinking should be requested when Settings.thinking is on: {first.get('thinking')}")
    sent_back = claude.requests[1].messages
    assistant = [m for m in sent_back if m["role"] == "assistant"]
    assert assistant, "the assistant turn with the tool call must be sent back"
    thinking_blocks = [b for b in assistant[-1]["content"] if b.get("type") == "thinking"]
    assert thinking_blocks == [{"type": "thinking", "thinking": "I should run echo first.",
                                "signature": "sig-keep-me-exactly-123"}], (
        f"the thinking block must go back unchanged with its signature, got {thinking_blocks}")
    kinds = [b.get("type") for b in assistant[-1]["content"]]
    assert kinds.index("thinking") < kinds.index("tool_use"), f"block order must be kept: {kinds}"
    assert_valid_transcript(messages)


def test_thinking_off_is_not_requested(claude, provider):
    claude.push(text_reply("plain"))

    async def scenario():
        async with agent_session(make_settings(claude, thinking=False), provider) as s:
            return await collect(s, "hi")

    turn = run(scenario())
    assert turn.text == "plain", turn.describe()
    thinking = claude.requests[0].body.get("thinking")
    assert thinking in (None, {"type": "disabled"}), f"thinking was requested although switched off: {thinking}"


def test_second_turn_sends_the_whole_conversation(claude, provider):
    claude.push(text_reply("First answer."), text_reply("Second answer."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            t1 = await collect(s, "one")
            t2 = await collect(s, "two")
            return t1, t2, list(s.messages)

    t1, t2, messages = run(scenario())
    assert (t1.text, t2.text) == ("First answer.", "Second answer.")
    second = claude.requests[1].messages
    assert [m["role"] for m in second] == ["user", "assistant", "user"], [m["role"] for m in second]
    assert "First answer." in json.dumps(second[1])
    assert_valid_transcript(messages)
    assert len(messages) == 4


def test_pause_turn_is_continued(claude, provider):
    claude.push(Reply((Text("Part one. "),), stop_reason="pause_turn"), text_reply("Part two."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "a long task"), list(s.messages)

    turn, messages = run(scenario())
    assert len(claude.requests) == 2, f"pause_turn must be continued with another request ({len(claude.requests)} made)"
    assert turn.text == "Part one. Part two.", turn.describe()
    assert turn.done.stop_reason == "end_turn", turn.describe()
    assert "Part one." in json.dumps(claude.requests[1].messages), "the paused content must be sent back"
    assert_valid_transcript(messages)


def test_max_tokens_and_refusal_end_the_turn_with_that_reason(claude, provider):
    claude.push(Reply((Text("This answer was cut"),), stop_reason="max_tokens"),
                Reply((Text("I can't help with that."),), stop_reason="refusal"),
                text_reply("Fine again."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            t1 = await collect(s, "write a novel")
            t2 = await collect(s, "something bad")
            t3 = await collect(s, "something fine")
            return t1, t2, t3, list(s.messages)

    t1, t2, t3, messages = run(scenario())
    assert t1.done.stop_reason == "max_tokens" and t1.text == "This answer was cut", t1.describe()
    assert t2.done.stop_reason == "refusal" and t2.text == "I can't help with that.", t2.describe()
    assert t3.text == "Fine again." and len(claude.requests) == 3
    assert_valid_transcript(messages)
