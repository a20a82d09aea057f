"""``Sandbox``: everything the tools, the lease and the session do with one sandbox, in the core's own types.

The e2b SDK's objects and exceptions stay behind this class: results come back as the small dataclasses
below, and every SDK exception leaves as one of ``agent.sandbox.errors`` (chosen by the exception's type,
never by its text). A run's time limit is the facade's own deadline, so "the code ran too long" is a
``SandboxTimeout`` and "the sandbox stopped answering" a ``SandboxGone``/``SandboxError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from e2b.exceptions import (
    AuthenticationException,
    NotEnoughSpaceException,
    NotFoundException,
    RateLimitException,
    SandboxException,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxUnreachableException,
    TimeoutException,
)
from e2b.sandbox.commands.command_handle import CommandExitException

from agent.failures import scrub
from agent.sandbox.errors import PathNotFound, SandboxError, SandboxGone, SandboxTimeout, SandboxUnavailable, TooLarge

OnText = Callable[[str], None]
# The SDK's own deadline is set this much later than ours, so ours always fires first (and is told apart by type).
_SDK_DEADLINE_SLACK_S = 30.0
KERNEL_INTERRUPT = "pkill -INT -f '[i]pykernel' || true"


@dataclass(frozen=True)
class RichOutput:
    """One displayed value of a code run (a chart, a table, the last expression), in the formats it came in."""

    text: str | None = None
    png: str | None = None  # base64, as the kernel sends it
    jpeg: str | None = None
    svg: str | None = None
    html: str | None = None
    is_main_result: bool = False


@dataclass(frozen=True)
class CodeError:
    name: str
    value: str
    traceback: str = ""


@dataclass(frozen=True)
class CodeRun:
    results: tuple[RichOutput, ...] = ()
    error: CodeError | None = None


@dataclass(frozen=True)
class Entry:
    """A file or folder in the sandbox."""

    path: str
    name: str
    kind: Literal["file", "dir", "other"]
    size: int = 0
    symlink_target: str | None = None


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise an SDK (or transport) exception as the core's own type; the core's types pass through."""
    try:
        yield
    except SandboxError:
        raise
    except (SandboxNotFoundException, SandboxNotRunningException) as exc:
        raise SandboxGone("The sandbox is not running any more.") from exc
    except SandboxUnreachableException as exc:
        raise SandboxGone("The sandbox could not be reached.") from exc
    except NotFoundException as exc:
        raise PathNotFound(scrub(str(exc), 200)) from exc
    except NotEnoughSpaceException as exc:
        raise TooLarge("The sandbox's disk is full.") from exc
    except TimeoutException as exc:
        raise SandboxError("The sandbox did not answer in time.") from exc
    except (AuthenticationException, RateLimitException) as exc:
        raise SandboxUnavailable(f"The sandbox service refused the request ({type(exc).__name__}).") from exc
    except SandboxException as exc:
        if exc.status_code == 413:
            raise TooLarge("That is larger than the sandbox accepts.") from exc
        raise SandboxError(scrub(str(exc), 300) or type(exc).__name__) from exc
    except httpx.TransportError as exc:
        raise SandboxError(f"The connection to the sandbox failed ({type(exc).__name__}).") from exc


class Command:
    """A command started in the sandbox: wait for its exit code, kill it, or leave it running."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.pid: int = handle.pid

    async def wait(self) -> int:
        """The exit code, once the command ends."""
        with translated_errors():
            try:
                result = await self._handle.wait()
            except CommandExitException as exc:
                return exc.exit_code
            return result.exit_code

    async def kill(self) -> None:
        with translated_errors():
            await self._handle.kill()

    async def disconnect(self) -> None:
        """Stop following the command's output; it keeps running."""
        with translated_errors():
            await self._handle.disconnect()


