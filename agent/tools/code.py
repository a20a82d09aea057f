"""execute_code: run code in the sandbox's stateful interpreter (a Jupyter kernel), with rich results."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Literal

from agent.events import Artifact, ToolResult
from agent.sandbox import CodeRun, Sandbox, SandboxTimeout
from agent.tools.base import NonBlank, OutputCapture, strip_ansi
from agent.tools.registry import Display, ToolContext, tool

# Result formats that become artifacts (shown to people); the order decides the artifact order in one result.
_BINARY = {"png": "image/png", "jpeg": "image/jpeg"}
_TEXTUAL = {"svg": "image/svg+xml", "html": "text/html"}


@tool(display=Display(title="language", code="code", language_arg="language",
                     doing="Running[ {language}] code", done="Ran[ {language}] code"))
async def execute_code(
    ctx: ToolContext,
    code: Annotated[NonBlank, "The code to run."],
    language: Annotated[Literal["python", "javascript", "bash"] | None,
                        "Defaults to python (stateful). javascript and bash may not keep state between calls."]
    = "python",
) -> ToolResult:
    """Run code in a stateful interpreter inside the sandbox (variables, imports and files persist between
    calls, like a Jupyter notebook; working directory /home/user). Python has numpy, pandas and matplotlib:
    charts shown with plt.show() or display() reach the user as images. Returns stdout, stderr, the value
    of the last expression and any error with its traceback. For shell commands, installs and servers use
    run_command instead."""
    sandbox = await ctx.sandbox()
    cap = OutputCapture(ctx)
    try:
        run = await sandbox.run_code(code, language=None if language in (None, "python") else language,
                                     on_stdout=cap.sink("stdout"), on_stderr=cap.sink("stderr"),
                                     timeout_s=ctx.timeout_s)
    except asyncio.CancelledError:
        if ctx.interrupt_kernel_on_stop:
            await _interrupt_kernel(sandbox)
        raise
    except SandboxTimeout:
        if ctx.interrupt_kernel_on_stop:
            await _interrupt_kernel(sandbox)
        text = cap.labelled() + f"\nTimed out after {ctx.timeout_s:g} seconds; the execution was stopped."
        return ctx.result(text.strip(), is_error=True)
    return _result(run, cap, ctx)


def _result(run: CodeRun, cap: OutputCapture, ctx: ToolContext) -> ToolResult:
    artifacts: list[Artifact] = []
    notes: list[str] = []
    result_texts: list[str] = []
    for i, res in enumerate(run.results):
        shown = []
        for fmt, mime in _BINARY.items():
            data = getattr(res, fmt)
            if data:
                artifacts.append(Artifact(mime, base64.b64decode(data), name=f"output-{i + 1}.{fmt}"))
                shown.append(mime)
        for fmt, mime in _TEXTUAL.items():
            data = getattr(res, fmt)
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
    err = run.error
    if err is not None:
        parts.append(f"Error: {err.name}: {err.value}\n{strip_ansi(err.traceback)}".rstrip())
    text = "\n".join(p for p in parts if p).strip() or "(no output)"
    return ctx.result(text, is_error=err is not None, artifacts=tuple(artifacts))


async def _interrupt_kernel(sandbox: Sandbox) -> None:
    """Best effort, bounded: SIGINT to the Jupyter kernel is a notebook's "interrupt" (variables survive)."""
    try:
        await asyncio.wait_for(asyncio.shield(sandbox.interrupt_kernel()), 3.0)
    except (Exception, asyncio.CancelledError):
        pass
