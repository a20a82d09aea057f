"""Sandboxes on hosts without writable cgroup v1 controllers (cgroup v2 laptops, a server run by a normal user).

`--cgroups off` makes this machine behave like such a host, so the fallback is exercised here too: every sandbox
process gets RLIMIT_DATA (memory per process) and RLIMIT_NPROC (processes, counted per sandbox because the limit is
set inside the jail's own user namespace), and volunteers for the kernel's OOM killer ahead of the host's own
processes. Root ignores RLIMIT_NPROC, so its effect is shown by the limit being in place, not by a fork bomb.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.localbox import LocalServer, capabilities
from tests.support.localbox_fixtures import serve

from .helpers import extra_sandbox, wait_for

MEMORY_MB = 512
MAX_PROCESSES = 96

_READ_LIMITS = """
import resource
print(resource.getrlimit(resource.RLIMIT_DATA)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0],
      open('/proc/self/oom_score_adj').read().strip())
"""


@pytest.fixture(scope="module")
def no_cgroup_server() -> Iterator[LocalServer]:
    options = ("--cgroups", "off", "--memory-mb", str(MEMORY_MB), "--max-processes", str(MAX_PROCESSES),
               "--pool-size", "0")
    yield from serve(options)


def test_code_and_commands_run_under_rlimits(no_cgroup_server) -> None:
    with extra_sandbox(no_cgroup_server) as sbx:
        in_kernel = sbx.run_code(_READ_LIMITS)
        assert in_kernel.error is None, in_kernel.error
        data, nproc, oom = "".join(in_kernel.logs.stdout).split()
        assert (int(data), int(nproc)) == (MEMORY_MB << 20, MAX_PROCESSES)
        assert int(oom) >= 500, "sandbox code must be the OOM killer's first choice"

        sbx.files.write("/tmp/limits.py", _READ_LIMITS)
        in_shell = sbx.commands.run("python3 /tmp/limits.py").stdout.split()
        assert (int(in_shell[0]), int(in_shell[1])) == (MEMORY_MB << 20, MAX_PROCESSES)


def test_memory_bomb_fails_cleanly_and_the_kernel_lives_on(no_cgroup_server) -> None:
    with extra_sandbox(no_cgroup_server) as sbx:
        sbx.run_code("kept = 'still here'")
        bomb = sbx.run_code("chunks = [b'x' * (64 << 20) for _ in range(64)]  # 4 GiB", timeout=60)
        assert bomb.error is not None and bomb.error.name == "MemoryError", bomb.error
        # The same kernel (its state intact) answers again: the per-process cap refused the allocation, nobody died.
        after = wait_for(lambda: sbx.run_code("kept", timeout=30).text,
                         timeout=30, what="the kernel to answer after the refused allocation")
        assert after == "still here"  # E2B drops one pair of quotes from text/plain


def test_with_a_memory_cgroup_there_is_no_per_process_data_cap(sandbox) -> None:
    """Where the memory cgroup is writable (as on CI), it caps the whole sandbox and processes are not capped."""
    data, nproc, _ = "".join(sandbox.run_code(_READ_LIMITS).logs.stdout).split()
    cgroup_writable = capabilities.cgroup_v1_dir("memory") is not None
    assert int(data) == (-1 if cgroup_writable else 2 << 30)  # -1: RLIM_INFINITY
    assert int(nproc) == 256
