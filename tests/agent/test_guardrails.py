"""Guardrails (agent/guardrails.py) enforced in the core: turns, tool calls, seconds of tools and dollars per
session, dollars per client address per day; safe defaults where strangers can reach the app; a visitor's own
key has its own limits. Every limit ends in one plain sentence, and the model is not asked again past it."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from agent.events import ErrorKind, StopReason
from agent.guardrails import PUBLIC_DEFAULTS, Guard, Guardrails, Limits, MemoryDailyBook
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.support.claude_standin import Tokens, ToolUse, text_reply, tool_reply
from tests.support.fake_sandbox import FakeSandbox, FakeSandboxProvider


def _guard(limits: Limits, **kw) -> Guard:
    return Guard(guardrails=Guardrails(operator=limits, own_key=Limits()), **kw)


def _cmd(n: int) -> ToolUse:
    return ToolUse("run_command", {"command": f"echo {n}"})


def test_limits_are_off_on_a_laptop_and_on_where_strangers_reach_the_app():
    assert Guardrails.from_env({}) == Guardrails()
    assert Guardrails.from_env({"GRADIO_SERVER_NAME": "0.0.0.0"}).operator == PUBLIC_DEFAULTS
    spaces = Guardrails.from_env({"SYSTEM": "spaces"})
    assert spaces.operator == PUBLIC_DEFAULTS and spaces.own_key.session_usd is None and spaces.own_key.turns
    assert spaces.own_key.turns > PUBLIC_DEFAULTS.turns, "own-key visitors get higher limits"
    tuned = Guardrails.from_env({"SYSTEM": "spaces", "AGENT_LIMIT_TURNS": "0", "AGENT_LIMIT_DAILY_USD": "5"})
    assert tuned.operator.turns is None and tuned.operator.daily_usd == 5.0
    assert Guardrails.from_env({"AGENT_LIMITS": "on"}).operator == PUBLIC_DEFAULTS
    assert Guardrails.from_env({"SYSTEM": "spaces", "AGENT_LIMITS": "off"}) == Guardrails()
    with pytest.raises(ValueError, match="AGENT_LIMIT_SESSION_USD must be a number"):
        Guardrails.from_env({"AGENT_LIMIT_SESSION_USD": "lots"})


def test_a_session_past_its_turn_limit_is_refused_before_the_model_is_called(claude):
    claude.push(text_reply("one"), text_reply("two"))

    async def scenario():
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as s:
            s.guard = _guard(Limits(turns=1))
            return await collect(s, "first"), await collect(s, "second")

    first, second = run(scenario())
    assert first.done.stop_reason == StopReason.END_TURN
    assert second.done.stop_reason == StopReason.ERROR and second.errors[0].kind == ErrorKind.LIMIT
    assert "limit of 1 messages" in second.done.message and "own Anthropic key" in second.done.message
    assert len(claude.requests) == 1, "the refused turn must not reach the model"


def test_tool_calls_past_the_limit_are_not_run_and_the_turn_ends(claude):
    claude.push(tool_reply(_cmd(1), _cmd(2), _cmd(3)), text_reply("never asked"))
    provider = FakeSandboxProvider()

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            s.guard = _guard(Limits(tool_calls=2))
            return await collect(s, "three commands")

    turn = run(scenario())
    outputs = [f.result.output for f in turn.finished]
    assert sum(o.startswith("Not run: This chat has used its 2 tool steps") for o in outputs) == 1, outputs
    assert len(provider.made[0].commands) == 2
    assert turn.done.stop_reason == StopReason.LIMIT and "2 tool steps" in turn.done.message
    assert len(claude.requests) == 1, "after the limit the model must not be asked again"


def test_seconds_of_running_tools_are_capped(claude):
    async def slow(command, out, err):
        await asyncio.sleep(0.4)
        return 0

    claude.push(tool_reply(_cmd(1)), tool_reply(_cmd(2)), text_reply("never asked"))
    provider = FakeSandboxProvider(make=lambda: FakeSandbox(command=slow))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            s.guard = _guard(Limits(tool_seconds=0.3))
            return await collect(s, "slow")

    turn = run(scenario())
    assert turn.done.stop_reason == StopReason.LIMIT and "0.3 seconds of running code" in turn.done.message
    assert len(claude.requests) == 1


def test_the_session_dollar_budget_ends_the_turn_and_refuses_the_next(claude):
    # 20,000 input tokens on the default model cost well over a cent
    claude.push(tool_reply(_cmd(1), usage=Tokens(input=20_000)), text_reply("never asked"), text_reply("no"))

    async def scenario():
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as s:
            s.guard = _guard(Limits(session_usd=0.01))
            return await collect(s, "spend"), await collect(s, "again"), s.guard

    first, second, guard = run(scenario())
    assert first.done.stop_reason == StopReason.LIMIT and "budget of ≈ $0.01" in first.done.message
    assert second.done.stop_reason == StopReason.ERROR and "budget" in second.done.message
    assert len(claude.requests) == 1 and guard.budget()[0] > 0.01


def test_the_daily_budget_follows_the_client_address_across_sessions(claude):
    book = MemoryDailyBook()
    claude.push(text_reply("spent", usage=Tokens(input=20_000)), text_reply("other client"))

    async def scenario():
        limits = Limits(daily_usd=0.01)
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as a:
            a.guard = _guard(limits, book=book, client="client-1")
            await collect(a, "spend")
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as b:
            b.guard = _guard(limits, book=book, client="client-1")
            refused = await collect(b, "more")
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as c:
            c.guard = _guard(limits, book=book, client="client-2")
            other = await collect(c, "mine")
        return refused, other

    refused, other = run(scenario())
    assert refused.done.stop_reason == StopReason.ERROR and "today's budget" in refused.done.message
    assert other.done.stop_reason == StopReason.END_TURN, "another address has its own budget"


def test_a_visitors_own_key_has_its_own_limits_and_spends_nothing_of_the_operators(claude):
    book = MemoryDailyBook()
    claude.push(text_reply("mine", usage=Tokens(input=20_000)), text_reply("still mine"))
    rails = Guardrails(operator=Limits(session_usd=0.01, daily_usd=0.01), own_key=Limits(turns=5))

    async def scenario():
        async with agent_session(make_settings(claude), FakeSandboxProvider()) as s:
            s.guard = Guard(guardrails=rails, book=book, client="c", own_key=True)
            return await collect(s, "one"), await collect(s, "two"), s.guard

    one, two, guard = run(scenario())
    assert two.done.stop_reason == StopReason.END_TURN
    assert book.spent("c") == 0.0 and guard.budget() is None


def test_the_daily_book_starts_again_each_day():
    day = [datetime.date(2026, 1, 1)]
    book = MemoryDailyBook(today=lambda: day[0])
    book.add("c", 1.5)
    assert book.spent("c") == 1.5
    day[0] = datetime.date(2026, 1, 2)
    assert book.spent("c") == 0.0


def test_limits_and_hosting_settings_in_the_env_file_count_like_exported_ones(tmp_path):
    """app.py reads the page's settings through ``environment()``: a limit or a password put in .env applies."""
    from agent.config import environment

    dotenv = tmp_path / ".env"
    dotenv.write_text("AGENT_LIMIT_TURNS=3\nAGENT_LIMIT_TOOL_CALLS=9\nAGENT_PASSWORD=pw\n")
    env = environment({"AGENT_ENV_FILE": str(dotenv), "AGENT_LIMIT_TOOL_CALLS": "7"})
    rails = Guardrails.from_env(env)
    assert rails.operator.turns == 3 and rails.operator.tool_calls == 7, "the real environment wins over .env"
    assert env["AGENT_PASSWORD"] == "pw"
