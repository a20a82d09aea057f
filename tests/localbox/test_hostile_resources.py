"""Hostile code trying to exhaust resources: fork bombs, memory bombs, disk fillers, busy loops, output floods and
a kernel that kills itself.

Every attack is bounded in time by the test, and every test checks that (a) the attack was stopped with an error
the SDK user can see, (b) a bystander sandbox created before the attack kept its state, and (c) the server still
creates and serves fresh sandboxes. Process/memory safety guards run before the real bombs so that a server without
limits fails the test instead of taking the machine down.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator

import pytest
from e2b import CommandExitException, SandboxException
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import (
    assert_server_serves,
    extra_sandbox,
    host_process_count,
    output_text,
    rss_bytes,
    server_pids,
    wait_for,
)

pytestmark = pytest.mark.hostile

MIB = 1024 * 1024
GIB = 1024 * MIB
TRUNCATION_WORDS = re.compile(r"truncat|limit|too much output|capped|exceed", re.IGNORECASE)


@pytest.fixture()
def bystander(localbox) -> Iterator[Sandbox]:
    """A sandbox created before the attack, holding state that must survive it."""
    with extra_sandbox(localbox) as sbx:
        sbx.run_code("bystander_state = 'intact'")
        sbx.files.write("/home/user/bystander.txt", "intact")
        yield sbx


def kernel_answers_again(victim: Sandbox, what: str, call_timeout: float = 30) -> None:
    """The victim's kernel (fresh or restarted) runs code again within a minute (each try ``call_timeout`` s)."""
    wait_for(lambda: victim.run_code("40 + 2", timeout=call_timeout).text == "42", timeout=60, what=what)


def assert_bystander_intact(sbx: Sandbox) -> None:
    assert sbx.run_code("bystander_state", timeout=60).text == "intact"
    assert sbx.files.read("/home/user/bystander.txt") == "intact"


def server_rss(server) -> int:
    """RSS of the server process(es) found by port (the control plane, not the jails)."""
    return sum(rss_bytes(pid) for pid in server_pids(server))


def _exception_or_error_text(call) -> tuple[bool, str]:
    """Run `call`; return (failed, text) where text is what the SDK user gets to read."""
    try:
        result = call()
    except CommandExitException as exc:
        return True, f"exit {exc.exit_code}: {exc.stderr} {exc.error or ''} {exc.stdout[-2000:] if exc.stdout else ''}"
    except SandboxException as exc:
        return True, f"{type(exc).__name__}: {exc}"
    if hasattr(result, "logs"):  # an Execution
        return result.error is not None, output_text(result)
    return False, getattr(result, "stdout", "") + getattr(result, "stderr", "")


# ---------------------------------------------------------------------------------------------------------------
# Processes

_FORK_PROBE = """
import os, time
n = 0
err = 'none'
for _ in range(3000):
    try:
        pid = os.fork()
    except OSError as e:
        err = type(e).__name__ + ': ' + e.strerror
        break
    if pid == 0:
        # Let go of the command's stdout/stderr so the command ends when the parent does.
        null = os.open('/dev/null', os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        time.sleep(20)
        os._exit(0)
    n += 1
print('forked', n, err)
"""


def _assert_process_cap(sbx: Sandbox) -> str:
    """A bounded fork loop (3000 children at most) must hit a process cap before the real bomb is allowed."""
    sbx.files.write("/tmp/fork_probe.py", _FORK_PROBE)
    result = sbx.commands.run("python3 /tmp/fork_probe.py", timeout=120)
    words = result.stdout.split()
    assert words[0] == "forked", result.stdout
    forked = int(words[1])
    assert forked < 3000, (
        "no process cap in the sandbox: 3000 forks succeeded; refusing to run a real fork bomb "
        "(the server needs a pids cgroup or an unprivileged uid)"
    )
    return result.stdout


def test_fork_bomb_in_shell_is_contained(localbox, bystander) -> None:
    baseline = host_process_count()
    with extra_sandbox(localbox) as victim:
        probe = _assert_process_cap(victim)
        assert "Resource temporarily unavailable" in probe or "BlockingIOError" in probe, probe
        started = time.monotonic()
        with contextlib.suppress(SandboxException):
            victim.commands.run(":(){ :|:& };:", timeout=10)
        assert time.monotonic() - started < 60
        peak = host_process_count()
        assert peak < baseline + 3000, f"fork bomb escaped its cap: {peak - baseline} new host processes"
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)
    # Killing the sandbox frees every bomb process.
    wait_for(
        lambda: host_process_count() < baseline + 100,
        timeout=30,
        what="the fork bomb's processes to disappear after kill",
    )


