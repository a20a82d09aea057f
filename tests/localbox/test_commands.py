"""commands.run through the unmodified SDK: streaming, envs, cwd, exit codes, timeouts, background processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2b import CommandExitException, TimeoutException
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import extra_sandbox, wait_for
from tests.support.localbox_fixtures import sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    """One sandbox for this module's commands tests (each uses its own paths): saves a jail start per test, which
    keeps the suite's runtime modest on 2 cores. Overrides the function-scoped fixture of the same name."""
    yield from sandbox_for(localbox, timeout=600)


def test_run_returns_stdout_and_exit_code(sandbox) -> None:
    result = sandbox.commands.run("echo hello && echo warn >&2")
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert result.stderr == "warn\n"


def test_stdout_is_streamed_while_running(sandbox) -> None:
    chunks: list[tuple[str, float]] = []
    started = time.monotonic()
    sandbox.commands.run(
        "echo first; sleep 2.5; echo second",
        on_stdout=lambda data: chunks.append((data, time.monotonic())),
        timeout=60,
    )
    finished = time.monotonic()
    assert "".join(c for c, _ in chunks) == "first\nsecond\n"
    first_at = next(at for c, at in chunks if "first" in c)
    assert finished - first_at >= 1.5, "the first chunk must arrive before the command ends"
    assert finished - started >= 2.5


def test_stderr_callback(sandbox) -> None:
    errors: list[str] = []
    sandbox.commands.run("echo problem >&2", on_stderr=errors.append)
    assert "".join(errors) == "problem\n"


def test_envs_per_command_and_sandbox_envs(localbox) -> None:
    with extra_sandbox(localbox, envs={"LB_BASE": "from-sandbox", "LB_OVER": "sandbox"}) as sbx:
        result = sbx.commands.run('echo "$LB_BASE $LB_OVER $LB_CALL"', envs={"LB_OVER": "call", "LB_CALL": "yes"})
        assert result.stdout.strip() == "from-sandbox call yes"
        assert sbx.commands.run('echo "[$LB_CALL]"').stdout.strip() == "[]"


def test_default_environment_is_sane(sandbox) -> None:
    result = sandbox.commands.run('echo "$HOME|$PWD"; command -v python3 >/dev/null && echo has-python')
    lines = result.stdout.splitlines()
    assert lines[0] == "/home/user|/home/user"
    assert "has-python" in lines


def test_cwd(sandbox) -> None:
    sandbox.files.make_dir("/home/user/workdir")
    assert sandbox.commands.run("pwd", cwd="/home/user/workdir").stdout.strip() == "/home/user/workdir"
    assert sandbox.commands.run("pwd", cwd="/tmp").stdout.strip() == "/tmp"


def test_nonzero_exit_raises_command_exit_exception(sandbox) -> None:
    with pytest.raises(CommandExitException) as caught:
        sandbox.commands.run("echo partial; echo failing >&2; exit 3")
    assert caught.value.exit_code == 3
    assert caught.value.stderr == "failing\n"
    assert caught.value.stdout == "partial\n"


def test_missing_command_is_exit_127(sandbox) -> None:
    with pytest.raises(CommandExitException) as caught:
        sandbox.commands.run("definitely-not-a-command-xyz")
    assert caught.value.exit_code == 127
    assert "not found" in caught.value.stderr


def test_timeout_raises_and_sandbox_keeps_working(sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sandbox.commands.run("sleep 60", timeout=2)
    assert time.monotonic() - started < 30
    assert sandbox.commands.run("echo after-timeout").stdout == "after-timeout\n"


def test_background_command_list_and_kill(sandbox) -> None:
    handle = sandbox.commands.run("sleep 300", background=True)
    assert handle.pid > 0
    listed = wait_for(
        lambda: [p for p in sandbox.commands.list() if p.pid == handle.pid],
        timeout=10,
        what="the background command to be listed",
    )
    assert "sleep 300" in " ".join([listed[0].cmd, *listed[0].args])
    assert sandbox.commands.kill(handle.pid) is True
    wait_for(
        lambda: all(p.pid != handle.pid for p in sandbox.commands.list()),
        timeout=10,
        what="the killed command to leave the list",
    )
    with pytest.raises(CommandExitException):  # killed by SIGKILL: non-zero exit
        handle.wait()


def test_background_handle_kill_and_output(sandbox) -> None:
    handle = sandbox.commands.run("echo started; touch /tmp/echoed; sleep 300", background=True)
    # Kill only once the echo has happened (bash -l startup takes a moment), so "started" is in the pipe.
    wait_for(lambda: sandbox.files.exists("/tmp/echoed"), timeout=10, what="the echo to run")
    assert handle.kill() is True
    with pytest.raises(CommandExitException) as caught:
        handle.wait()
    assert caught.value.stdout == "started\n"
    assert sandbox.commands.kill(999999) is False  # unknown pid


def test_background_command_finishes_normally(sandbox) -> None:
    handle = sandbox.commands.run("sleep 0.5; echo done-bg", background=True)
    result = handle.wait()
    assert result.exit_code == 0
    assert result.stdout == "done-bg\n"


def test_non_ascii_output(sandbox) -> None:
    result = sandbox.commands.run("printf 'héllo wörld ✓ 日本\\n'")
    assert result.stdout == "héllo wörld ✓ 日本\n"
    echoed = sandbox.commands.run("echo 'ça marche ✓'")
    assert echoed.stdout == "ça marche ✓\n"


def test_binary_and_large_output_chunks_reassemble(sandbox) -> None:
    result = sandbox.commands.run("python3 -c \"print('x' * 200000)\"")
    assert result.stdout == "x" * 200000 + "\n"


def test_stdin_is_closed_by_default(sandbox) -> None:
    # `cat` with no stdin must not hang: the SDK starts commands with stdin=False.
    assert sandbox.commands.run("cat; echo eof", timeout=20).stdout == "eof\n"
