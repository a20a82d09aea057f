"""AgentSession: one conversation (one browser session, one CLI run) with its transcript and its sandbox.

``run_turn`` (or ``start_turn`` and the returned ``Turn``) gives the turn's events, ending with ``Done``. The turn
runs in its own task and every event of it, tool output and sandbox status included, goes through that turn's
one queue (``agent/turn.py``); ``cancel()`` (from any thread) stops it, ``rewind(n)`` takes the transcript back
to turn n. Nothing here is shared between sessions except the provider, which is only a sandbox factory.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anthropic

from agent.claude_client import make_client
from agent.config import Settings
from agent.downloads import DEFAULT_FILE_CAP, DownloadCaps, ZipSummary, save_file, save_zip
from agent.events import Done, Error, ErrorKind, SandboxStatus, StopReason, ToolOutput, ToolResult, Usage
from agent.guardrails import Guard
from agent.lease import SandboxLease
from agent.loop import AgentLoop
from agent.prompts import system_prompt as prompt_for
from agent.sandbox import Sandbox, SandboxProvider, SandboxReset, SandboxUnavailable
from agent.tools import Tool, ToolContext, default_tools
from agent.tools.base import HOME, make_result, sandbox_path
from agent.tools.files import SKIP_DIRS
from agent.transcript import TurnMarks, append_assistant, append_user
from agent.turn import Emit, TurnHost

log = logging.getLogger(__name__)

UPLOAD_DIR = f"{HOME}/uploads"
MAX_LISTED_FILES = 2000


class AgentSession(TurnHost):
    def __init__(
        self,
        settings: Settings,
        provider: SandboxProvider,
        session_tag: str = "",
        tools: Sequence[Tool] | None = None,
        system_prompt: str | None = None,  # default: what this app's sandboxes are and can reach
    ) -> None:
        super().__init__()
        self.settings = settings
        self.provider = provider
        self.session_tag = session_tag
        self.usage = Usage()
        self.system_prompt = system_prompt if system_prompt is not None else prompt_for(
            getattr(provider, "kind", "e2b"), settings.local_internet, settings.local_allow_domains)
        self._tools = {t.name: t for t in (tools if tools is not None else default_tools())}
        self._lease = SandboxLease(provider, {"session": session_tag[:64]}, settings.sandbox_idle_timeout_s,
                                   self._on_status)
        self._client: anthropic.AsyncAnthropic | None = None
        self._client_key: tuple[Any, ...] | None = None
        self._emit: Emit | None = None  # the running turn's emit (tool output, sandbox status)
        self._sandbox_error_reported = False
        self._no_thinking_models: set[str] = set()  # models that rejected adaptive thinking in this session
        self.guard = Guard()  # the operator's limits (none unless set; the page gives each session its own)
        self._resume_note: str | None = None  # for the model with the next message (see ``restore``)

    # ------------------------------------------------------------------ settings and client

    def update_settings(self, settings: Settings) -> None:
        """Switch model / key for the next turn (the transcript and sandbox stay)."""
        self.settings = settings

    def _client_for_turn(self) -> anthropic.AsyncAnthropic:
        s = self.settings
        key = (s.anthropic_api_key, s.anthropic_base_url, s.api_max_retries, s.api_timeout_s)
        if self._client is None or key != self._client_key:
            self._client = make_client(s)
            self._client_key = key
        return self._client

    # ------------------------------------------------------------------ a turn

    def _refusal(self) -> tuple[ErrorKind, str] | None:
        missing = self.settings.missing_key_message()
        if missing:
            return ErrorKind.AUTH, missing
        limit = self.guard.refusal()
        return (ErrorKind.LIMIT, limit) if limit else None

    async def _drive(self, text: str, files: list[Path], emit: Emit) -> None:
        self._emit = emit
        self._sandbox_error_reported = False
        loop: AgentLoop | None = None
        try:
            try:  # a busy page's waiting line: the message starts once a sandbox is free (status "waiting")
                await self._lease.wait_for_room()
            except SandboxUnavailable as exc:
                emit(Error(kind=ErrorKind.SANDBOX, message=str(exc), final=True))
                emit(Done(stop_reason=StopReason.ERROR, message=str(exc)))
                return
            self.guard.turn_started()
            self._lease.ensure_started()  # sandbox creation overlaps the first model request
            content = text
            if files:
                content += "\n\n" + await self._upload_all(files)
            note = self._lease.take_note()
            if note:
                content = f"[{note}]\n\n{content}"
            resume_note, self._resume_note = self._resume_note, None
            if resume_note:
                content = f"[{resume_note}]\n\n{content}"
            append_user(self.messages, [{"type": "text", "text": content or "(empty message)"}])
            loop = AgentLoop(
                client=self._client_for_turn(),
                settings=self.settings,
                system=self.system_prompt,
                tools=[t.spec() for t in self._tools.values()],
                messages=self.messages,
                run_tool=self._run_tool,
                emit=emit,
                add_usage=self._add_usage,
                thinking=self.settings.thinking and self.settings.model not in self._no_thinking_models,
                halt=self.guard.halt,
            )
            stop, message = await loop.run()
            if self.settings.thinking and not loop.thinking:
                self._no_thinking_models.add(self.settings.model)
            status = await self._lease.settle()
            if status is not None:
                emit(status)  # the sandbox's new expiry after this turn's use
            emit(Done(stop_reason=stop, usage=loop.turn_usage, message=message))
        except asyncio.CancelledError:
            emit(Error(kind=ErrorKind.CANCELLED, message="Stopped by the user.", final=True))
            emit(Done(stop_reason=StopReason.CANCELLED, usage=loop.turn_usage if loop else Usage(),
                      message="Stopped."))
            raise
        finally:
            self._emit = None

    def restore(self, turns: Sequence[tuple[int, str, str]], note: str | None = None) -> None:
        """Start this session from an earlier conversation given as text: (turn number, user text, reply text).

        For a conversation that comes back after its session was closed (the page keeps its own copy): the model
        gets the earlier turns as plain text, and ``note`` (e.g. "the sandbox is fresh") with the next message.
        Turn numbers are kept, so ``rewind`` cuts the same turns as on the page. Only before any turn runs.
        """
        if self.turn_running:
            raise RuntimeError("restore while a turn is running")
        self.messages.clear()
        self._marks = TurnMarks()
        for number, user, reply in turns:
            self._marks.begin(number, self.messages)
            append_user(self.messages, [{"type": "text", "text": user.strip() or "(empty message)"}])
            if reply.strip():
                append_assistant(self.messages, [{"type": "text", "text": reply}])
        self._resume_note = note

    # ------------------------------------------------------------------ tools

    async def _run_tool(self, call_id: str, name: str, args: dict[str, Any]) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(output=f"Unknown tool {name!r}. Available: {', '.join(self._tools)}.", is_error=True)
        refused = self.guard.tool_refusal()
        if refused:
            return ToolResult(output=f"Not run: {refused}", is_error=True)
        self.guard.tool_started()
        started = time.monotonic()
        try:
            return await self._run_tool_once(call_id, name, tool, args)
        finally:
            self.guard.tool_ran(time.monotonic() - started)

    async def _run_tool_once(self, call_id: str, name: str, tool: Tool, args: dict[str, Any]) -> ToolResult:
        limit = self.settings.max_tool_output_chars
        used: list[Sandbox] = []

        async def sandbox() -> Sandbox:
            sbx = await self._lease.get()
            used.append(sbx)
            return sbx

        def output(stream: str, text: str) -> None:
            if self._emit is not None:
                self._emit(ToolOutput(id=call_id, name=name, stream=stream, text=text))  # type: ignore[arg-type]

        ctx = ToolContext(sandbox=sandbox, output=output, timeout_s=self.settings.tool_timeout_s,
                          max_output_chars=limit, interrupt_kernel_on_stop=self.provider.kind == "e2b")
        for attempt in (1, 2):
            used.clear()
            try:
                result = await tool.run(args, ctx)
            except SandboxReset:
                return _stopped_by_reset(name, limit)
            except SandboxUnavailable as exc:
                self._report_sandbox_error(str(exc))
                return ToolResult(output=f"The sandbox is unavailable: {exc}", is_error=True)
            except Exception as exc:
                if used and self._lease.was_reset(used[-1]):  # the user threw that sandbox away: never run it again
                    return _stopped_by_reset(name, limit)
                if attempt == 1 and await self._lease.replace_if_dead(used[-1] if used else None):
                    continue  # run once more on the fresh sandbox; the restart note goes with the result
                log.info("tool %s failed: %s", name, type(exc).__name__)
                return make_result(f"{name} failed: {_plain(exc)}", is_error=True, limit=limit)
            note = self._lease.take_note()
            if note:
                result = ToolResult(output=f"[{note}]\n{result.output}", is_error=result.is_error,
                                    artifacts=result.artifacts, full_output=result.full_output)
            return result
        raise AssertionError("unreachable")

    def _report_sandbox_error(self, message: str) -> None:
        if not self._sandbox_error_reported and self._emit is not None:
            self._sandbox_error_reported = True
            self._emit(Error(kind=ErrorKind.SANDBOX, message=message))

    # ------------------------------------------------------------------ bookkeeping

    def _add_usage(self, u: Usage) -> Usage:
        self.usage = self.usage + u
        self.guard.spent(u.cost_usd)
        return self.usage

    def _on_status(self, status: SandboxStatus) -> None:
        if self._emit is not None:
            self._emit(status)

    def sandbox_status(self) -> SandboxStatus | None:
        return self._lease.status

    # ------------------------------------------------------------------ sandbox lifecycle

    async def prewarm(self) -> None:
        """Start creating the sandbox now (returns at once; errors surface on first use)."""
        self._lease.ensure_started()

    async def reset_sandbox(self) -> None:
        """Kill the sandbox; the next use creates a fresh one and the model is told earlier state is gone."""
        await self._lease.kill(replaced=True)

    async def close(self) -> None:
        """Stop a running turn, kill the sandbox, release the API client (idempotent; the session is done)."""
        if self.turn_running:
            self.cancel()
            await self.wait_idle()
        status = self._lease.status
        await self._lease.kill(replaced=False)
        telemetry, self.telemetry = self.telemetry, None
        if telemetry is not None:
            telemetry.ended(self.usage, status.sandbox_id if status is not None else "")
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:
                pass

    # ------------------------------------------------------------------ workspace

    async def upload(self, name: str, data: bytes) -> str:
        """Put a file into /home/user/uploads/<name>; returns its sandbox path."""
        path = f"{UPLOAD_DIR}/{_safe_name(name)}"
        sandbox = await self._lease.get()
        await sandbox.write(path, data)
        return path

    async def _upload_all(self, files: list[Path]) -> str:
        lines = []
        for f in files:
            data = await asyncio.to_thread(Path(f).read_bytes)
            try:
                path = await self.upload(Path(f).name, data)
            except SandboxUnavailable as exc:
                self._report_sandbox_error(str(exc))
                lines.append(f"- {Path(f).name}: could not be uploaded (the sandbox is unavailable)")
                continue
            except Exception as exc:  # e.g. too large for the sandbox's upload limit or disk
                log.warning("upload of a file failed: %s", type(exc).__name__)
                lines.append(f"- {Path(f).name}: could not be uploaded ({len(data):,} bytes; it may be too large)")
                continue
            lines.append(f"- {path} ({len(data)} bytes)")
        return "Uploaded files:\n" + "\n".join(lines)

    async def list_files(self, path: str = HOME) -> list[str]:
        """Files (not folders) under ``path``, recursively, skipping bulky and hidden folders; bounded."""
        return [p for p, _ in await self._walk(path)]

    async def _walk(self, path: str) -> list[tuple[str, int]]:
        """(path, size) of the files under ``path``, breadth first, sorted, at most MAX_LISTED_FILES."""
        sandbox = await self._lease.get()
        out: list[tuple[str, int]] = []
        pending = [sandbox_path(path)]
        visited = 0
        while pending and len(out) < MAX_LISTED_FILES and visited < MAX_LISTED_FILES:
            folder = pending.pop(0)
            visited += 1
            for e in await sandbox.list(folder, depth=1):
                if e.symlink_target:
                    continue  # `ln -s . loop` or `ln -s / root` must not repeat the workspace or pull in the system
                if e.kind == "dir":
                    if e.name not in SKIP_DIRS and not e.name.startswith("."):  # caches, kernel profiles
                        pending.append(e.path)
                elif e.kind == "file":
                    out.append((e.path, e.size))
        return sorted(out)[:MAX_LISTED_FILES]

    async def read_file(self, path: str) -> bytes:
        sandbox = await self._lease.get()
        return await sandbox.read_bytes(sandbox_path(path))

    async def save_file(self, path: str, dest: Path, cap: int = DEFAULT_FILE_CAP) -> int:
        """Stream one sandbox file to ``dest`` on this machine (at most ``cap`` bytes, else DownloadTooLarge)."""
        sandbox = await self._lease.get()
        return await save_file(sandbox, sandbox_path(path), dest, cap)

    async def save_workspace_zip(self, dest: Path, caps: DownloadCaps = DownloadCaps()) -> ZipSummary:
        """A zip of /home/user (without node_modules and hidden folders such as .git or caches) written to ``dest``.

        Streamed file by file; the caps are checked on the bytes read, not on the listing's sizes.
        """
        files = await self._walk(HOME)
        sandbox = await self._lease.get()
        return await save_zip(sandbox, files, HOME, dest, caps)


def _safe_name(name: str, max_bytes: int = 200) -> str:
    """One visible file name from whatever a browser sent: no folders, no control characters, no leading dot,
    and short enough for the file system (the end is kept, so the extension survives)."""
    base = posixpath.basename(name.replace("\\", "/")).strip()
    base = re.sub(r"[^\w.\- ()]+", "_", base).lstrip(".")
    if len(base.encode()) > max_bytes:
        stem, dot, ext = base.rpartition(".")
        if not (dot and stem and len(ext) < 16):
            stem, ext = base, ""
        ext = f".{ext}" if ext else ""
        base = stem.encode()[: max_bytes - len(ext.encode())].decode(errors="ignore") + ext
    return base or "upload"


def _stopped_by_reset(name: str, limit: int) -> ToolResult:
    return make_result(f"{name} was stopped: the user reset the sandbox while it ran (or was starting), so it did "
                       "not finish and was not run again; the next tool call gets a fresh sandbox.",
                       is_error=True, limit=limit)


def _plain(exc: BaseException) -> str:
    from agent.failures import scrub

    text = scrub(str(exc), 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
