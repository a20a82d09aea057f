"""Memory and process count are capped with cgroup v1 (memory, pids) when those controllers are writable, because
root ignores RLIMIT_NPROC. File size and open files are capped with rlimits set by a tiny /bin/sh prologue that
also moves itself into the cgroups before exec'ing bubblewrap, so every jailed process starts inside them.

Where no cgroup is writable (cgroup v2 hosts, a server run by a normal user) the guest daemon falls back to rlimits
it sets on itself inside the jail (see `guest_limits`): RLIMIT_NPROC, which the kernel counts per user namespace
and so per sandbox (ignored when the server runs as root), and RLIMIT_DATA per process. Sandbox processes also ask
the kernel to kill them first when the machine runs out of memory.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .jail import JailPlan


def create_cgroups(plan: JailPlan) -> None:
    limits = plan.limits
    for cg in plan.cgroup_dirs():
        cg.parent.mkdir(exist_ok=True)
        cg.mkdir(exist_ok=True)
        if "memory" in cg.parts:
            (cg / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            swap = cg / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(limits.memory_bytes))
                except OSError:
                    pass
        else:
            (cg / "pids.max").write_text(str(limits.max_processes))


def destroy_cgroups(plan: JailPlan) -> None:
    """SIGKILL whatever is still inside the sandbox's cgroups, then remove them."""
    for cg in plan.cgroup_dirs():
        empty_and_remove(cg)


def empty_and_remove(cg: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        except OSError:
            break
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    try:
        cg.rmdir()
    except OSError:
        pass
