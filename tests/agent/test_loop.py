"""Loop behaviour fixed after review: tools already running when Claude's stream fails, long retry-after waits,
honest durations for stopped tools, and a bound on `pause_turn` continuations."""

from __future__ import annotations

import json
import threading
import time

from agent.events import ToolRunning
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.support.claude_standin import Reply, Text, ToolUse, http_error, text_reply, tool_reply


def test_a_tool_that_started_before_a_mid_stream_error_finishes_and_reports_what_happened(claude, provider):
    started = ToolUse("run_command", {"command": "echo ran >> /home/user/log.txt; sleep 1; echo finished"},
                      id="toolu_started")
    claude.push(Reply((started, Text("And now some more words ", chunks=3, delay=0.3)), end="error"),
                text_reply("Understood."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            t1 = await collect(s, "run it", timeout=60)
            t2 = await collect(s, "what happened?", timeout=60)
            return t1, t2

    t1, _ = run(scenario())
    assert t1.done.stop_reason == "error", t1.describe()
    fin = t1.finished_by_name("run_command")
    assert not fin.result.is_error and "finished" in fin.result.display_output, fin.result.display_output
    sent = json.dumps(claude.requests[-1].messages)
    assert "Not run" not in sent, "the model was told a command that ran had not run"
    assert "finished" in sent


def test_a_long_retry_after_ends_the_turn_at_once_instead_of_waiting_silently(claude, provider):
    claude.push(http_error(529, "overloaded_error", "Overloaded", retry_after=120, repeat=5))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            began = time.monotonic()
            turn = await collect(s, "hello", timeout=60)
            return turn, time.monotonic() - began

    turn, took = run(scenario())
    assert len(claude.requests) == 1, f"{len(claude.requests)} requests: a 120 s retry-after must not be retried"
    assert turn.errors and not turn.errors[-1].retrying, turn.describe()
    assert took < 30, f"the turn waited {took:.0f} s"


def test_a_stopped_tool_reports_how_long_it_ran(claude, provider):
    claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 30"})))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            def on_event(ev):
                if isinstance(ev, ToolRunning):
                    threading.Timer(1.0, s.cancel).start()

            return await collect(s, "slow", on_event=on_event, timeout=60)

    turn = run(scenario())
    fin = turn.finished_by_name("run_command")
    assert fin.result.is_error
    assert fin.duration >= 0.8, f"a tool stopped after about 1 s reported {fin.duration:.2f} s"


def test_pause_turn_continuations_count_against_the_step_limit(claude, provider):
    claude.respond_with(lambda req: Reply((Text("Still working on it. "),), stop_reason="pause_turn"))

    async def scenario():
        async with agent_session(make_settings(claude, max_tool_steps=3), provider) as s:
            return await collect(s, "a long job", timeout=60)

    turn = run(scenario())
    assert turn.done.stop_reason == "tool_limit", turn.describe()
    assert len(claude.requests) == 3, f"{len(claude.requests)} requests for a limit of 3 steps"
