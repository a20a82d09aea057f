"""The stand-in itself, driven by the bare anthropic SDK: if these fail, every agent test is suspect."""

from __future__ import annotations

import asyncio
import subprocess
import time

import anthropic
import pytest

from agent.events import ToolRunning
from tests.agent.helpers import agent_session, collect, make_settings
from tests.support.claude_standin import (
    Hang,
    RecordedRequest,
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
    tool_reply,
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


# --------------------------------------------------------------------------------------------------
# The stand-in's demo: the page's first example, end to end
# --------------------------------------------------------------------------------------------------

COUNTER_PROMPT = "Create a React counter app with increment and decrement buttons"
FETCH = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/index.html').read().decode())\""

# Runs the page's script in node with a small stand-in DOM, clicks the buttons and prints the counts.
_NODE_HARNESS = r"""
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const byId = {};
function el(tag) {
  const node = { tag, children: [], attrs: {}, textContent: "", className: "", onclick: null,
    append(...kids) { for (const k of kids) { this.children.push(k); if (k.id) byId[k.id] = k; } },
    setAttribute(k, v) { this.attrs[k] = v; } };
  Object.defineProperty(node, "innerHTML", { set(v) { this.children = []; } });
  return node;
}
const root = el("div");
global.document = { createElement: el, getElementById: (id) => (id === "root" ? root : byId[id]) };
eval(script);
const seen = [byId.count.textContent];
byId.increment.onclick(); byId.increment.onclick(); seen.push(byId.count.textContent);
byId.decrement.onclick(); seen.push(byId.count.textContent);
console.log(seen.join(","));
"""


def test_demo_answers_the_counter_example_with_a_served_page(claude, provider, tmp_path):
    def responder(req: RecordedRequest):
        results = req.tool_results()
        if results and results[0].get("tool_use_id") == "toolu_fetch":
            return text_reply("checked")
        if "check the counter page" in req.last_user_text():
            return tool_reply(ToolUse("run_command", {"command": FETCH}, id="toolu_fetch"))
        return demo_responder(req)

    claude.respond_with(responder)

    async def scenario():
        async with agent_session(make_settings(claude), provider, tag="counter") as session:
            first = await collect(session, COUNTER_PROMPT, timeout=120)
            check = await collect(session, "check the counter page", timeout=120)
            return first, check

    first, check = asyncio.run(scenario())
    assert first.done.stop_reason == "end_turn", first.describe()
    calls = {f.name: f for f in first.finished}
    assert set(calls) == {"write_file", "run_command"}, first.describe()
    assert not any(f.result.is_error for f in first.finished), first.describe()
    assert "background" in calls["run_command"].result.output.lower(), first.describe()
    assert "Preview" in first.text and "8000" in first.text, first.text
    run_inputs = [r.input for r in first.of(ToolRunning)]
    server_call = next(i for i in run_inputs if "command" in i)
    assert server_call["command"] == "python3 -m http.server 8000" and server_call["background"] is True
    page = check.finished[0].result.output
    assert 'id="root"' in page and "increment" in page and "decrement" in page, check.describe()
    assert "http://" not in page.split("<script>")[1], "the page must work offline (no CDN)"

    html = tmp_path / "index.html"
    html.write_text(page[page.index("<!doctype html>"):])
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS)
    run = subprocess.run(["node", str(harness), str(html)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "0,2,1", f"the counter does not count: {run!r}"


def test_demo_keeps_its_other_scenarios():
    def first_call(prompt: str) -> str | None:
        req = RecordedRequest(0, "/v1/messages", {}, {"messages": [{"role": "user", "content": prompt}]}, 0.0)
        reply = demo_responder(req)
        names = [b.name for b in reply.blocks if isinstance(b, ToolUse)]
        return names[0] if names else None

    assert first_call(COUNTER_PROMPT) == "write_file"
    assert first_call("please draw a chart") == "execute_code"
    assert first_call("start a server") == "run_command"
    assert first_call("hello there") is None
    assert first_call("do something") == "execute_code"  # the tour
