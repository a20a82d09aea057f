"""Files API and lifecycle corners found in review: special files, odd names, cross-filesystem moves, huge files,
and SDK calls the local server does not support (which must fail loudly, not pretend to succeed)."""

from __future__ import annotations

import pytest
from e2b import SandboxException

from tests.localbox.helpers import SANDBOX_HOME


def test_reading_a_fifo_is_refused_and_the_sandbox_stays_usable(sandbox) -> None:
    sandbox.commands.run(f"mkfifo {SANDBOX_HOME}/pipe")
    with pytest.raises(SandboxException, match="not a regular file"):
        sandbox.files.read("pipe", request_timeout=20)
    assert sandbox.commands.run("echo alive", timeout=20).stdout == "alive\n"
    sandbox.files.write("after.txt", "ok")
    assert sandbox.files.read("after.txt") == "ok"


def test_a_name_that_is_not_utf8_does_not_break_the_listing(sandbox) -> None:
    sandbox.commands.run(f"touch {SANDBOX_HOME}/plain.txt $'{SANDBOX_HOME}/caf\\xe9.txt'")
    names = {entry.name for entry in sandbox.files.list(SANDBOX_HOME)}
    assert "plain.txt" in names
    assert "caf\ufffd.txt" in names


def test_rename_across_tmp_and_home(sandbox) -> None:
    sandbox.files.write("/tmp/moving.txt", "across")
    info = sandbox.files.rename("/tmp/moving.txt", f"{SANDBOX_HOME}/moved.txt")
    assert info.path == f"{SANDBOX_HOME}/moved.txt"
    assert sandbox.files.read("moved.txt") == "across"
    assert not sandbox.files.exists("/tmp/moving.txt")


def test_a_file_over_the_download_limit_gets_a_clear_error(sandbox) -> None:
    sandbox.commands.run(f"truncate -s 600M {SANDBOX_HOME}/huge.bin")  # sparse: costs no memory
    with pytest.raises(SandboxException, match="cannot be downloaded"):
        sandbox.files.read("huge.bin", format="bytes")
    assert sandbox.commands.run("echo alive").stdout == "alive\n"


def test_pause_is_refused_not_silently_ignored(sandbox) -> None:
    with pytest.raises(SandboxException, match="not supported"):
        sandbox.pause()
    assert sandbox.is_running()


def test_a_code_context_in_a_missing_directory_is_refused(sandbox) -> None:
    with pytest.raises(Exception, match="does not exist"):
        sandbox.create_code_context(cwd="/home/user/no/such/dir")
    context = sandbox.create_code_context(cwd="/tmp")
    assert sandbox.run_code("import os; os.getcwd()", context=context).text == "/tmp"
