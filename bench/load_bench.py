"""Load and soak: N concurrent sessions driven like a browser drives them, then many sessions opened and closed
plus one app restart, and a count of everything left behind.

The real app (``python app.py``, its own process, embedded local sandboxes) talks to the Claude stand-in
(``tests/support/claude_standin.py``, demo responder: the prompt below makes one ``run_command`` tool call in the
sandbox, then a summary). Each session does what the page does in a browser: it opens Gradio's heartbeat stream
(``/gradio_api/heartbeat/<session>``), joins the queue (``/gradio_api/queue/join``) with a chat message and reads
the event stream (``/gradio_api/queue/data``); closing the tab is closing the heartbeat.

Phase 1 (load): one session alone (baseline), then ``--sessions`` at once. Time to first token = join until the
first streamed output holding the model's first words; turn time = join until the turn completes. "Added" = the
figure under load minus the lone session's. The app's memory (RSS of the app process, and with its children:
sandboxes and kernels) and CPU (the app and its children, % of one core) are sampled from /proc.

Phase 2 (soak): ``--soak`` sessions in waves of ``--wave``; every third one closes its heartbeat as soon as the
first token arrives (a tab closed mid-turn), the rest after their turn. After ``--restart-after`` sessions the app
is stopped with SIGTERM while a wave is mid-turn and started again. At the end the app is stopped and the script
counts what is left: processes that were ever children of either app (sandboxes, bwrap, kernels), /proc/mounts
entries and /sys/fs/cgroup entries of the apps' localbox scratch directories, temp dirs of the apps, and files in
the apps' private Gradio cache.

    .venv/bin/python -m bench.load_bench --sessions 20 --soak 100
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Please run a shell command to show who I am"  # demo responder: one run_command, then a summary
FIRST_WORDS = "Running"  # the start of the demo responder's first words for that tool call (streamed in chunks)
SLOW_PROMPT = "A slow command please"  # demo responder: a 10 s command (keeps a wave mid-turn for the restart)
TICK = os.sysconf("SC_CLK_TCK")


# ----- /proc ------------------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from "state" on (index 0 = field 3)


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``root``: the start time tells a reused pid apart."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
                starts[int(entry)] = fields[19]
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, starts[child]))
            todo.append(child)
    return found


def alive(pid: int, start: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[19] == start and fields[0] != "Z"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return sum(int(x) for x in fields[11:15]) if fields else 0  # utime stime cutime cstime


class Sampler:
    """Samples the app's RSS (alone and with its children) and remembers every child it ever had."""

    def __init__(self) -> None:
        self.pid = 0
        self.seen: set[tuple[int, str]] = set()
        self.app_peak = self.tree_peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def reset_peaks(self) -> None:
        self.app_peak = self.tree_peak = 0.0

    def tree_cpu(self) -> int:
        kids = descendants(self.pid)
        return cpu_ticks(self.pid) + sum(cpu_ticks(p) for p, _ in kids)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            if not self.pid:
                continue
            kids = descendants(self.pid)
            self.seen |= kids
            app = rss_mb(self.pid)
            self.app_peak = max(self.app_peak, app)
            self.tree_peak = max(self.tree_peak, app + sum(rss_mb(p) for p, _ in kids))

    def stop(self) -> None:
        self._stop.set()


# ----- the app --------------------------------------------------------------------------------------------------


class App:
    def __init__(self, claude_url: str, gradio_tmp: str, log: Path) -> None:
        from tests.browser.conftest import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-bench-0000", "ANTHROPIC_BASE_URL": claude_url,
               "AGENT_SANDBOX": "local", "AGENT_ENV_FILE": "", "GRADIO_SERVER_PORT": str(self.port),
               "GRADIO_TEMP_DIR": gradio_tmp, "GRADIO_ANALYTICS_ENABLED": "False",
               "AGENT_MAX_SANDBOXES": "200", "AGENT_MAX_SANDBOXES_PER_CLIENT": "200",
               "AGENT_RECONNECT_GRACE": "2", "AGENT_API_RETRIES": "0", "LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def wait_up(self) -> int:
        from tests.browser.conftest import wait_for_config

        wait_for_config(self.url, timeout=120)
        config = httpx.get(self.url + "config", timeout=10).json()
        for index, dep in enumerate(config["dependencies"]):
            if dep.get("api_name") == "chat":
                return dep.get("id", index)
        raise RuntimeError("the page has no chat listener")

    def status(self) -> dict:
        return httpx.get(self.url + "status", timeout=10).json()

    def stop(self) -> float:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        return time.monotonic() - start


