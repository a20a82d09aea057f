"""Terminals (`sandbox.pty`) through the unmodified SDK, sync and async: create a shell on a terminal of the given
size, send it keystrokes, resize it, kill it, disconnect and connect again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from e2b import CommandExitException
from e2b.sandbox.commands.command_handle import PtySize
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import wait_for
from tests.support.localbox_fixtures import async_sandbox_for, sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    yield from sandbox_for(localbox, timeout=600)


def collect(handle) -> tuple[str, int]:
    chunks: list[bytes] = []
    try:
        code = handle.wait(on_pty=chunks.append).exit_code
    except CommandExitException as exc:  # a shell that exits non-zero, like any command
        code = exc.exit_code
    return b"".join(chunks).decode(errors="replace"), code


def test_shell_on_a_terminal_with_envs_and_cwd(sandbox) -> None:
    terminal = sandbox.pty.create(PtySize(rows=24, cols=80), envs={"LB_TERM": "on-a-tty"}, cwd="/tmp")
    sandbox.pty.send_stdin(terminal.pid, b"echo $LB_TERM; pwd; tty; test -t 0 && echo interactive\nexit 3\n")
    text, code = collect(terminal)
    assert code == 3
    assert "on-a-tty" in text and "/tmp" in text and "/dev/pts/" in text and "interactive" in text


def test_terminal_size_and_resize(sandbox) -> None:
    terminal = sandbox.pty.create(PtySize(rows=30, cols=90))
    sandbox.pty.send_stdin(terminal.pid, b"stty size\n")
    time.sleep(0.3)
    sandbox.pty.resize(terminal.pid, PtySize(rows=40, cols=132))
    sandbox.pty.send_stdin(terminal.pid, b"stty size; tput cols\nexit\n")
    text, code = collect(terminal)
    assert code == 0
    assert "30 90" in text and "40 132" in text


def test_kill_a_terminal(sandbox) -> None:
    terminal = sandbox.pty.create(PtySize(rows=24, cols=80))
    assert sandbox.pty.kill(terminal.pid)
    # gone once reaped (on a busy machine a moment after kill() returns; a zombie still answers kill -0)
    wait_for(lambda: sandbox.commands.run(f"kill -0 {terminal.pid} 2>/dev/null || echo gone").stdout.strip() == "gone",
             timeout=20, what="the killed terminal's shell to be gone")
    assert not sandbox.pty.kill(999999)


def test_disconnect_and_connect_again(sandbox) -> None:
    terminal = sandbox.pty.create(PtySize(rows=24, cols=80), envs={"LB_AGAIN": "still-here"})
    sandbox.pty.send_stdin(terminal.pid, b"LB_SET_LATER=kept\n")
    terminal.disconnect()
    again = sandbox.pty.connect(terminal.pid)
    assert again.pid == terminal.pid
    sandbox.pty.send_stdin(terminal.pid, b"echo $LB_AGAIN $LB_SET_LATER\nexit\n")
    text, code = collect(again)
    assert code == 0 and "still-here kept" in text


def test_terminal_is_listed_among_processes(sandbox) -> None:
    terminal = sandbox.pty.create(PtySize(rows=24, cols=80))
    try:
        assert terminal.pid in {p.pid for p in sandbox.commands.list()}
    finally:
        sandbox.pty.kill(terminal.pid)


def test_async_terminal(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            chunks: list[bytes] = []
            terminal = await sbx.pty.create(PtySize(rows=24, cols=80), on_data=chunks.append, envs={"LB_A": "async"})
            await sbx.pty.send_stdin(terminal.pid, b"echo $LB_A-tty\n")
            await sbx.pty.resize(terminal.pid, PtySize(rows=50, cols=100))
            await sbx.pty.send_stdin(terminal.pid, b"stty size\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and b"50 100" not in b"".join(chunks):
                await asyncio.sleep(0.05)
            await terminal.disconnect()
            later: list[bytes] = []
            again = await sbx.pty.connect(terminal.pid, on_data=later.append)
            await sbx.pty.send_stdin(terminal.pid, b"echo second-$LB_A\nexit\n")
            await again.wait()
            assert again.exit_code == 0
            assert b"async-tty" in b"".join(chunks) and b"50 100" in b"".join(chunks)
            assert b"second-async" in b"".join(later)
            doomed = await sbx.pty.create(PtySize(rows=24, cols=80), on_data=lambda _: None)
            assert await sbx.pty.kill(doomed.pid)
            assert not await sbx.pty.kill(999999)

    asyncio.run(scenario())
