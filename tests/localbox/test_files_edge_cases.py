"""Files API and lifecycle corners found in review: special files, odd names, cross-filesystem moves, huge files,
and SDK calls the local server does not support (which must fail loudly, not pretend to succeed)."""

from __future__ import annotations

import threading
import time

import pytest
from e2b import SandboxException

from tests.localbox.helpers import SANDBOX_HOME, rss_bytes, server_pids


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


def test_a_big_upload_streams_through_without_piling_up_in_server_memory(sandbox, localbox, tmp_path) -> None:
    """300 MB written through the files API: the server passes it on in pieces instead of holding it all."""
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        f.truncate(300 << 20)  # sparse: costs no disk
    pids = server_pids(localbox)
    baseline = sum(rss_bytes(pid) for pid in pids)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(rss_bytes(pid) for pid in pids))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with open(source, "rb") as f:
            sandbox.files.write("big.bin", f, request_timeout=300)
    finally:
        done.set()
        sampler.join()
    assert sandbox.files.get_info("big.bin").size == 300 << 20
    growth = (peak[0] - baseline) >> 20
    assert growth < 120, f"the server grew by {growth} MiB while passing a 300 MiB upload on"