# ----- one browser-like session -------------------------------------------------------------------------------


def session(url: str, fn_index: int, close_mid_turn: bool = False, prompt: str = PROMPT) -> tuple[float | None, float | None, str]:
    """Heartbeat open, one chat turn with a tool call; (time to first token, turn time, outcome)."""
    session_hash = uuid.uuid4().hex[:11]
    heartbeat = httpx.Client(base_url=url, timeout=None)
    beat = heartbeat.stream("GET", f"gradio_api/heartbeat/{session_hash}")
    response = beat.__enter__()

    def drain() -> None:
        try:
            for _ in response.iter_bytes():
                pass
        except Exception:
            pass

    threading.Thread(target=drain, daemon=True).start()
    first: float | None = None
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            start = time.monotonic()
            joined = client.post("gradio_api/queue/join", json={
                "data": [{"text": prompt, "files": []}, [], "", ""], "fn_index": fn_index,
                "session_hash": session_hash})
            if joined.status_code != 200:
                return None, None, f"join {joined.status_code}"
            with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
                for line in stream.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    if first is None and FIRST_WORDS in line:
                        first = time.monotonic() - start
                        if close_mid_turn:
                            return first, None, "closed mid-turn"
                    if message.get("msg") == "process_completed":
                        done = time.monotonic() - start
                        ok = message.get("success") and ("hi from" in line or "tick" in line)  # command output
                        return first, done, "ok" if ok else "ended without the command's output"
        return first, None, "stream ended"
    except httpx.HTTPError as exc:
        return first, None, type(exc).__name__
    finally:
        heartbeat.close()  # the tab is closed


# ----- leftovers ------------------------------------------------------------------------------------------------


