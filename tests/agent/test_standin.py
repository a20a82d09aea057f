"""The stand-in itself, driven by the bare anthropic SDK: if these fail, every agent test is suspect."""

from __future__ import annotations

import time

import anthropic
import pytest

from tests.support.claude_standin import (
    Hang,
    Reply,
    Text,
    Thinking,
    Tokens,
    ToolUse,
    demo_responder,
    forbidden,
    overloaded,
    prompt_too_long,
    rate_limited,
    result_text,
    server_error,
    text_reply,
    unauthorized,
)

USER = [{"role": "user", "content": "hi"}]


def client(claude, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=claude.base_url, api_key=claude.api_key, **kw)


def test_text_streams_in_chunks_with_real_delays(claude):
    claude.push(text_reply("one two three four", chunks=4, delay=0.4))
    arrivals = []
    with client(claude).messages.stream(model="m", max_tokens=50, messages=USER) as stream:
        for text in stream.text_stream:
            arrivals.append((time.monotonic(), text))
        final = stream.get_final_message()
    assert "".join(t for _, t in arrivals) == "one two three four"
    assert len(arrivals) == 4, arrivals
    stop_sent = claude.server.mark_times("message_stop", 0)[0]
    assert arrivals[0][0] < stop_sent - 0.5, (
        f"the first delta arrived {arrivals[0][0] - stop_sent:+.2f}s after the stream ended: the stand-in is not flushing")
    assert final.stop_reason == "end_turn"
    assert claude.requests[0].body["stream"] is True


def test_thinking_tool_input_cut_everywhere_and_usage(claude):
    tricky = {"code": 'print("a\\"b")\n\tx = "é ✓ \\u00e9"', "language": "python"}
    claude.push(Reply((Thinking("let me see", signature="sig-xyz", chunks=3),
                       ToolUse("execute_code", tricky, id="toolu_a", chunk=1, ascii=True),
                       ToolUse("read_file", {"path": "a.txt"}, id="toolu_b", cuts=(3, 5))),
                      usage=Tokens(input=7, output=9, cache_write=11, cache_read=13)))
    with client(claude).messages.stream(model="m", max_tokens=50, messages=USER) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "tool_use", "tool_use"]
    assert final.content[0].signature == "sig-xyz" and final.content[0].thinking == "let me see"
    assert final.content[1].input == tricky and final.content[1].id == "toolu_a"
    assert final.content[2].input == {"path": "a.txt"}
    assert final.stop_reason == "tool_use"
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens) == (7, 9, 11, 13)


def test_endings_behave_as_documented(claude):
    claude.push(Reply((Text("partial", chunks=2),), end="drop"),
                Reply((Text("partial", chunks=2),), end="error"),
                Reply((Text("partial", chunks=2),), end="drop_dirty"))
    c = client(claude, max_retries=0)
    with c.messages.stream(model="m", max_tokens=50, messages=USER) as stream:
        final = stream.get_final_message()
    assert final.stop_reason is None and final.content[0].text == "partial"
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        with c.messages.stream(model="m", max_tokens=50, messages=USER) as stream:
            stream.get_final_message()
    with pytest.raises(Exception, match="incomplete|peer closed"):
        with c.messages.stream(model="m", max_tokens=50, messages=USER) as stream:
            stream.get_final_message()


@pytest.mark.parametrize("make, exc", [
    (unauthorized, anthropic.AuthenticationError),
    (forbidden, anthropic.PermissionDeniedError),
    (prompt_too_long, anthropic.BadRequestError),
    (lambda: overloaded(repeat=2), anthropic.InternalServerError),
    (lambda: server_error(repeat=2), anthropic.InternalServerError),
    (lambda: rate_limited(0.05, repeat=2), anthropic.RateLimitError),
])
def test_http_errors_reach_the_sdk_as_its_own_exceptions(claude, make, exc):
    claude.push(make())
    with pytest.raises(exc):
        client(claude, max_retries=1).messages.create(model="m", max_tokens=5, messages=USER)
    assert claude.pending == 0


def test_rate_limit_then_success_uses_retry_after(claude):
    claude.push(rate_limited(0.3), text_reply("ok"))
    t0 = time.monotonic()
    msg = client(claude, max_retries=2).messages.create(model="m", max_tokens=5, messages=USER)
    assert msg.content[0].text == "ok"
    assert len(claude.requests) == 2 and time.monotonic() - t0 >= 0.25


def test_requests_are_recorded_and_a_key_is_required(claude):
    claude.push(text_reply("a"))
    client(claude).messages.create(model="claude-x", max_tokens=5, messages=USER, system="sys")
    req = claude.requests[0]
    assert req.body["model"] == "claude-x" and req.body["system"] == "sys" and req.last_user_text() == "hi"
    assert req.api_key == claude.api_key
    with pytest.raises(anthropic.BadRequestError, match="no scripted reply left"):
        client(claude).messages.create(model="m", max_tokens=5, messages=USER)


def test_hang_notices_the_client_leaving(claude):
    claude.push(Hang(30))
    with pytest.raises(anthropic.APITimeoutError):
        client(claude, max_retries=0, timeout=0.5).messages.create(model="m", max_tokens=5, messages=USER)
    assert claude.wait_for("client_gone", request=0, timeout=5), claude.marks


def test_demo_responder_runs_a_tool_conversation(claude):
    claude.respond_with(demo_responder)
    c = client(claude)
    messages = [{"role": "user", "content": "please draw a chart"}]
    first = c.messages.create(model="m", max_tokens=50, messages=messages)
    calls = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and calls and calls[0].name == "execute_code"
    assert "matplotlib" in calls[0].input["code"]
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id,
                                               "content": "drew 200 points"}]}]
    second = c.messages.create(model="m", max_tokens=50, messages=messages)
    assert second.stop_reason == "end_turn" and "drew 200 points" in second.content[-1].text
    assert result_text(claude.requests[1].tool_results()[0]) == "drew 200 points"
