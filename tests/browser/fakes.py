"""A scripted stand-in for AgentSession, for page-only checks and the UI benchmark's baseline.

It produces the same typed events as the real agent (agent.events), without a model or a sandbox, so the
page's rendering and pacing can be measured on their own. The real-app browser tests do NOT use it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent.events import (
    Done,
    SandboxStatus,
    TextDelta,
    ToolFinished,
    ToolOutput,
    ToolResult,
    ToolRunning,
    ToolStarted,
    Usage,
    UsageUpdate,
)
from agent.turn import TurnHost


class FakeProvider:
    kind = "local"

    def preview_url(self, sandbox_id: str, port: int) -> str | None:
        return None

    async def reap_orphans(self, owner: str) -> int:
        return 0

    def close(self) -> None:
        pass


class FakeAgentSession(TurnHost):
    """Streams ``words`` text tokens every ``delay`` s; "tool" in the message runs a fake tool first.

    Its turns are real ``agent.turn`` turns (one queue, a task that outlives its consumer, Stop as cancellation,
    rewind by turn number); only the work inside a turn is scripted.
    """

    def __init__(self, settings, provider, session_tag: str = "", words: int = 200, delay: float = 0.005) -> None:
        super().__init__()
        self.settings = settings
        self.words = words
        self.delay = delay
        self.usage = Usage()
        self._status: SandboxStatus | None = None
        self.closed = False

    async def _drive(self, text: str, files: list[Path], emit) -> None:
        self.messages.append({"role": "user", "content": [{"type": "text", "text": text}]})
        self._status = SandboxStatus("ready", "local", "fake-1", time.time() + 900)
        emit(self._status)
        if "tool" in text:
            emit(ToolStarted("t1", "run_command"))
            emit(ToolRunning("t1", "run_command", {"command": "sleep 30"}))
            for i in range(300):
                emit(ToolOutput("t1", "run_command", "stdout", f"line {i}\n"))
                await asyncio.sleep(0.1)
            emit(ToolFinished("t1", "run_command", ToolResult("ok"), 30.0))
        for i in range(self.words):
            emit(TextDelta(f"w{i} "))
            await asyncio.sleep(self.delay)
        self.messages.append({"role": "assistant", "content": [{"type": "text", "text": "done"}]})
        self.usage = self.usage + Usage(10, self.words, 0, 0, 0.001)
        emit(UsageUpdate(Usage(10, self.words), self.usage))
        emit(Done("end_turn", self.usage))

    async def prewarm(self) -> None:
        pass

    async def reset_sandbox(self) -> None:
        self._status = None

    async def close(self) -> None:
        self.closed = True

    def sandbox_status(self):
        return self._status

    async def upload(self, name: str, data: bytes) -> str:
        return f"/home/user/uploads/{name}"

    async def list_files(self, path: str = "/home/user") -> list[str]:
        return []

    async def save_file(self, path: str, dest, cap: int) -> int:
        dest.write_bytes(b"")
        return 0

    async def save_workspace_zip(self, dest, caps=None):
        import zipfile

        from agent.downloads import ZipSummary

        zipfile.ZipFile(dest, "w").close()
        return ZipSummary(included=0, left_out=0, content_bytes=0)


class CountingAgent(FakeAgentSession):
    """The fake agent, remembering every message it was asked to answer."""

    def __init__(self, settings, provider, session_tag: str = "") -> None:
        super().__init__(settings, provider, session_tag, words=20, delay=0.002)
        self.asked: list[str] = []

    async def _drive(self, text, files, emit):
        self.asked.append(text)
        await super()._drive(text, files, emit)
