"""Each tool end to end: the model (stand-in) calls it, it runs in a real local sandbox, the result goes back."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from agent.events import Error, ToolFinished, ToolInputDelta, ToolOutput, ToolRunning, ToolStarted
from tests.agent.helpers import agent_session, all_tool_results, assert_valid_transcript, collect, make_settings, run
from tests.support.claude_standin import Reply, Text, Tokens, ToolUse, result_text, text_reply, tool_reply

CHART = """import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [3, 1, 2])
plt.title("stand-in chart")
plt.show()
print("drew the chart")
"""


def _one_result(req, tool_id: str) -> dict:
    results = [b for b in req.tool_results() if b.get("tool_use_id") == tool_id]
    assert len(results) == 1, f"expected one tool_result for {tool_id} in the next request, got {req.tool_results()}"
    return results[0]


def test_execute_code_with_a_png_chart(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": CHART, "language": "python"}, id="toolu_chart", chunk=9),
                           text="Drawing it."),
                text_reply("Here is your chart."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "draw a chart"), list(s.messages)

    turn, messages = run(scenario())
    assert not turn.errors, turn.describe()
    started = turn.of(ToolStarted)
    assert [(e.id, e.name) for e in started] == [("toolu_chart", "execute_code")], turn.describe()
    deltas = [e for e in turn.of(ToolInputDelta) if e.id == "toolu_chart"]
    assert len(deltas) >= 3, f"the code should stream into the tool step as it is written; events:\n{turn.describe()}"
    partial = [d.input.get("code") for d in deltas if isinstance(d.input.get("code"), str)]
    assert any(0 < len(c) < len(CHART) and CHART.startswith(c) for c in partial), (
        "ToolInputDelta.input should hold the best parse of the partial JSON (a growing prefix of the code); "
        f"got {[c[:30] if c else c for c in partial][:8]}")
    running = turn.of(ToolRunning)
    assert running and running[0].input == {"code": CHART, "language": "python"}, turn.describe()
    fin = turn.finished_by_name("execute_code")
    assert not fin.result.is_error, f"the chart code failed: {fin.result.display_output}"
    pngs = [a for a in fin.result.artifacts if a.mime == "image/png"]
    assert pngs, f"a PNG artifact is expected, got {[a.mime for a in fin.result.artifacts]}"
    assert isinstance(pngs[0].data, bytes) and pngs[0].data.startswith(b"\x89PNG"), "artifact bytes are not a PNG"
    assert "drew the chart" in fin.result.display_output
    assert fin.duration >= 0
    assert turn.text.endswith("Here is your chart."), turn.describe()
    assert turn.done.stop_reason == "end_turn"
    result = _one_result(claude.requests[1], "toolu_chart")
    assert not result.get("is_error"), result
    assert "drew the chart" in json.dumps(result), f"stdout must reach the model: {result}"
    assert_valid_transcript(messages)


def test_write_file_then_read_file_and_list_files(claude, provider):
    content = "Hello, sandbox!\nLine two: é ✓ \"quoted\"\n"
    claude.push(tool_reply(ToolUse("write_file", {"path": "notes/hello.txt", "content": content}, id="toolu_w")),
                tool_reply(ToolUse("read_file", {"path": "notes/hello.txt"}, id="toolu_r")),
                tool_reply(ToolUse("list_files", {"path": "notes"}, id="toolu_l")),
                text_reply("The file says hello."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            turn = await collect(s, "write a file and read it back")
            listed = await s.list_files("/home/user")
            data = await s.read_file("/home/user/notes/hello.txt")
            return turn, listed, data

    turn, listed, data = run(scenario())
    assert not turn.errors, turn.describe()
    for name in ("write_file", "read_file", "list_files"):
        assert not turn.finished_by_name(name).result.is_error, turn.describe()
    assert content in turn.finished_by_name("read_file").result.display_output
    assert content in result_text(_one_result(claude.requests[2], "toolu_r")), "the file's text must reach the model"
    assert "hello.txt" in result_text(_one_result(claude.requests[3], "toolu_l"))
    assert data == content.encode(), f"session.read_file returned {data!r}"
    assert "/home/user/notes/hello.txt" in listed, f"session.list_files: {listed}"


def test_run_command_streams_output_and_reports_exit_codes(claude, provider):
    cmd = "for i in 1 2 3; do echo line$i; sleep 0.6; done; echo oops >&2"
    claude.push(tool_reply(ToolUse("run_command", {"command": cmd}, id="toolu_ok")),
                tool_reply(ToolUse("run_command", {"command": "echo failing; exit 3"}, id="toolu_bad")),
                text_reply("The second command failed with exit code 3."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "run commands"), list(s.messages)

    turn, messages = run(scenario())
    ok = [f for f in turn.finished if f.id == "toolu_ok"][0]
    assert not ok.result.is_error, ok.result.display_output
    out = [s for s in turn.seen if isinstance(s.event, ToolOutput) and s.event.id == "toolu_ok"]
    stdout = "".join(s.event.text for s in out if s.event.stream == "stdout")
    stderr = "".join(s.event.text for s in out if s.event.stream == "stderr")
    assert "line1" in stdout and "line3" in stdout, f"stdout must stream as ToolOutput events:\n{turn.describe()}"
    assert "oops" in stderr, f"stderr must stream as ToolOutput(stream='stderr'):\n{turn.describe()}"
    first_line_at = next(s.at for s in out if "line1" in s.event.text)
    finished_at = turn.first_time(ToolFinished, lambda e: e.id == "toolu_ok")
    assert finished_at - first_line_at > 0.6, (
        "line1 arrived together with the end of the command: output is not streamed live "
        f"({finished_at - first_line_at:.2f}s apart)")

    bad = [f for f in turn.finished if f.id == "toolu_bad"][0]
    assert bad.result.is_error, "a non-zero exit must be an is_error result"
    assert "3" in bad.result.display_output, f"the exit code should be reported: {bad.result.display_output!r}"
    sent = _one_result(claude.requests[2], "toolu_bad")
    assert sent.get("is_error") is True, f"the failure must reach the model as is_error: {sent}"
    assert "failing" in result_text(sent)
    assert turn.text.endswith("exit code 3."), "the loop must go on after a failing tool"
    assert turn.done.stop_reason == "end_turn"
    assert_valid_transcript(messages)


def test_failing_python_code_returns_the_error_and_the_loop_continues(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": "1/0"}, id="toolu_z"), usage=Tokens(10, 5, 100, 0)),
                text_reply("Division by zero.", usage=Tokens(20, 7, 0, 100)))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "divide")

    turn = run(scenario())
    fin = turn.finished_by_name("execute_code")
    assert fin.result.is_error, fin.result
    assert "ZeroDivisionError" in fin.result.display_output
    sent = _one_result(claude.requests[1], "toolu_z")
    assert sent.get("is_error") is True and "ZeroDivisionError" in result_text(sent), sent
    assert turn.text == "Division by zero." and turn.done.stop_reason == "end_turn", turn.describe()
    u = turn.done.usage
    assert (u.input_tokens, u.output_tokens, u.cache_write_tokens, u.cache_read_tokens) == (30, 12, 100, 100), (
        f"Done.usage must add up both model requests of the turn: {u}")


def test_tool_input_split_at_odd_points(claude, provider):
    content = 'quote " backslash \\ newline \n tab \t accents é ✓ emoji 😀 end'
    claude.push(
        tool_reply(ToolUse("write_file", {"path": "odd1.txt", "content": content}, id="toolu_o1", chunk=1, ascii=True),
                   ToolUse("write_file", {"path": "odd2.txt", "content": content}, id="toolu_o2", chunk=2)),
        text_reply("Both written."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            turn = await collect(s, "write odd files")
            return turn, await s.read_file("/home/user/odd1.txt"), await s.read_file("/home/user/odd2.txt")

    turn, one, two = run(scenario())
    assert not turn.errors, turn.describe()
    inputs = {e.id: e.input for e in turn.of(ToolRunning)}
    assert inputs.get("toolu_o1") == {"path": "odd1.txt", "content": content}, inputs
    assert inputs.get("toolu_o2") == {"path": "odd2.txt", "content": content}, inputs
    partial = [e for e in turn.of(ToolInputDelta) if e.id == "toolu_o1"]
    assert len(partial) > 20, "every 1-character fragment should produce (or be merged into) input events"
    assert one.decode() == content and two.decode() == content


def test_several_tools_run_concurrently_start_early_and_answer_in_call_order(claude, provider):
    # The first call is the slowest: results must still go back in call order.
    calls = (ToolUse("run_command", {"command": "sleep 3; echo first"}, id="toolu_1"),
             ToolUse("run_command", {"command": "sleep 3; echo second"}, id="toolu_2"),
             ToolUse("run_command", {"command": "echo third"}, id="toolu_3"))
    claude.push(Reply((Text("Running three commands."), *calls), pause_before_end=1.5), text_reply("All three ran."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            await s.prewarm()
            return await collect(s, "run three commands")

    turn = run(scenario())
    assert not turn.errors, turn.describe()
    for tid, word in (("toolu_1", "first"), ("toolu_2", "second"), ("toolu_3", "third")):
        fin = [f for f in turn.finished if f.id == tid]
        assert fin and word in fin[0].result.display_output and not fin[0].result.is_error, turn.describe()
    results = claude.requests[1].tool_results()
    assert [r["tool_use_id"] for r in results] == ["toolu_1", "toolu_2", "toolu_3"], (
        f"tool_results must follow the call order: {[r['tool_use_id'] for r in results]}")

    message_end = claude.server.mark_times("message_stop", 0)
    first_running = turn.first_time(ToolRunning, lambda e: e.id == "toolu_1")
    assert message_end and first_running is not None
    assert first_running < message_end[0], (
        "the first tool must start as soon as its block is complete, while the model is still streaming "
        f"(started {first_running - message_end[0]:+.2f}s relative to message_stop)")

    start = min(turn.first_time(ToolRunning, lambda e, t=t: e.id == t) for t in ("toolu_1", "toolu_2"))
    end = max(turn.first_time(ToolFinished, lambda e, t=t: e.id == t) for t in ("toolu_1", "toolu_2"))
    assert end - start < 5.0, f"two 3-second commands took {end - start:.2f}s: they did not run concurrently"


def test_large_output_is_cut_for_the_model_but_kept_for_people(claude, provider):
    claude.push(tool_reply(ToolUse("run_command", {"command": "seq 1 40000"}, id="toolu_big")), text_reply("Long."))

    async def scenario():
        async with agent_session(make_settings(claude, max_tool_output_chars=2000), provider) as s:
            return await collect(s, "print a lot")

    turn = run(scenario())
    fin = turn.finished_by_name("run_command")
    full = fin.result.display_output
    assert "\n20000\n" in full and "40000" in full, "full_output must keep the whole text for people"
    sent = result_text(_one_result(claude.requests[1], "toolu_big"))
    assert len(sent) < 3000, f"the model got {len(sent)} characters; the limit was 2000"
    assert sent.lstrip().startswith("1\n2\n3"), f"the head must be kept: {sent[:80]!r}"
    assert "40000" in sent[-200:], f"the tail must be kept: {sent[-80:]!r}"
    assert re.search(r"\d[\d,]* characters", sent), f"the cut must say how much was cut: {sent[900:1200]!r}"


def test_tool_step_limit_is_reached_and_said(claude, provider):
    claude.respond_with(lambda req: tool_reply(ToolUse("run_command", {"command": "echo again"})))

    async def scenario():
        async with agent_session(make_settings(claude, max_tool_steps=2), provider) as s:
            t1 = await collect(s, "loop forever")
            claude.respond_with(None)
            claude.push(text_reply("Stopped looping."))
            t2 = await collect(s, "ok, stop")
            return t1, t2, list(s.messages)

    t1, t2, messages = run(scenario())
    ran = [f for f in t1.finished if not f.result.is_error]
    assert 2 <= len(ran) <= 3, f"max_tool_steps=2 should stop the loop after about 2 tool rounds; events:\n{t1.describe()}"
    said = " ".join(e.message for e in t1.of(Error)).lower()
    assert t1.done.stop_reason == "tool_limit" or any(e.kind == "limit" for e in t1.of(Error)), t1.describe()
    assert "limit" in said or "steps" in said, f"the limit must be said in plain words: {said!r}"
    assert t2.text == "Stopped looping.", t2.describe()
    assert_valid_transcript(messages)
    assert_valid_transcript(claude.requests[-1].messages)
    assert all_tool_results(claude.requests[-1].messages), "earlier tool results must stay in the transcript"


def test_bad_tool_calls_become_error_results(claude, provider):
    """Unknown tool, missing required input, empty input sent as no delta / as "": the loop must go on."""
    claude.push(
        tool_reply(ToolUse("make_coffee", {"strength": 3}, id="toolu_unknown"),
                   ToolUse("run_command", {}, id="toolu_missing", raw_json=""),
                   ToolUse("list_files", {}, id="toolu_nodelta", no_delta=True),
                   ToolUse("read_file", {"path": "/home/user/does-not-exist.txt"}, id="toolu_nofile")),
        text_reply("Some calls failed."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "try odd calls"), list(s.messages)

    turn, messages = run(scenario())
    results = {r["tool_use_id"]: r for r in claude.requests[1].tool_results()}
    assert list(results) == ["toolu_unknown", "toolu_missing", "toolu_nodelta", "toolu_nofile"], list(results)
    for tid in ("toolu_unknown", "toolu_missing", "toolu_nofile"):
        assert results[tid].get("is_error") is True, f"{tid} should be an error result: {results[tid]}"
        text = result_text(results[tid])
        assert text and "Traceback" not in text, f"{tid}: the error should be short words, got {text[:300]!r}"
    assert "make_coffee" in result_text(results["toolu_unknown"])
    assert not results["toolu_nodelta"].get("is_error"), (
        f"list_files with no input (no delta at all) should list /home/user: {results['toolu_nodelta']}")
    assert turn.text == "Some calls failed." and turn.done.stop_reason == "end_turn", turn.describe()
    assert_valid_transcript(messages)


@pytest.mark.parametrize("language, code, expect", [
    pytest.param("javascript", "const xs = [1, 2, 3];\nconsole.log(xs.map(x => x * 14).join(','))", "14,28,42",
                 marks=pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here")),
    pytest.param("bash", "for i in 1 2; do echo \"bash-$i\"; done; echo $((6 * 7))", "bash-1\nbash-2\n42",
                 marks=pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed here")),
])
def test_execute_code_runs_javascript_and_bash(claude, provider, language, code, expect):
    claude.push(tool_reply(ToolUse("execute_code", {"code": code, "language": language}, id="toolu_lang")),
                text_reply("Ran it."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, f"run some {language}")

    fin = run(scenario()).finished_by_name("execute_code")
    assert not fin.result.is_error, fin.result.display_output
    assert expect in fin.result.display_output, fin.result.display_output
    assert expect in result_text(_one_result(claude.requests[1], "toolu_lang"))
