"""Tools against the in-memory sandbox facade (tests/support/fake_sandbox.py): what they do on Stop and on a
time limit, where the real sandbox would make the timing hard to pin."""

from __future__ import annotations

import asyncio
import inspect

import pytest

import agent.tools.command as command_module
from agent.events import ToolRunning
from agent.sandbox import CodeError, CodeRun, Sandbox, SandboxProvider
from agent.tools import ToolContext
from agent.tools.code import execute_code
from agent.tools.command import run_command
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.support.claude_standin import ToolUse, tool_reply
from tests.support.fake_sandbox import FakeSandbox, FakeSandboxProvider


@pytest.mark.parametrize("real, fake", [(Sandbox, FakeSandbox), (SandboxProvider, FakeSandboxProvider)])
def test_the_fake_offers_what_the_real_facade_offers_with_the_same_parameters(real, fake):
    """A tool tested against the fake must be able to call whatever it calls on the real facade, the same way."""
    for name, member in inspect.getmembers(real, inspect.isfunction):
        if name.startswith("_") or name in ("sdk_options", "connect"):  # the provider's own plumbing, no tool's
            continue
        double = getattr(fake, name, None)
        assert double is not None, f"{fake.__name__} has no {name}()"
        assert list(inspect.signature(double).parameters) == list(inspect.signature(member).parameters), name
        assert inspect.iscoroutinefunction(double) == inspect.iscoroutinefunction(member), name
        assert inspect.isasyncgenfunction(double) == inspect.isasyncgenfunction(member), name


async def _forever(code, out, err) -> CodeRun:
    out("working\n")
    await asyncio.Event().wait()
    return CodeRun()


@pytest.mark.parametrize("kind, interrupts", [("e2b", 1), ("local", 0)])
def test_stop_during_code_interrupts_the_e2b_cloud_kernel(claude, kind, interrupts):
    """E2B's cloud keeps running a cell whose client went away, so Stop must interrupt the kernel there (the
    local server interrupts it itself, so no second interrupt is sent)."""
    provider = FakeSandboxProvider(kind=kind, make=lambda: FakeSandbox(code=_forever))
    claude.push(tool_reply(ToolUse("execute_code", {"code": "while True: pass"})))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            loop = asyncio.get_running_loop()

            def on_event(ev):
                if isinstance(ev, ToolRunning):
                    loop.call_later(0.3, s.cancel)

            return await collect(s, "spin", on_event=on_event, timeout=30)

    turn = run(scenario())
    assert turn.done.stop_reason == "cancelled", turn.describe()
    assert [box.interrupts for box in provider.made] == [interrupts], (
        f"{kind}: expected {interrupts} kernel interrupt(s) on Stop, got {[b.interrupts for b in provider.made]}")


def _ctx(box: FakeSandbox, *, timeout_s: float = 0.3, cloud: bool = True) -> tuple[ToolContext, list[str]]:
    seen: list[str] = []

    async def sandbox():
        return box

    return ToolContext(sandbox=sandbox, output=lambda stream, text: seen.append(text), timeout_s=timeout_s,
                       max_output_chars=10_000, interrupt_kernel_on_stop=cloud), seen


def test_code_past_the_time_limit_is_an_error_result_and_the_kernel_is_interrupted():
    box = FakeSandbox(code=_forever)
    ctx, seen = _ctx(box)
    result = run(execute_code.run({"code": "while True: pass"}, ctx))
    assert result.is_error and "Timed out after 0.3 seconds" in result.output, result
    assert "working" in result.output and seen == ["working\n"], (result.output, seen)
    assert box.interrupts == 1


def test_code_errors_and_rich_results_come_back_through_the_facade():
    async def fails(code, out, err) -> CodeRun:
        err("warning\n")
        return CodeRun(error=CodeError("ZeroDivisionError", "division by zero", "\x1b[31mTraceback\x1b[0m"))

    result = run(execute_code.run({"code": "1/0"}, _ctx(FakeSandbox(code=fails))[0]))
    assert result.is_error and "ZeroDivisionError: division by zero" in result.output, result.output
    assert "\x1b" not in result.output and "stderr:\nwarning" in result.output, result.output


def test_a_command_past_the_time_limit_is_killed_and_reported():
    async def sleeps(command, out, err) -> int:
        out("started\n")
        await asyncio.sleep(60)
        return 0

    box = FakeSandbox(command=sleeps)
    result = run(run_command.run({"command": "sleep 60"}, _ctx(box)[0]))
    assert result.is_error and "Timed out after 0.3 seconds" in result.output and "started" in result.output
    assert box.commands and box.commands[0].killed, "the timed-out command must be killed"


def test_a_background_command_is_left_running(monkeypatch):
    async def serves(command, out, err) -> int:
        out("listening on 8000\n")
        await asyncio.sleep(60)
        return 0

    box = FakeSandbox(command=serves)
    ctx, _ = _ctx(box, timeout_s=30)
    monkeypatch.setattr(command_module, "BACKGROUND_WATCH_S", 0.2)
    result = run(run_command.run({"command": "python -m http.server", "background": True}, ctx))
    assert not result.is_error and "background (pid 100)" in result.output and "listening" in result.output
    assert not box.commands[0].killed
