"""run_command: a shell command in the sandbox with live output, exit codes, a timeout and a background mode."""

from __future__ import annotations

import asyncio
from typing import Annotated

from agent.events import ToolResult
from agent.sandbox import Command
from agent.tools.base import HOME, NonBlank, OutputCapture, sandbox_path
from agent.tools.registry import Display, ToolContext, tool

# A background command is watched this long for early output (and early failure) before the tool returns.
BACKGROUND_WATCH_S = 3.0
START_GRACE_S = 10.0  # how long a stopped tool waits for its command to have started, so it can kill it


@tool(display=Display(title="command", code="command", language="bash", prefix="$ ",
                     doing="Running a command[: {command}]", done="Ran a command[: {command}]"))
async def run_command(
    ctx: ToolContext,
    command: Annotated[NonBlank, "The bash command line."],
    cwd: Annotated[str | None, "Working directory; defaults to /home/user."] = None,
    background: Annotated[bool | None, "Start and return after a few seconds, leaving the process running "
                                       "(for servers)."] = False,
) -> ToolResult:
    """Run a shell command (bash) in the sandbox, working directory /home/user unless cwd is given. Output
    streams to the user live; a non-zero exit code is reported as an error. Commands are stopped after the
    time limit. Long-running servers (npm run dev, python -m http.server, ...) must not block: pass
    background=true (or end the command with `> server.log 2>&1 &`), then check them with curl or the log."""
    workdir = sandbox_path(cwd) if cwd and cwd.strip() else HOME
    sandbox = await ctx.sandbox()
    cap = OutputCapture(ctx)
    # Started in its own task: a Stop that lands while the start request is in flight must still find the
    # process (the sandbox may already run it) and kill it, not leave it running behind the user's back.
    starting = asyncio.ensure_future(sandbox.start_command(
        command, cwd=workdir, on_stdout=cap.sink("stdout"), on_stderr=cap.sink("stderr")))
    try:
        handle = await asyncio.shield(starting)
    except asyncio.CancelledError:
        await _kill_once_started(starting)
        raise
    limit = BACKGROUND_WATCH_S if background else ctx.timeout_s
    waiter = asyncio.ensure_future(handle.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=limit)
    except asyncio.CancelledError:
        waiter.cancel()
        await _quietly(handle.kill())
        raise
    if not done:
        waiter.cancel()
        if background:
            await _quietly(handle.disconnect())
            text = cap.text().strip()
            early = f"\nOutput so far:\n{text}" if text else ""
            return ctx.result(f"Started in the background (pid {handle.pid}); it keeps running.{early}")
        await _quietly(handle.kill())
        text = cap.text().rstrip()
        return ctx.result(f"{text}\nTimed out after {ctx.timeout_s:g} seconds; the command was stopped. For servers "
                          "or long jobs use background=true.".strip(), is_error=True)
    exit_code = waiter.result()
    text = cap.text().rstrip()
    if exit_code == 0:
        return ctx.result(text or "(no output; exit code 0)")
    return ctx.result(f"{text}\nExit code {exit_code}".strip(), is_error=True)


async def _kill_once_started(starting: asyncio.Future[Command]) -> None:
    try:
        handle = await asyncio.wait_for(starting, START_GRACE_S)
    except BaseException:  # it never started (or failed to): nothing to kill
        return
    await _quietly(handle.kill())


async def _quietly(coro, timeout: float = 3.0) -> None:
    """Best-effort cleanup that must not hang a cancelled turn or mask the original outcome."""
    try:
        await asyncio.wait_for(coro, timeout)
    except (Exception, asyncio.CancelledError):
        pass
