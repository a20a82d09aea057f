"""execute_code: run code in the sandbox's stateful interpreter (a Jupyter kernel), with rich results."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from e2b.exceptions import TimeoutException

from agent.events import Artifact, ToolResult
from agent.tools.base import (
    OutputCapture,
    Tool,
    ToolContext,
    ToolInputError,
    make_result,
    require_str,
    strip_ansi,
)

LANGUAGES = ("python", "javascript", "bash")

# Result formats that become artifacts (shown to people); the order decides the artifact order in one result.
_BINARY = {"png": "image/png", "jpeg": "image/jpeg"}
_TEXTUAL = {"svg": "image/svg+xml", "html": "text/html"}


class ExecuteCode(Tool):
    name = "execute_code"
    description = (
        "Run code in a stateful interpreter inside the sandbox (variables, imports and files persist between "
        "calls, like a Jupyter notebook; working directory /home/user). Python has numpy, pandas and matplotlib: "
        "charts shown with plt.show() or display() reach the user as images. Returns stdout, stderr, the value "
        "of the last expression and any error with its traceback. For shell commands, installs and servers use "
        "run_command instead."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "The code to run."},
            "language": {
                "type": "string",
                "enum": list(LANGUAGES),
                "description": "Defaults to python (stateful). javascript and bash may not keep state between calls.",
            },
        },
        "required": ["code"],
    }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        code = require_str(args, "code")
        language = args.get("language") or "python"
        if language not in LANGUAGES:
            raise ToolInputError(f"'language' must be one of {', '.join(LANGUAGES)}.")

        sandbox = await ctx.sandbox()
        cap = OutputCapture(ctx)
        out_sink, err_sink = cap.sink("stdout"), cap.sink("stderr")

        def on_stdout(msg) -> None:
            out_sink(msg.line)

        def on_stderr(msg) -> None:
            err_sink(msg.line)

        try:
            execution = await sandbox.run_code(
                code,
                language=None if language == "python" else language,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                timeout=ctx.timeout_s,
            )
        except asyncio.CancelledError:
            if ctx.interrupt_kernel_on_stop:
                await _interrupt_kernel(sandbox)
            raise
        except TimeoutException as exc:
            # The SDK raises TimeoutException both for our time limit and for a sandbox that died mid-request;
            # only the first is a result, the second must reach the session (which replaces the sandbox).
            if "Execution timed out" not in str(exc):
                raise
            if ctx.interrupt_kernel_on_stop:
                await _interrupt_kernel(sandbox)
            text = cap.labelled() + f"\nTimed out after {ctx.timeout_s:g} seconds; the execution was stopped."
            return make_result(text.strip(), is_error=True, limit=ctx.max_output_chars)

        artifacts: list[Artifact] = []
        notes: list[str] = []
        result_texts: list[str] = []
        for i, res in enumerate(execution.results):
            shown = []
            for fmt, mime in _BINARY.items():
                data = getattr(res, fmt, None)
                if data:
                    artifacts.append(Artifact(mime, base64.b64decode(data), name=f"output-{i + 1}.{fmt}"))
                    shown.append(mime)
            for fmt, mime in _TEXTUAL.items():
                data = getattr(res, fmt, None)
                if data and not (fmt == "html" and shown):
                    artifacts.append(Artifact(mime, data, name=f"output-{i + 1}.{fmt}"))
                    shown.append(mime)
            if shown:
                notes.append(f"[displayed to the user: {', '.join(shown)}]")
            if res.text and (res.is_main_result or not shown):
                result_texts.append(res.text)

        parts = [cap.labelled()]
        if result_texts:
            parts.append("Result:\n" + "\n".join(result_texts))
        parts.extend(notes)
        err = execution.error
        if err is not None:
            parts.append(f"Error: {err.name}: {err.value}\n{strip_ansi(err.traceback or '')}".rstrip())
        text = "\n".join(p for p in parts if p).strip() or "(no output)"
        return make_result(text, is_error=err is not None, artifacts=tuple(artifacts), limit=ctx.max_output_chars)


async def _interrupt_kernel(sandbox) -> None:
    """Best effort, bounded: SIGINT to the Jupyter kernel is a notebook's "interrupt" (variables survive)."""
    try:
        await asyncio.wait_for(
            asyncio.shield(sandbox.commands.run("pkill -INT -f '[i]pykernel' || true", timeout=5)), 3.0)
    except (Exception, asyncio.CancelledError):
        pass
