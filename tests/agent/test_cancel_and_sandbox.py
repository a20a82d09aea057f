"""Stop (cancel) mid-tool and mid-stream, and the session's sandbox: reuse, sliding timeout, death, uploads, keys."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import zipfile

import pytest
from e2b_code_interpreter import AsyncSandbox

from agent.events import SandboxStatus, TextDelta, ToolRunning
from tests.agent.helpers import agent_session, all_tool_results, assert_valid_transcript, collect, make_settings, run
from tests.support.claude_standin import Reply, Text, ToolUse, result_text, text_reply, tool_reply


def _cancel_later(session, delay: float, when: dict) -> None:
    """Call session.cancel() from another thread (as the page's Stop button would), noting the time."""

    def fire() -> None:
        when["cancel"] = time.monotonic()
        session.cancel()

    threading.Timer(delay, fire).start()


@pytest.mark.parametrize("slow, follow_up, expect", [
    (ToolUse("run_command", {"command": "sleep 30; echo never"}, id="toolu_slow"),
     # the cancelled `sleep 30` must be gone, not just forgotten
     ToolUse("run_command", {"command": "sleep 0.5; if pgrep -x sleep; then echo still-running; else echo alive; fi"},
             id="toolu_next"), "alive"),
    (ToolUse("execute_code", {"code": "n = 0\nwhile True:\n    n += 1"}, id="toolu_slow"),
     ToolUse("execute_code", {"code": "print(6 * 7)"}, id="toolu_next"), "42"),
], ids=["run_command-sleep", "execute_code-busy-loop"])
def test_cancel_mid_tool_stops_quickly_and_the_sandbox_is_usable_at_once(claude, provider, slow, follow_up, expect):
    claude.push(tool_reply(slow, text="This will take a while."))
    when: dict = {}

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            def on_event(ev):
                if isinstance(ev, ToolRunning) and not when:
                    when["running"] = time.monotonic()
                    _cancel_later(s, 1.0, when)

            t1 = await collect(s, "do something slow", on_event=on_event, timeout=60)
            when["requests"] = len(claude.requests)
            claude.push(tool_reply(follow_up), text_reply("Still here."))
            t2 = await collect(s, "are you still there?", timeout=60)
            return t1, t2, list(s.messages)

    t1, t2, messages = run(scenario())
    assert "cancel" in when, f"the tool never started, so nothing was cancelled; events:\n{t1.describe()}"
    assert t1.done.stop_reason == "cancelled", t1.describe()
    stop_took = t1.seen[-1].at - when["cancel"]
    assert stop_took < 4.0, f"cancel took {stop_took:.2f}s to end the turn (should be about a second)"
    assert when["requests"] == 1, (
        f"cancel must not send another model request in the cancelled turn ({when['requests']} were made)")

    dangling = [b for b in all_tool_results(claude.requests[1].messages) if b.get("tool_use_id") == "toolu_slow"]
    assert dangling and dangling[0].get("is_error") is True, (
        f"the cancelled tool_use must get an is_error tool_result in the next request: {dangling}")
    fin = t2.finished_by_name(follow_up.name)
    assert not fin.result.is_error and expect in fin.result.display_output, (
        f"the sandbox must be usable right after a cancel; got {fin.result.display_output!r}")
    assert fin.duration < 15, f"the next tool took {fin.duration:.1f}s: the cancelled work was still running"
    assert t2.text.endswith("Still here."), t2.describe()
    assert_valid_transcript(messages)


def test_cancel_while_the_model_is_streaming_closes_the_stream(claude, provider):
    claude.push(Reply((Text("I am still typing and", chunks=2),), end="hang", hang_s=30))
    when: dict = {}

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            def on_event(ev):
                if isinstance(ev, TextDelta) and not when:
                    when["scheduled"] = time.monotonic()  # once: a second timer would cancel the next turn
                    _cancel_later(s, 0.2, when)

            t1 = await collect(s, "tell me a long story", on_event=on_event, timeout=60)
            claude.push(text_reply("New answer."))
            t2 = await collect(s, "never mind", timeout=30)
            return t1, t2, list(s.messages)

    t1, t2, messages = run(scenario())
    assert t1.done.stop_reason == "cancelled", t1.describe()
    assert t1.seen[-1].at - when["cancel"] < 3.0, "cancel must end the turn within about a second"
    assert claude.wait_for("client_gone", request=0, timeout=5), "the model stream was not closed after cancel"
    assert t1.text.startswith("I am still"), t1.describe()
    assert t2.text == "New answer.", t2.describe()
    assert_valid_transcript(messages)
    assert_valid_transcript(claude.requests[-1].messages)


def test_cancel_when_idle_is_harmless(claude, provider):
    claude.push(text_reply("Fine."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            threading.Thread(target=s.cancel).start()
            time.sleep(0.1)
            return await collect(s, "hello")

    turn = run(scenario())
    assert turn.text == "Fine." and turn.done.stop_reason == "end_turn", turn.describe()


def test_sandbox_is_reused_across_turns_and_its_timeout_slides(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": "x = 41"})), text_reply("Set."),
                tool_reply(ToolUse("execute_code", {"code": "print(x + 1)"})), text_reply("It is 42."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            opts = await provider.sdk_options()
            await collect(s, "set x")
            first = s.sandbox_status()
            info1 = await AsyncSandbox.get_info(first.sandbox_id, **opts)
            await asyncio.sleep(1.5)
            t2 = await collect(s, "print x + 1")
            second = s.sandbox_status()
            info2 = await AsyncSandbox.get_info(second.sandbox_id, **opts)
            return t2, first, second, info1, info2

    t2, first, second, info1, info2 = run(scenario())
    fin = t2.finished_by_name("execute_code")
    assert "42" in fin.result.display_output, f"interpreter state must survive between turns: {fin.result}"
    assert first.sandbox_id and first.sandbox_id == second.sandbox_id, (first, second)
    assert first.provider == "local"
    assert second.expires_at and first.expires_at and second.expires_at > first.expires_at, (
        f"the sandbox timeout must be extended on use: {first.expires_at} -> {second.expires_at}")
    assert info2.end_at > info1.end_at, f"the server's end time did not move: {info1.end_at} -> {info2.end_at}"


def test_sandbox_killed_behind_the_sessions_back_is_recreated(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": "x = 1"})), text_reply("Set."))

    def responder(req):
        last = req.tool_results()
        if last and "fresh" in result_text(last[-1]) and not last[-1].get("is_error"):
            return text_reply("Fresh sandbox works.")
        return tool_reply(ToolUse("execute_code", {"code": "print('fresh')"}))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            await collect(s, "set x")
            old = s.sandbox_status().sandbox_id
            killed = await AsyncSandbox.kill(old, **(await provider.sdk_options()))
            assert killed, "could not kill the sandbox behind the session's back"
            before = len(claude.requests)
            claude.respond_with(responder)
            t2 = await collect(s, "run it again", timeout=120)
            return old, s.sandbox_status(), t2, claude.requests[before:]

    old, status, t2, later = run(scenario())
    restarted = [e for e in t2.of(SandboxStatus) if e.state == "restarted"]
    assert restarted, f"a SandboxStatus(state='restarted') event is expected; events:\n{t2.describe()}"
    assert status.sandbox_id and status.sandbox_id != old, "a new sandbox must have been made"
    ok = [f for f in t2.finished if f.name == "execute_code" and "fresh" in f.result.display_output]
    assert ok and not ok[-1].result.is_error, t2.describe()
    told = json.dumps([r.messages[-1] for r in later])
    assert re.search(r"restart|new sandbox|fresh sandbox|state (was|is|has been) (lost|gone|reset)|earlier state|"
                     r"lost", told, re.I), f"the model must be told the earlier state is gone; it got: {told[:800]}"
    assert t2.text.endswith("Fresh sandbox works."), t2.describe()


def test_uploads_land_in_the_sandbox_and_the_model_is_told(claude, provider, tmp_path):
    data = "city,temp\nOslo,4.5\nLima,19.0\n"
    upload = tmp_path / "weather.csv"
    upload.write_text(data)
    claude.push(tool_reply(ToolUse("read_file", {"path": "/home/user/uploads/weather.csv"})), text_reply("Read it."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            turn = await collect(s, "summarise the file", files=[upload])
            await s.save_workspace_zip(tmp_path / "w.zip")
            return turn, tmp_path / "w.zip"

    turn, zipped = run(scenario())
    assert "/home/user/uploads/weather.csv" in claude.requests[0].last_user_text(), (
        f"the model must be told the upload's sandbox path: {claude.requests[0].last_user_text()!r}")
    assert data in turn.finished_by_name("read_file").result.display_output
    names = zipfile.ZipFile(zipped).namelist()
    assert any(n.endswith("uploads/weather.csv") for n in names), f"workspace zip: {names}"


def test_no_key_material_in_the_sandbox_environment_or_events(claude, provider):
    claude.push(tool_reply(ToolUse("run_command", {"command": "env; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n'"})),
                text_reply("Listed."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "show the environment")

    turn = run(scenario())
    out = turn.finished_by_name("run_command").result.display_output
    assert "HOME=" in out, f"env did not run: {out[:300]!r}"
    for secret in (claude.api_key, "ANTHROPIC_API_KEY", "E2B_API_KEY"):
        assert secret not in out, f"{secret} is visible inside the sandbox"
    assert claude.api_key not in json.dumps([e.to_dict() for e in turn.events])
    assert claude.api_key not in json.dumps(claude.requests[-1].body), "the key ended up in a message to the model"


def test_reset_sandbox_gives_a_fresh_one_and_the_model_is_told(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": "x = 1"})), text_reply("Set."),
                tool_reply(ToolUse("execute_code", {"code": "print('x' in globals())"})), text_reply("Checked."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            await collect(s, "set x")
            old = s.sandbox_status().sandbox_id
            await s.reset_sandbox()
            t2 = await collect(s, "is x still there?")
            return old, s.sandbox_status().sandbox_id, t2

    old, new, t2 = run(scenario())
    assert new and new != old, "reset_sandbox must lead to a different sandbox"
    fin = t2.finished_by_name("execute_code")
    assert "False" in fin.result.display_output, f"state must be gone after a reset: {fin.result.display_output!r}"
    told = json.dumps(claude.requests[2].messages[-1])
    assert re.search(r"restart|new sandbox|fresh sandbox|reset|state .{0,20}(lost|gone)", told, re.I), (
        f"the model must be told the sandbox was reset: {told[:600]}")
    everything_sent = json.dumps(claude.requests[-1].messages)
    assert everything_sent.count("Note: the sandbox") == 1, f"one note about the reset, not two: {everything_sent}"


def test_sandbox_that_cannot_start_is_reported_in_plain_words(claude):
    """An unreachable sandbox service: Error(kind='sandbox'), the model gets an is_error result, the turn ends."""
    from agent.sandbox import SandboxProvider

    settings = make_settings(claude).replace(sandbox="e2b", e2b_api_key="test-e2b-key",
                                             e2b_api_url="http://127.0.0.1:9", e2b_sandbox_url="http://127.0.0.1:9")
    broken = SandboxProvider.from_settings(settings)
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo hi"}, id="toolu_nobox")),
                text_reply("The sandbox is not available."))

    async def scenario():
        async with agent_session(settings, broken) as s:
            return await collect(s, "run something", timeout=120), list(s.messages)

    try:
        turn, messages = run(scenario())
    finally:
        broken.close()
    errors = [e for e in turn.errors if e.kind == "sandbox"]
    assert errors, f"an Error(kind='sandbox') is expected; events:\n{turn.describe()}"
    assert "Traceback" not in errors[0].message and "test-e2b-key" not in errors[0].message, errors[0].message
    sent = [b for b in claude.requests[1].tool_results() if b.get("tool_use_id") == "toolu_nobox"]
    assert sent and sent[0].get("is_error") is True, f"the model must get an is_error tool_result: {sent}"
    assert turn.text.endswith("The sandbox is not available."), turn.describe()
    assert "test-e2b-key" not in json.dumps([e.to_dict() for e in turn.events])
    assert_valid_transcript(messages)


def test_two_sessions_at_once_keep_their_own_sandbox_and_transcript(claude, provider):
    """Two conversations in parallel on one provider (two browser tabs): nothing leaks between them."""

    def responder(req):
        first_user = req.messages[0]
        name = "alpha" if "alpha" in json.dumps(first_user) else "beta"
        asked = req.last_user_text()
        results = req.tool_results()
        if results:
            return text_reply(f"{name}: {result_text(results[-1]).strip()[:80]}")
        if "remember" in asked:
            return tool_reply(ToolUse("execute_code", {"code": f"who = {name!r}\nimport time; time.sleep(0.5)"}))
        return tool_reply(ToolUse("execute_code", {"code": "print('I am', who)"}))

    claude.respond_with(responder)

    async def conversation(name: str):
        async with agent_session(make_settings(claude), provider, tag=f"tab-{name}") as s:
            await collect(s, f"{name}: remember your name")
            t2 = await collect(s, "who are you?")
            return s.sandbox_status().sandbox_id, t2, list(s.messages)

    async def scenario():
        return await asyncio.gather(conversation("alpha"), conversation("beta"))

    (id_a, turn_a, msgs_a), (id_b, turn_b, msgs_b) = run(scenario())
    assert id_a and id_b and id_a != id_b, "each session needs its own sandbox"
    out_a = turn_a.finished_by_name("execute_code").result.display_output
    out_b = turn_b.finished_by_name("execute_code").result.display_output
    assert "I am alpha" in out_a and "I am beta" in out_b, f"state leaked between sessions: {out_a!r} / {out_b!r}"
    assert "beta" not in json.dumps(msgs_a) and "alpha" not in json.dumps(msgs_b), "transcripts leaked"
    assert_valid_transcript(msgs_a)
    assert_valid_transcript(msgs_b)


def test_workspace_listing_and_zip_do_not_follow_symlinked_folders(claude, provider, tmp_path):
    claude.push(tool_reply(ToolUse("run_command", {"command": (
        "mkdir -p proj && echo data > proj/a.txt && ln -s . proj/loop && ln -s / proj/root && ln -s /etc/passwd pw")})),
        text_reply("Made links."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            await collect(s, "make links")
            listed = await s.list_files()
            await s.save_workspace_zip(tmp_path / "w.zip")
            return listed, tmp_path / "w.zip"

    listed, zipped = run(scenario())
    assert "/home/user/proj/a.txt" in listed, listed
    assert not [p for p in listed if "/loop/" in p or "/root/" in p or p.endswith("/pw")], listed
    names = zipfile.ZipFile(zipped).namelist()
    assert "proj/a.txt" in names and not [n for n in names if "loop/" in n or "root/" in n or n == "pw"], names


def test_reset_while_a_tool_runs_stops_it_and_never_runs_it_again(claude, provider):
    """The user threw the sandbox away on purpose: the running command must not silently re-run in the new one."""
    slow = ToolUse("run_command", {"command": "echo ran >> /home/user/runs.txt; sleep 20; echo finished"})
    check = ToolUse("run_command", {"command": "cat /home/user/runs.txt 2>/dev/null || echo no-runs"})
    claude.push(tool_reply(slow), tool_reply(check), text_reply("Done."))
    fired: dict = {}

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            loop = asyncio.get_running_loop()

            def on_event(ev):
                if isinstance(ev, ToolRunning) and not fired:
                    fired["task"] = loop.create_task(_reset_soon(s))

            turn = await collect(s, "run it", on_event=on_event, timeout=90)
            await fired["task"]
            return turn

    turn = run(scenario())
    finished = [e for e in turn.events if type(e).__name__ == "ToolFinished"]
    assert len(finished) == 2, turn.describe()
    stopped, checked = finished
    assert stopped.result.is_error and "reset" in stopped.result.display_output, stopped.result.display_output
    assert "finished" not in stopped.result.display_output
    assert checked.result.display_output.strip().endswith("no-runs"), (
        f"the command ran again in the fresh sandbox: {checked.result.display_output!r}")


async def _reset_soon(session) -> None:
    await asyncio.sleep(1.0)
    await session.reset_sandbox()


@pytest.mark.parametrize("delay", [0.005, 0.015])
def test_stop_while_a_command_is_still_starting_leaves_nothing_running(claude, provider, delay):
    """Stop can land while the start request is in flight: the command may already run in the sandbox and must
    be killed anyway (it used to keep running, unseen)."""

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            claude.push(tool_reply(ToolUse("run_command", {"command": "true"})), text_reply("warm"))
            await collect(s, "warm up", timeout=60)
            claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 37"})))
            loop = asyncio.get_running_loop()

            def on_event(ev):
                if isinstance(ev, ToolRunning):
                    loop.call_later(delay, s.cancel)

            await collect(s, "slow", on_event=on_event, timeout=60)
            claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 0.5; pgrep -a -x sleep || echo none"})),
                        text_reply("ok"))
            return await collect(s, "check", timeout=60)

    check = run(scenario())
    out = check.finished_by_name("run_command").result.display_output
    assert "sleep 37" not in out, f"the stopped command is still running: {out!r}"
    assert "none" in out


def test_stop_while_claude_is_still_writing_after_a_tool_started_kills_the_command(claude, provider):
    """The tool starts as soon as its block is complete, while the reply still streams; Stop then must kill the
    started command too (checked with pgrep inside the sandbox), not only close the model's stream."""

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            claude.push(tool_reply(ToolUse("run_command", {"command": "true"})), text_reply("warm"))
            await collect(s, "warm up", timeout=60)
            claude.push(Reply((ToolUse("run_command", {"command": "sleep 41"}, id="toolu_sleep"),
                               Text("And while that runs, let me explain at length. " * 10, chunks=40, delay=0.1))))
            loop = asyncio.get_running_loop()
            fired: dict = {}

            def on_event(ev):
                if isinstance(ev, ToolRunning) and not fired:
                    fired["at"] = loop.time()
                    loop.call_later(1.0, s.cancel)

            stopped = await collect(s, "sleep", on_event=on_event, timeout=60)
            claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 0.5; pgrep -a -x sleep || echo none"})),
                        text_reply("ok"))
            return stopped, await collect(s, "check", timeout=60)

    stopped, check = run(scenario())
    assert stopped.done.stop_reason == "cancelled", stopped.describe()
    assert stopped.of(TextDelta), "the reply must still have been streaming when Stop was pressed"
    out = check.finished_by_name("run_command").result.display_output
    assert "sleep 41" not in out and "none" in out, f"the stopped command is still running: {out!r}"