def test_fork_bomb_in_kernel_is_contained(localbox, bystander) -> None:
    baseline = host_process_count()
    with extra_sandbox(localbox) as victim:
        _assert_process_cap(victim)
        failed, _ = _exception_or_error_text(
            lambda: victim.run_code(
                "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", timeout=8
            )
        )
        assert failed, "an endless fork loop cannot finish successfully"
        assert host_process_count() < baseline + 3000
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)
    wait_for(lambda: host_process_count() < baseline + 100, timeout=30, what="kernel fork bomb cleanup")


# ---------------------------------------------------------------------------------------------------------------
# Memory

_MEMORY_BOMB = """
chunks = []
for i in range(18):              # 18 x 256 MiB = 4.5 GiB, every page touched
    chunks.append(b'x' * (256 * 1024 * 1024))
    print('allocated', (i + 1) * 256, 'MiB', flush=True)
print('MEMORY-BOMB-SUCCEEDED')
"""


def test_memory_bomb_in_kernel_is_contained(localbox, bystander) -> None:
    rss_before = server_rss(localbox)
    with extra_sandbox(localbox) as victim:
        victim.run_code("victim_state = 1")
        failed, text = _exception_or_error_text(lambda: victim.run_code(_MEMORY_BOMB, timeout=120))
        assert "MEMORY-BOMB-SUCCEEDED" not in text, "4.5 GiB allocated: no memory limit on the sandbox"
        assert failed, f"the memory bomb must end with a visible error, got: {text[-500:]}"
        assert re.search(r"memory|kill|died|restart|dead", text, re.IGNORECASE), f"unclear error: {text[-500:]}"
        # The sandbox itself recovers: a fresh (or restarted) kernel answers again.
        kernel_answers_again(victim, "the kernel to answer again after the memory bomb")
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)
    assert server_rss(localbox) < rss_before + 300 * MIB


def test_memory_bomb_in_shell_is_contained(localbox, bystander) -> None:
    with extra_sandbox(localbox) as victim:
        victim.files.write("/tmp/bomb.py", _MEMORY_BOMB)
        failed, text = _exception_or_error_text(lambda: victim.commands.run("python3 /tmp/bomb.py", timeout=120))
        assert "MEMORY-BOMB-SUCCEEDED" not in text, "4.5 GiB allocated from a command: no memory limit"
        assert failed
        assert victim.commands.run("echo alive").stdout == "alive\n"
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)


# ---------------------------------------------------------------------------------------------------------------
# Disk

_DISK_FILLER = """
import errno
chunk = b'\\0' * (64 * 1024 * 1024)
written = 0
outcome = 'no error'
try:
    with open(TARGET, 'wb') as f:
        while written < 4 * 1024 ** 3:          # stop at 4 GiB whatever happens
            f.write(chunk)
            f.flush()
            written += len(chunk)
except OSError as e:
    outcome = errno.errorcode.get(e.errno, str(e.errno))
print('WRITTEN', written, 'OUTCOME', outcome)
"""


@pytest.mark.parametrize("target", ["/home/user/fill.bin", "/tmp/fill.bin"])
def test_disk_filler_stops_with_an_error(localbox, bystander, target) -> None:
    host_free_before = shutil.disk_usage("/").free
    with extra_sandbox(localbox) as victim:
        run = victim.run_code(_DISK_FILLER.replace("TARGET", repr(target)), timeout=180)
        text = output_text(run)
        match = re.search(r"WRITTEN (\d+) OUTCOME (\S+)", text)
        assert match, text[-1000:]
        written, outcome = int(match.group(1)), match.group(2)
        assert outcome in ("ENOSPC", "EFBIG", "EDQUOT"), f"disk filler wrote {written} bytes, outcome {outcome}"
        assert written < 4 * GIB
        # Host disk is untouched (other jobs write too, hence the generous margin).
        assert host_free_before - shutil.disk_usage("/").free < max(written // 2, 512 * MIB)
        # The full sandbox reports a clear error for more writes, and recovers after cleanup.
        with contextlib.suppress(SandboxException):
            victim.files.write(target + ".more", b"x" * (8 * MIB))
        victim.files.remove(target)
        victim.files.remove(target + ".more")
        victim.files.write("/home/user/after.txt", "ok")
        assert victim.files.read("/home/user/after.txt") == "ok"
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)


