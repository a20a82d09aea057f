"""run_command: a shell command in the sandbox with live output, exit codes, a timeout and a background mode."""

from __future__ import annotations

import asyncio
from typing import Any

from e2b.sandbox.commands.command_handle import CommandExitException

from agent.events import ToolResult
from agent.tools.base import (
    HOME,
    OutputCapture,
    Tool,
    ToolContext,
    ToolInputError,
    make_result,
    require_str,
    sandbox_path,
)

# A background command is watched this long for early output (and early failure) before the tool returns.
BACKGROUND_WATCH_S = 3.0
START_GRACE_S = 10.0  # how long a stopped tool waits for its command to have started, so it can kill it


class RunCommand(Tool):
    name = "run_command"
    description = (
        "Run a shell command (bash) in the sandbox, working directory /home/user unless cwd is given. Output "
        "streams to the user live; a non-zero exit code is reported as an error. Commands are stopped after the "
        "time limit. Long-running servers (npm run dev, python -m http.server, ...) must not block: pass "
        "background=true (or end the command with `> server.log 2>&1 &`), then check them with curl or the log."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The bash command line."},
            "cwd": {"type": "string", "description": "Working directory; defaults to /home/user."},
            "background": {
                "type": "boolean",
                "description": "Start and return after a few seconds, leaving the process running (for servers).",
            },
        },
        "required": ["command"],
    }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        command = require_str(args, "command")
        cwd_arg = args.get("cwd")
        if cwd_arg is not None and not isinstance(cwd_arg, str):
            raise ToolInputError("'cwd' must be a string.")
        cwd = sandbox_path(cwd_arg) if cwd_arg and cwd_arg.strip() else HOME
        background = bool(args.get("background"))

        sandbox = await ctx.sandbox()
        cap = OutputCapture(ctx)
        # Started in its own task: a Stop that lands while the start request is in flight must still find the
        # process (the sandbox may already run it) and kill it, not leave it running behind the user's back.
        starting = asyncio.ensure_future(sandbox.commands.run(
            command, background=True, cwd=cwd, on_stdout=cap.sink("stdout"), on_stderr=cap.sink("stderr"),
            timeout=0,
        ))
        try:
            handle = await asyncio.shield(starting)
        except asyncio.CancelledError:
            await _kill_once_started(starting)
            raise
        limit = BACKGROUND_WATCH_S if background else ctx.timeout_s
        waiter = asyncio.ensure_future(_wait(handle))
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
                return make_result(f"Started in the background (pid {handle.pid}); it keeps running.{early}",
                                   limit=ctx.max_output_chars)
            await _quietly(handle.kill())
            text = cap.text().rstrip()
            return make_result(
                f"{text}\nTimed out after {ctx.timeout_s:g} seconds; the command was stopped. For servers or "
                "long jobs use background=true.".strip(),
                is_error=True, limit=ctx.max_output_chars)
        result = waiter.result()

        exit_code = result
        text = cap.text().rstrip()
        if exit_code == 0:
            return make_result(text or "(no output; exit code 0)", limit=ctx.max_output_chars)
        return make_result(f"{text}\nExit code {exit_code}".strip(), is_error=True, limit=ctx.max_output_chars)


async def _kill_once_started(starting: asyncio.Future) -> None:
    try:
        handle = await asyncio.wait_for(starting, START_GRACE_S)
    except BaseException:  # it never started (or failed to): nothing to kill
        return
    await _quietly(handle.kill())


async def _wait(handle) -> int:
    try:
        res = await handle.wait()
    except CommandExitException as exc:
        return exc.exit_code
    return res.exit_code


async def _quietly(coro, timeout: float = 3.0) -> None:
    """Best-effort cleanup that must not hang a cancelled turn or mask the original outcome."""
    try:
        await asyncio.wait_for(coro, timeout)
    except (Exception, asyncio.CancelledError):
        pass
