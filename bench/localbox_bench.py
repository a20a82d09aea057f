"""Benchmark of the local E2B-compatible sandbox server (agent.localbox) through the unmodified SDK.

Measures what an agent feels: sandbox create latency, first and warm `run_code` round trips, `commands.run` and
files write+read round trips, and the memory an idle sandbox costs (PSS and RSS of the jail's processes, plus the
memory cgroup when one is found). Prints a table and writes bench/README-localbox.md (or --out).

    .venv/bin/python bench/localbox_bench.py                 # starts its own server
    .venv/bin/python bench/localbox_bench.py --url http://127.0.0.1:PORT --api-key KEY   # an already running one
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2b_code_interpreter import Sandbox

from tests.support.procs import process_tree

MIB = 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """Latencies of one operation, in milliseconds."""

    name: str
    samples_ms: tuple[float, ...]
    goal_ms: float | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def verdict(self) -> str:
        if self.goal_ms is None:
            return ""
        return "meets goal" if self.p50 <= self.goal_ms else "MISSES goal"


@dataclass(frozen=True)
class MemoryResult:
    """Memory cost of one idle sandbox (deltas over the server's process tree, divided by the sandbox count)."""

    sandboxes: int
    pss_mib_each: float
    rss_mib_each: float
    cgroup_mib_each: float | None
    goal_mib: float

    @property
    def per_gib(self) -> float:
        return 1024 / self.pss_mib_each if self.pss_mib_each > 0 else float("inf")


@dataclass(frozen=True)
class ServerHandle:
    url: str
    api_key: str
    options: dict
    stop: Callable[[], None]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def start(args: argparse.Namespace) -> ServerHandle:
    if args.url:
        options = {"api_url": args.url, "sandbox_url": args.url, "api_key": args.api_key}
        return ServerHandle(args.url, args.api_key, options, lambda: None)
    from agent.localbox import start_server

    server = start_server()
    return ServerHandle(server.url, server.api_key, server.sdk_options(), server.stop)


def bench_create(opts: dict, n: int, gap: float) -> tuple[Timing, Timing]:
    """Create latency and first run_code after create; `gap` seconds between rounds lets a warm pool refill."""
    creates, firsts = [], []
    for _ in range(n):
        holder: list[Sandbox] = []
        creates.append(timed(lambda: holder.append(Sandbox.create(**opts))))
        sbx = holder[0]
        try:
            firsts.append(timed(lambda: sbx.run_code("1 + 1")))
        finally:
            sbx.kill()
        time.sleep(gap)
    return (
        Timing("create (Sandbox.create)", tuple(creates), goal_ms=50),
        Timing("first run_code after create", tuple(firsts)),
    )


def bench_round_trips(opts: dict, n: int) -> list[Timing]:
    sbx = Sandbox.create(**opts)
    try:
        for _ in range(3):
            sbx.run_code("1 + 1")
            sbx.commands.run("true")
        warm = [timed(lambda: sbx.run_code("1 + 1")) for _ in range(n)]
        cmd = [timed(lambda: sbx.commands.run("true")) for _ in range(n)]
        payload = os.urandom(1024)

        def write_read() -> None:
            sbx.files.write("/home/user/bench.bin", payload)
            assert bytes(sbx.files.read("/home/user/bench.bin", format="bytes")) == payload

        files = [timed(write_read) for _ in range(n)]
        raw = _raw_execute_timings(opts, sbx, n)
    finally:
        sbx.kill()
    return [
        Timing("warm run_code `1 + 1`", tuple(warm), goal_ms=15),
        Timing("raw POST /execute `1 + 1`, kept-alive connection (server share)", tuple(raw)),
        Timing("commands.run `true`", tuple(cmd)),
        Timing("files write+read 1 KiB", tuple(files)),
    ]


def _raw_execute_timings(opts: dict, sbx: Sandbox, n: int) -> list[float]:
    """The same `1 + 1` as a bare HTTP request on one kept-alive connection: what the server costs, without the
    SDK's per-call connection (the SDK opens a new HTTP connection for every run_code)."""
    import httpx

    headers = {
        "E2b-Sandbox-Id": sbx.sandbox_id,
        "E2b-Sandbox-Port": "49999",
        "X-Access-Token": sbx._envd_access_token or "",
    }
    with httpx.Client(base_url=opts["sandbox_url"], timeout=60) as client:
        for _ in range(3):
            client.post("/execute", json={"code": "1 + 1"}, headers=headers).raise_for_status()
        return [timed(lambda: client.post("/execute", json={"code": "1 + 1"}, headers=headers)) for _ in range(n)]


def _proc_tree(root_pids: list[int]) -> list[int]:
    return sorted(process_tree(root_pids))


def _memory_of(pids: list[int]) -> tuple[int, int]:
    """(PSS, RSS) in bytes summed over pids."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return pss, rss


def _server_roots(url: str) -> list[int]:
    port = url.rsplit(":", 1)[1]
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = [w.decode(errors="replace") for w in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if "agent.localbox" in " ".join(words) and (port in words or f"--port={port}" in words):
            roots.append(int(entry.name))
    return roots


def _jail_cgroup_usages(roots: list[int]) -> list[int]:
    """memory.usage_in_bytes of every memory cgroup (v1) holding a process of the server's tree, except the server's
    own: one per jail when the server gives each jail its own cgroup (pool jails included)."""

    def memory_cgroup(pid: int) -> str | None:
        try:
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                if "memory" in controllers.split(","):
                    return path
        except (OSError, ValueError):
            return None
        return None

    own = {memory_cgroup(pid) for pid in roots}
    groups = {memory_cgroup(pid) for pid in _proc_tree(roots)} - own - {None}
    usages = []
    for group in groups:
        usage = Path("/sys/fs/cgroup/memory") / str(group).lstrip("/") / "memory.usage_in_bytes"
        try:
            usages.append(int(usage.read_text()))
        except (OSError, ValueError):
            continue
    return usages


def _cgroup_usage(sandbox_id: str) -> int | None:
    for base in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if not base.is_dir():
            continue
        try:
            for path in base.rglob("*"):
                if path.is_dir() and sandbox_id in path.name:
                    for name in ("memory.usage_in_bytes", "memory.current"):
                        if (path / name).exists():
                            return int((path / name).read_text())
        except OSError:
            continue
    return None


def bench_memory(server: ServerHandle, count: int, settle: float) -> MemoryResult:
    roots = _server_roots(server.url)
    if not roots:
        raise SystemExit("cannot find the server process by its port: memory cannot be measured")
    time.sleep(settle)
    before_pss, before_rss = _memory_of(_proc_tree(roots))
    sandboxes = [Sandbox.create(**server.options) for _ in range(count)]
    try:
        for sbx in sandboxes:
            sbx.run_code("1 + 1")  # a used, then idle, kernel
        time.sleep(settle)  # let a warm pool refill so it is in both measurements
        after_pss, after_rss = _memory_of(_proc_tree(roots))
        cgroups = [_cgroup_usage(s.sandbox_id) for s in sandboxes]
        if not any(c is not None for c in cgroups):
            cgroups = list(_jail_cgroup_usages(roots))
    finally:
        for sbx in sandboxes:
            sbx.kill()
    known = [c for c in cgroups if c is not None]
    return MemoryResult(
        sandboxes=count,
        pss_mib_each=(after_pss - before_pss) / count / MIB,
        rss_mib_each=(after_rss - before_rss) / count / MIB,
        cgroup_mib_each=(sum(known) / len(known) / MIB) if known else None,
        goal_mib=80,
    )


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return f"{os.cpu_count()} cores ({model}), {mem_kib / 1024 / 1024:.0f} GiB RAM, {platform.system()} {platform.release()}"


def render(
    timings: list[Timing], memory: MemoryResult | None, command: str, notes: str, load: tuple[float, float]
) -> str:
    rows = ["| measure | p50 | p95 | samples | goal | verdict |", "|---|---|---|---|---|---|"]
    for t in timings:
        goal = f"≤ {t.goal_ms:.0f} ms" if t.goal_ms else ""
        rows.append(f"| {t.name} | {t.p50:.1f} ms | {t.p95:.1f} ms | {len(t.samples_ms)} | {goal} | {t.verdict} |")
    if memory:
        verdict = "meets goal" if memory.pss_mib_each <= memory.goal_mib else "MISSES goal"
        cg = f"{memory.cgroup_mib_each:.1f} MiB" if memory.cgroup_mib_each is not None else "n/a"
        rows.append(
            f"| idle sandbox memory (PSS; RSS {memory.rss_mib_each:.1f} MiB; mean jail memory cgroup {cg}) | "
            f"{memory.pss_mib_each:.1f} MiB | | {memory.sandboxes} sandboxes | ≤ {memory.goal_mib:.0f} MiB | {verdict} |"
        )
        rows.append(f"| sandboxes per GiB (from PSS) | {memory.per_gib:.1f} | | | | |")
    return "\n".join(
        [
            "# Local sandbox benchmark (agent.localbox)",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine()}. 1-minute load average {load[0]:.1f} at the start and {load[1]:.1f} at the end "
            "(other jobs share the machine; on 2 cores a load above 2 means the numbers include waiting for a CPU).",
            "",
            *rows,
            "",
            "## E2B cloud, published numbers, for comparison",
            "",
            "| measure | E2B |",
            "|---|---|",
            "| sandbox start | ~100-150 ms claimed; a third party measured ~0.7 s cold |",
            "| default sandbox size | 2 vCPU, 2 GiB RAM |",
            "| concurrency | 20 concurrent sandboxes on Hobby, 100 on Pro; creation 1/s (Hobby), 5/s (Pro) |",
            "| run_code round trip | not published; a cloud round trip also pays the network latency to the region |",
            "",
            "## How it is measured",
            "",
            "- create: wall time of `Sandbox.create(**server.sdk_options())` (control-plane REST call; a warm pool "
            "answers from a pre-started jail). Rounds are spaced by `--gap` seconds so the pool can refill; a burst "
            "of creates faster than the refill pays the cold start.",
            "- first run_code: the first `run_code('1 + 1')` right after create.",
            "- warm run_code / commands.run / files: the same sandbox, after 3 warm-up calls.",
            "- idle memory: PSS (shared pages split fairly) and RSS of the server's whole process tree, after minus "
            "before creating N sandboxes that ran `1 + 1` and then idled, divided by N. RSS double-counts shared "
            "libraries; PSS is the honest per-sandbox cost. Files in a sandbox's tmpfs add to this when used. The "
            "jail cgroup figure is the mean memory.usage_in_bytes of the jails' memory cgroups (page cache included).",
            "- raw /execute: the same `1 + 1` as a bare HTTP request on one kept-alive connection (no SDK), to "
            "separate the server's share from the SDK's (which opens a new HTTP connection for every run_code).",
            "",
            notes,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="use an already running server at this URL instead of starting one")
    parser.add_argument("--api-key", default="", help="API key of the server given with --url")
    parser.add_argument("--creates", type=int, default=20, help="number of create rounds")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between create rounds (pool refill)")
    parser.add_argument("--round-trips", type=int, default=50, help="samples per round-trip measure")
    parser.add_argument("--idle", type=int, default=5, help="sandboxes kept idle for the memory measure")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to let the server settle before memory")
    parser.add_argument("--out", default=str(Path(__file__).with_name("README-localbox.md")))
    parser.add_argument("--notes", default="", help="free text appended to the markdown (observations)")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()[0]
    server = start(args)
    try:
        Sandbox.create(**server.options).kill()  # warm-up: imports, pool, connections
        time.sleep(args.gap)
        create, first = bench_create(server.options, args.creates, args.gap)
        timings = [create, first, *bench_round_trips(server.options, args.round_trips)]
        memory = bench_memory(server, args.idle, args.settle) if args.idle > 0 else None
    finally:
        server.stop()

    shown = list(argv if argv is not None else sys.argv[1:])
    if "--notes" in shown:  # the notes are printed below the table, not inside the command line
        i = shown.index("--notes")
        shown[i : i + 2] = ["--notes", "NOTES"]
    command = "python bench/localbox_bench.py " + " ".join(shown)
    markdown = render(timings, memory, command.strip(), args.notes, (load_start, os.getloadavg()[0]))
    print(markdown)
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    kept = old[old.find("<!-- egress bench -->"):] if "<!-- egress bench -->" in old else ""  # egress_bench.py's
    out.write_text(markdown + "\n" + ("\n" + kept if kept else ""))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