def test_disk_filler_in_shell(localbox, bystander) -> None:
    with extra_sandbox(localbox) as victim:
        failed, text = _exception_or_error_text(
            lambda: victim.commands.run("dd if=/dev/zero of=/home/user/dd.bin bs=1M count=4096", timeout=180)
        )
        assert failed, "dd wrote 4 GiB: no disk limit"
        assert re.search(r"No space left|File too large|limit exceeded|quota", text), text[-500:]
        victim.commands.run("rm -f /home/user/dd.bin")
        assert_bystander_intact(bystander)


# ---------------------------------------------------------------------------------------------------------------
# CPU


def test_interrupt_swallowing_loop_is_stopped(localbox, bystander) -> None:
    """A loop that ignores KeyboardInterrupt cannot be interrupted: the server must restart the kernel instead."""
    with extra_sandbox(localbox) as victim:
        code = (
            "import signal\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n"
            "    try:\n"
            "        pass\n"
            "    except KeyboardInterrupt:\n"
            "        pass\n"
        )
        with pytest.raises(SandboxException):  # TimeoutException on the client
            victim.run_code(code, timeout=3)
        kernel_answers_again(victim, "the kernel to be usable after a loop that ignores SIGINT", call_timeout=10)
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)


# ---------------------------------------------------------------------------------------------------------------
# Output floods

_KERNEL_FLOOD = """
import sys
line = 'y' * 1023 + '\\n'
for _ in range(100 * 1024):       # 100 MiB
    sys.stdout.write(line)
sys.stdout.flush()
print('FLOOD-DONE')
"""


def test_kernel_output_flood_is_capped(localbox, bystander) -> None:
    rss_before = server_rss(localbox)
    received = 0
    last_lines: list[str] = []

    def count(message) -> None:
        nonlocal received
        received += len(message.line)
        last_lines.append(message.line[-300:])
        del last_lines[:-20]

    with extra_sandbox(localbox) as victim:
        failed, text = _exception_or_error_text(
            lambda: victim.run_code(_KERNEL_FLOOD, on_stdout=count, on_stderr=count, timeout=180)
        )
        assert received < 50 * MIB, f"{received / MIB:.0f} MiB of stdout reached the client: output is not capped"
        visible = text[-5000:] + "".join(last_lines)
        assert TRUNCATION_WORDS.search(visible), f"no clear truncation message: {visible[-600:]!r}"
        kernel_answers_again(victim, "kernel after flood")
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)
    assert server_rss(localbox) < rss_before + 300 * MIB, "server memory grew with the flood"


def test_shell_output_flood_is_capped(localbox, bystander) -> None:
    rss_before = server_rss(localbox)
    received = 0
    tail: list[str] = []

    def count(data: str) -> None:
        nonlocal received
        received += len(data)
        tail.append(data[-300:])
        del tail[:-20]

    with extra_sandbox(localbox) as victim:
        failed, text = _exception_or_error_text(
            lambda: victim.commands.run("yes | head -c 100M", on_stdout=count, on_stderr=count, timeout=180)
        )
        assert received < 50 * MIB, f"{received / MIB:.0f} MiB of command output reached the client"
        visible = text[-5000:] + "".join(tail)
        assert TRUNCATION_WORDS.search(visible), f"no clear truncation message: {visible[-600:]!r}"
        assert victim.commands.run("echo alive").stdout == "alive\n"
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)
    assert server_rss(localbox) < rss_before + 300 * MIB


# ---------------------------------------------------------------------------------------------------------------
# Kernel suicide


def test_kernel_killing_itself_gives_a_clear_error_and_recovers(localbox, bystander) -> None:
    with extra_sandbox(localbox) as victim:
        failed, text = _exception_or_error_text(
            lambda: victim.run_code("import os\nos.kill(os.getpid(), 9)", timeout=60)
        )
        assert failed, "a kernel that died must not look like a successful execution"
        assert text.strip(), "the error must say something"
        assert re.search(r"kernel|died|restart|dead|killed", text, re.IGNORECASE), f"unclear error: {text[-500:]}"

        def next_call_works_or_fails_clearly() -> bool:
            try:
                return victim.run_code("'back'", timeout=20).text == "back"
            except SandboxException as exc:
                assert re.search(r"kernel|restart", str(exc), re.IGNORECASE), f"unclear error: {exc}"
                return False

        wait_for(next_call_works_or_fails_clearly, timeout=60, what="a restarted kernel")
        assert_bystander_intact(bystander)
        assert_server_serves(localbox)

