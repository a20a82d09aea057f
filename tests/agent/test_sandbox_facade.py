"""The sandbox facade: SDK exceptions leave it as the core's own types (chosen by type, never by message), and
against the real local server a run past its limit is a timeout, a missing file "not found", a killed
sandbox "gone"."""

from __future__ import annotations

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
