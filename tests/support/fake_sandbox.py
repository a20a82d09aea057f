"""An in-memory stand-in for ``agent.sandbox.Sandbox`` (and a provider that makes them), for tests of tools.

Files live in a dict of bytes; code runs and commands are scripted per test (an async function each). It
records what the core asked of it (kernel interrupts, kills, timeout extensions) so a test can check that a
stopped tool interrupted the kernel or that a command was killed. It never talks to the network.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from agent.sandbox import CodeRun, Entry, PathNotFound, SandboxGone, SandboxTimeout

OnText = Callable[[str], None]
CodeScript = Callable[[str, OnText, OnText], Awaitable[CodeRun]]
CommandScript = Callable[[str, OnText, OnText], Awaitable[int]]


async def _no_code(code: str, out: OnText, err: OnText) -> CodeRun:
    return CodeRun()


async def _no_command(command: str, out: OnText, err: OnText) -> int:
    return 0


class FakeCommand:
    def __init__(self, task: asyncio.Task[int], pid: int) -> None:
        self._task = task
        self.pid = pid
        self.killed = False

    async def wait(self) -> int:
        return await asyncio.shield(self._task)

    async def kill(self) -> None:
        self.killed = True
        self._task.cancel()

    async def disconnect(self) -> None:
        pass


class FakeSandbox:
    def __init__(self, sandbox_id: str = "fake-1", code: CodeScript = _no_code,
                 command: CommandScript = _no_command) -> None:
        self.sandbox_id = sandbox_id
        self.files: dict[str, bytes] = {}
        self.code = code
        self.command = command
        self.commands: list[FakeCommand] = []
        self.interrupts = 0
        self.running = True
        self.timeouts: list[int] = []

    def _alive(self) -> None:
        if not self.running:
            raise SandboxGone("The sandbox is not running any more.")

    async def run_code(self, code: str, *, language: str | None, on_stdout: OnText, on_stderr: OnText,
                       timeout_s: float) -> CodeRun:
        self._alive()
        try:
            return await asyncio.wait_for(self.code(code, on_stdout, on_stderr), timeout_s)
        except TimeoutError:
            raise SandboxTimeout(f"Timed out after {timeout_s:g} seconds.") from None

    async def start_command(self, command: str, *, cwd: str, on_stdout: OnText, on_stderr: OnText) -> FakeCommand:
        self._alive()
        handle = FakeCommand(asyncio.ensure_future(self.command(command, on_stdout, on_stderr)),
                             pid=100 + len(self.commands))
        self.commands.append(handle)
        return handle

    async def run_command(self, command: str, *, timeout_s: float = 10.0) -> tuple[int, str]:
        out: list[str] = []
        handle = await self.start_command(command, cwd="/home/user", on_stdout=out.append, on_stderr=out.append)
        try:
            code = await asyncio.wait_for(handle.wait(), timeout_s)
        except TimeoutError:
            await handle.kill()
            raise SandboxTimeout(f"Timed out after {timeout_s:g} seconds.") from None
        return code, "".join(out)

    async def interrupt_kernel(self) -> None:
        self._alive()
        self.interrupts += 1

    async def read_bytes(self, path: str) -> bytes:
        self._alive()
        if path not in self.files:
            raise PathNotFound(f"{path} does not exist")
        return self.files[path]

    async def read_chunks(self, path: str) -> AsyncIterator[bytes]:
        data = await self.read_bytes(path)
        for start in range(0, len(data), 64 * 1024):
            yield data[start:start + 64 * 1024]

    async def write(self, path: str, data: str | bytes) -> None:
        self._alive()
        self.files[path] = data.encode() if isinstance(data, str) else bytes(data)

    async def list(self, path: str, depth: int = 1) -> list[Entry]:
        self._alive()
        prefix = path.rstrip("/") + "/"
        entries: dict[str, Entry] = {}
        for name, data in self.files.items():
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split("/")
            for level in range(1, min(depth, len(parts)) + 1):
                sub = prefix + "/".join(parts[:level])
                is_file = level == len(parts)
                entries[sub] = Entry(path=sub, name=posixpath.basename(sub), kind="file" if is_file else "dir",
                                     size=len(data) if is_file else 0)
        if not entries and not any(n.startswith(prefix) for n in self.files):
            raise PathNotFound(f"{path} does not exist")
        return list(entries.values())

    async def stat(self, path: str) -> Entry:
        data = await self.read_bytes(path)
        return Entry(path=path, name=posixpath.basename(path), kind="file", size=len(data))

    async def is_running(self) -> bool:
        return self.running

    async def set_timeout(self, seconds: int) -> None:
        self._alive()
        self.timeouts.append(seconds)

    async def kill(self) -> bool:
        was, self.running = self.running, False
        return was

    def preview_url(self, port: int) -> str | None:
        return None


class FakeSandboxProvider:
    """Hands out FakeSandbox objects; ``kind="e2b"`` makes sessions treat them as E2B cloud sandboxes."""

    def __init__(self, kind: str = "local", make: Callable[[], FakeSandbox] | None = None) -> None:
        self.kind = kind
        self.made: list[FakeSandbox] = []
        self._make = make or (lambda: FakeSandbox(f"fake-{len(self.made) + 1}"))

    async def create(self, metadata: dict[str, str]) -> Any:
        box = self._make()
        self.made.append(box)
        return box

    def preview_url(self, sandbox_id: str, port: int) -> str | None:
        return None

    async def reap_orphans(self, owner: str | None = None) -> int:
        return 0

    def close(self) -> None:
        pass