def leftovers(pids: list[int], seen: set[tuple[int, str]], gradio_tmp: str) -> dict[str, object]:
    pids = sorted(set(pids) | {pid for pid, _ in seen})  # the localbox server is a child of the app
    tags = [f"localbox-{pid}-" for pid in pids]
    mounts = [line for line in Path("/proc/mounts").read_text().splitlines() if any(t in line for t in tags)]
    cgroups = [p for pid in pids for p in glob.glob(f"/sys/fs/cgroup/*/localbox/sb-{pid}-*")]
    scratch = [p for pid in pids for p in glob.glob(os.path.join(tempfile.gettempdir(), f"localbox-{pid}-*"))]
    cache = [str(p) for p in Path(gradio_tmp).rglob("*") if p.is_file()]
    procs = [pid for pid, start in seen if alive(pid, start)]
    return {"processes": len(procs), "mounts": len(mounts), "cgroups": len(cgroups),
            "scratch dirs": len(scratch), "gradio cache files": len(cache), "processes ever seen": len(seen)}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--soak", type=int, default=100)
    parser.add_argument("--wave", type=int, default=10)
    parser.add_argument("--restart-after", type=int, default=50)
    args = parser.parse_args()

    from tests.support.claude_standin import ClaudeStandin, demo_responder

    print("load average at start:", Path("/proc/loadavg").read_text().strip(), flush=True)
    claude = ClaudeStandin(responder=demo_responder).start()
    gradio_tmp = tempfile.mkdtemp(prefix="bench-load-gradio-")
    log = Path(tempfile.mkdtemp(prefix="bench-load-log-")) / "app.log"
    sampler = Sampler()
    app = App(claude.base_url, gradio_tmp, log)
    pids = [app.proc.pid]
    sampler.pid = app.proc.pid
    try:
        fn = app.wait_up()
        session(app.url, fn)  # warm-up: first imports, first sandbox
        time.sleep(3)
        idle_rss = rss_mb(app.proc.pid)
        alone = [session(app.url, fn) for _ in range(3)]
        base_first = statistics.median(a[0] for a in alone if a[0] is not None)
        base_turn = statistics.median(a[1] for a in alone if a[1] is not None)
        print(f"alone: first token {base_first:.2f} s, turn {base_turn:.2f} s, idle app RSS {idle_rss:.0f} MB", flush=True)

        sampler.reset_peaks()
        cpu0, wall0 = sampler.tree_cpu(), time.monotonic()
        with ThreadPoolExecutor(args.sessions) as pool:
            futures = [pool.submit(session, app.url, fn) for _ in range(args.sessions)]
            time.sleep(1.0)  # the same counters while the sessions run: they do see the real things
            print("  during the load:", leftovers(pids, descendants(app.proc.pid), gradio_tmp), flush=True)
            results = [f.result() for f in futures]
        wall = time.monotonic() - wall0
        cpu = (sampler.tree_cpu() - cpu0) / TICK / wall * 100
        ok = [r for r in results if r[2] == "ok"]
        firsts, turns = [r[0] for r in ok], [r[1] for r in ok]
        print(f"\n{args.sessions} at once: {len(ok)}/{args.sessions} completed "
              f"(outcomes: {sorted({r[2] for r in results})}) in {wall:.1f} s", flush=True)
        if ok:
            print(f"  first token p50 {pct(firsts, .5):.2f} s p95 {pct(firsts, .95):.2f} s "
                  f"(added p50 {pct(firsts, .5) - base_first:+.2f} s, p95 {pct(firsts, .95) - base_first:+.2f} s)")
            print(f"  turn time   p50 {pct(turns, .5):.2f} s p95 {pct(turns, .95):.2f} s "
                  f"(added p50 {pct(turns, .5) - base_turn:+.2f} s, p95 {pct(turns, .95) - base_turn:+.2f} s)")
        print(f"  app RSS idle {idle_rss:.0f} MB, peak {sampler.app_peak:.0f} MB; app + sandboxes/kernels peak "
              f"{sampler.tree_peak:.0f} MB; CPU of app + children {cpu:.0f}% of one core (2 cores = 200%)")
        print("  load average after phase 1:", Path("/proc/loadavg").read_text().strip(), flush=True)

        outcomes: dict[str, int] = {}
        done = 0
        restarted = False
        while done < args.soak:
            n = min(args.wave, args.soak - done)
            with ThreadPoolExecutor(n) as pool:
                restart_wave = not restarted and done + n > args.restart_after
                prompt = SLOW_PROMPT if restart_wave else PROMPT
                futures = [pool.submit(session, app.url, fn, (done + i) % 3 == 0, prompt) for i in range(n)]
                if restart_wave:
                    time.sleep(4)  # the wave is mid-turn (its commands run for 10 s)
                    took = app.stop()
                    print(f"\nrestart: SIGTERM with a wave mid-turn, app gone in {took:.1f} s", flush=True)
                    app = App(claude.base_url, gradio_tmp, log)
                    pids.append(app.proc.pid)
                    sampler.pid = app.proc.pid
                    restarted = True
                for f in futures:
                    outcome = ("restart wave: " if restart_wave else "") + f.result()[2]
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if restarted and pids[-1] == app.proc.pid:
                fn = app.wait_up()
            done += n
        print(f"\nsoak: {args.soak} sessions, outcomes {outcomes}")
        closed = time.monotonic()
        print("  app status right after the last tab closed:", app.status(), flush=True)
        while app.status()["sessions"] and time.monotonic() - closed < 120:
            time.sleep(1)  # Gradio notices a closed heartbeat at its next beat, then the reconnect grace (2 s)
        print(f"  app status {time.monotonic() - closed:.0f} s later:", app.status(), flush=True)
        took = app.stop()
        print(f"  app stopped in {took:.1f} s")
        time.sleep(1)
        print("  left behind:", leftovers(pids, sampler.seen, gradio_tmp))
        print("load average at end:", Path("/proc/loadavg").read_text().strip(), flush=True)
    finally:
        if app.proc.poll() is None:
            app.stop()
        sampler.stop()
        claude.stop()
        shutil.rmtree(gradio_tmp, ignore_errors=True)
        print("app log:", log)


if __name__ == "__main__":
    main()