class Sandbox:
    """One live sandbox (local or E2B cloud) behind the operations the agent needs."""

    def __init__(self, sdk: Any, preview: Callable[[str, int], str | None] = lambda sandbox_id, port: None) -> None:
        self._sdk = sdk
        self._preview = preview
        self.sandbox_id: str = sdk.sandbox_id

    # ------------------------------------------------------------------ running things

    async def run_code(self, code: str, *, language: str | None, on_stdout: OnText, on_stderr: OnText,
                       timeout_s: float) -> CodeRun:
        """Run ``code`` in the stateful interpreter (``language`` None: Python), streaming its output lines.

        Past ``timeout_s`` the request is dropped and ``SandboxTimeout`` raised (the local server then
        interrupts the cell itself; for E2B's cloud call ``interrupt_kernel``).
        """
        run = self._sdk.run_code(code, language=language, on_stdout=lambda m: on_stdout(m.line),
                                 on_stderr=lambda m: on_stderr(m.line), timeout=timeout_s + _SDK_DEADLINE_SLACK_S)
        with translated_errors():
            try:
                execution = await asyncio.wait_for(run, timeout_s)
            except TimeoutError:
                raise SandboxTimeout(f"Timed out after {timeout_s:g} seconds.") from None
        err = execution.error
        return CodeRun(
            results=tuple(RichOutput(text=r.text, png=r.png, jpeg=r.jpeg, svg=r.svg, html=r.html,
                                     is_main_result=bool(r.is_main_result)) for r in execution.results),
            error=CodeError(err.name, err.value, err.traceback or "") if err is not None else None,
        )

    async def start_command(self, command: str, *, cwd: str, on_stdout: OnText, on_stderr: OnText) -> Command:
        """Start a bash command line without a time limit; its output streams to the callbacks."""
        with translated_errors():
            handle = await self._sdk.commands.run(command, background=True, cwd=cwd, on_stdout=on_stdout,
                                                  on_stderr=on_stderr, timeout=0)
        return Command(handle)

    async def run_command(self, command: str, *, timeout_s: float = 10.0) -> tuple[int, str]:
        """Run a short command to its end: (exit code, stdout + stderr)."""
        out: list[str] = []
        cmd = await self.start_command(command, cwd="/home/user", on_stdout=out.append, on_stderr=out.append)
        try:
            code = await asyncio.wait_for(cmd.wait(), timeout_s)
        except TimeoutError:
            await cmd.kill()
            raise SandboxTimeout(f"Timed out after {timeout_s:g} seconds.") from None
        return code, "".join(out)

    async def interrupt_kernel(self) -> None:
        """SIGINT to the Jupyter kernel: a notebook's "interrupt" (the running cell stops, variables survive)."""
        with translated_errors():
            await self._sdk.commands.run(KERNEL_INTERRUPT, timeout=5)

    # ------------------------------------------------------------------ files

    async def read_bytes(self, path: str) -> bytes:
        with translated_errors():
            return bytes(await self._sdk.files.read(path, format="bytes"))

    async def read_chunks(self, path: str) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive (the SDK's streamed read): never the whole file in memory at once.

        The caller counts the bytes itself; a listing's size may be stale (the file can grow meanwhile).
        Leaving the loop early closes the connection.
        """
        with translated_errors():
            stream = await self._sdk.files.read(path, format="stream")
        try:
            while True:
                with translated_errors():
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        return
                yield bytes(chunk)
        finally:
            await stream.aclose()

    async def write(self, path: str, data: str | bytes) -> None:
        """Create or overwrite ``path`` (parent folders are made)."""
        with translated_errors():
            await self._sdk.files.write(path, data)

    async def list(self, path: str, depth: int = 1) -> list[Entry]:
        with translated_errors():
            return [_entry(e) for e in await self._sdk.files.list(path, depth=depth)]

    async def stat(self, path: str) -> Entry:
        with translated_errors():
            return _entry(await self._sdk.files.get_info(path))

    # ------------------------------------------------------------------ life

    async def is_running(self) -> bool:
        with translated_errors():
            return bool(await self._sdk.is_running())

    async def set_timeout(self, seconds: int) -> None:
        """Keep the sandbox alive for ``seconds`` from now (sliding idle timeout)."""
        with translated_errors():
            await self._sdk.set_timeout(seconds)

    async def kill(self) -> bool:
        with translated_errors():
            return bool(await self._sdk.kill())

    def preview_url(self, port: int) -> str | None:
        """Where a web server on ``port`` inside the sandbox can be opened from a browser (None: not possible)."""
        return self._preview(self.sandbox_id, port)


def _entry(info: Any) -> Entry:
    kind = getattr(info.type, "value", info.type)
    return Entry(path=info.path, name=info.name, kind=kind if kind in ("file", "dir") else "other",
                 size=int(info.size or 0), symlink_target=getattr(info, "symlink_target", None))
