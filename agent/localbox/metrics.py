"""`Sandbox.get_metrics()`: one sample of a sandbox's CPU, memory and disk use, read from its cgroup.

Memory comes from the sandbox's cgroup v1 memory controller (usage, limit, page cache). CPU is the share of one
machine the sandbox's processes used over a short window (their user+system ticks, from /proc), as a percentage
of every core. Disk is the sandbox's home (its size-limited tmpfs), seen through one of its processes' root.
Without a memory cgroup (cgroup v2 hosts, a server run by a normal user, `--cgroups off`) there is nothing to
read from, and the answer says so instead of inventing numbers.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from .jail import JAIL_HOME, JailPlan

CPU_WINDOW = 0.25  # seconds between the two CPU readings
UNSUPPORTED = ("metrics are not available on this machine: they are read from the sandbox's memory cgroup, and the "
               "local sandbox server could not create one here (cgroup v1 memory controller not writable)")


def memory_cgroup(plan: JailPlan) -> Path | None:
    for cg in plan.cgroup_dirs():
        if "memory" in cg.parts:
            return cg
    return None


def _pids(cg: Path) -> list[int]:
    try:
        return [int(p) for p in (cg / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
    return total


def _memory(cg: Path, limit: int) -> tuple[int, int, int]:
    used = int((cg / "memory.usage_in_bytes").read_text())
    total = min(limit, int((cg / "memory.limit_in_bytes").read_text()))
    cache = 0
    for line in (cg / "memory.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "cache":
            cache = int(value)
    return used, total, cache


def _disk(pids: list[int]) -> tuple[int, int]:
    for pid in pids:
        try:
            st = os.statvfs(f"/proc/{pid}/root{JAIL_HOME}")
        except OSError:
            continue
        return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize
    return 0, 0


async def sample(plan: JailPlan) -> dict | None:
    """One metrics entry in the control plane's JSON shape, or None when the sandbox has no memory cgroup."""
    cg = memory_cgroup(plan)
    if cg is None or not cg.is_dir():
        return None
    cores = os.cpu_count() or 1
    hz = os.sysconf("SC_CLK_TCK")
    before, started = _cpu_ticks(_pids(cg)), time.monotonic()
    await asyncio.sleep(CPU_WINDOW)
    pids = _pids(cg)
    ticks, elapsed = _cpu_ticks(pids) - before, time.monotonic() - started
    cpu_pct = max(0.0, min(100.0, 100.0 * ticks / hz / elapsed / cores))
    mem_used, mem_total, mem_cache = _memory(cg, plan.limits.memory_bytes)
    disk_used, disk_total = _disk(pids)
    now = time.time()
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z",
        "timestampUnix": int(now),
        "cpuCount": cores,
        "cpuUsedPct": round(cpu_pct, 2),
        "memUsed": mem_used,
        "memTotal": mem_total,
        "memCache": mem_cache,
        "diskUsed": disk_used,
        "diskTotal": disk_total or plan.limits.home_bytes,
    }
