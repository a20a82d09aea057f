"""The sandbox facade: SDK exceptions leave it as the core's own types (chosen by type, never by message), and
against the real local server a run past its limit is a timeout, a missing file "not found", a killed
sandbox "gone"."""

from __future__ import annotations

import asyncio
import time

import pytest
from e2b.exceptions import (
    FileNotFoundException,
    NotEnoughSpaceException,
    SandboxException,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxUnreachableException,
    TimeoutException,
)

from agent.sandbox import PathNotFound, SandboxError, SandboxGone, SandboxTimeout, TooLarge
from agent.sandbox.facade import translated_errors
from tests.agent.helpers import run


@pytest.mark.parametrize("raised, expected", [
    (SandboxNotRunningException("x"), SandboxGone),
    (SandboxUnreachableException("x"), SandboxGone),
    (SandboxNotFoundException("x"), SandboxGone),
    (FileNotFoundException("x"), PathNotFound),
    (NotEnoughSpaceException("x"), TooLarge),
    (SandboxException("x", status_code=413), TooLarge),
    # the SDK words its own execution timeout like this; the words must not make it our timeout
    (TimeoutException("Execution timed out — the 'timeout' option can be used"), SandboxError),
    (SandboxException("anything"), SandboxError),
])
def test_sdk_exceptions_become_the_cores_types_by_type(raised, expected):
    with pytest.raises(SandboxError) as caught, translated_errors():
        raise raised
    assert type(caught.value) is expected, f"{type(raised).__name__} became {type(caught.value).__name__}"
    assert not isinstance(caught.value, SandboxTimeout) or expected is SandboxTimeout


def test_the_facade_against_the_local_server(provider):
    async def scenario():
        box = await provider.create({"session": "facade-test"})
        out: list[str] = []
        try:
            with pytest.raises(SandboxTimeout):
                await box.run_code("import time\nprint('tick', flush=True)\ntime.sleep(30)", language=None,
                                   on_stdout=out.append, on_stderr=out.append, timeout_s=2)
            after = await box.run_code("print(6 * 7)", language=None, on_stdout=out.append,
                                       on_stderr=out.append, timeout_s=30)
            with pytest.raises(PathNotFound):
                await box.read_bytes("/home/user/missing.txt")
            await box.write("/home/user/dir/a.txt", b"\x00\xffbytes")
            data = await box.read_bytes("/home/user/dir/a.txt")
            listed = await box.list("/home/user/dir")
            info = await box.stat("/home/user/dir/a.txt")
            code, text = await box.run_command("echo hi; exit 3")
            alive = await box.is_running()
        finally:
            await box.kill()
        with pytest.raises(SandboxGone):
            await box.read_bytes("/home/user/dir/a.txt")
        return out, after, data, listed, info, code, text, alive, await box.is_running()

    out, after, data, listed, info, code, text, alive, alive_after_kill = run(scenario())
    assert "tick\n" in out and "42\n" in out, f"output must stream, and the kernel must work after a timeout: {out}"
    assert after.error is None
    assert data == b"\x00\xffbytes"
    assert [(e.name, e.kind, e.size) for e in listed] == [("a.txt", "file", 7)], listed
    assert info.kind == "file" and info.size == 7
    assert (code, text) == (3, "hi\n")
    assert alive and not alive_after_kill


def test_interrupting_the_kernel_stops_the_running_cell_and_keeps_its_variables(provider):
    """What Stop does on E2B's cloud (``interrupt_kernel``: SIGINT to the Jupyter kernel), tried on a real kernel."""

    async def scenario():
        box = await provider.create({"session": "interrupt-test"})
        out: list[str] = []

        async def cell(code: str, timeout_s: float = 60):
            return await box.run_code(code, language=None, on_stdout=out.append, on_stderr=out.append,
                                      timeout_s=timeout_s)

        try:
            await cell("kept = 42")
            running = asyncio.ensure_future(cell("import time\nprint('sleeping', flush=True)\ntime.sleep(60)", 90))
            deadline = time.monotonic() + 30
            while "sleeping\n" not in out and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            asked = time.monotonic()
            await box.interrupt_kernel()
            stopped = await asyncio.wait_for(running, 20)
            took = time.monotonic() - asked
            after = await cell("print(kept)")
        finally:
            await box.kill()
        return stopped, took, after, out

    stopped, took, after, out = run(scenario())
    assert "sleeping\n" in out, out
    assert stopped.error is not None and stopped.error.name == "KeyboardInterrupt", stopped
    assert took < 10, f"the cell ran on for {took:.1f} s after the interrupt"
    assert after.error is None and out[-1] == "42\n", out
