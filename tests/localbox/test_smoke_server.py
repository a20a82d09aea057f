"""Smoke tests of the local sandbox server itself (owned by A1): start/stop, refusal, keys, cleanup.

The SDK-compatibility and hostile-code suites (A2) live next to this file; these cover the server's own contract:
the command line, start_server's errors, and that stopping frees every process, cgroup, mount and temp dir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2b_code_interpreter import Sandbox

from agent.localbox import LocalboxUnavailable, LocalServer, start_server
from tests.localbox.helpers import preview_get

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[tuple[str, str]]:
    """(pid, full command line) of a process's direct children, from /proc (ps may truncate long lines)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = stat.read().rsplit(")", 1)[1].split()[1]
            if ppid == str(pid):
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    found.append((entry, cmdline.read().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


def _all_cmdlines() -> str:
    lines = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    lines.append(cmdline.read().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return "\n".join(lines)


def test_fixture_sandbox_runs_code_and_commands(sandbox) -> None:
    execution = sandbox.run_code("x = 20\nx * 2 + 2")
    assert execution.error is None
    assert execution.text == "42"
    assert sandbox.commands.run("echo $HOME; id -un").stdout.split() == ["/home/user", "user"]


def test_control_plane_rejects_wrong_key(localbox: LocalServer) -> None:
    with httpx.Client() as client:
        assert client.get(f"{localbox.url}/v2/sandboxes", headers={"X-API-KEY": "wrong"}).status_code == 401
        assert client.get(f"{localbox.url}/v2/sandboxes").status_code == 401
        assert client.get(f"{localbox.url}/v2/sandboxes", headers={"X-API-KEY": localbox.api_key}).status_code == 200


def test_sdk_options_reach_this_server(localbox: LocalServer) -> None:
    options = localbox.sdk_options()
    assert options["api_key"] == localbox.api_key
    sbx = Sandbox.create(metadata={"smoke": "yes"}, **options)
    try:
        listed = list(Sandbox.list(**options).next_items())
        assert sbx.sandbox_id in {info.sandbox_id for info in listed}
    finally:
        assert sbx.kill() is True


def test_stop_frees_processes_cgroups_mounts_and_temp_dir() -> None:
    server = start_server()
    try:
        sbx = Sandbox.create(**server.sdk_options())
        sbx.commands.run("sleep 600", background=True)
        sbx.run_code("import time")
        jails = [pid for pid, args in _children(server._process.pid) if "bwrap" in args]
        assert jails, "the server should run its sandboxes as bubblewrap jails"
        names = set()
        for pid in jails:
            with open(f"/proc/{pid}/cgroup") as cgroups:
                names |= set(re.findall(r"localbox/(sb-[0-9]+-[0-9a-f]+)", cgroups.read()))
        with open("/proc/mounts") as mounts:
            dirs = sorted(set(re.findall(r"(/tmp/localbox-[^/ ]+)/(sb-[0-9]+-[0-9a-f]+)/ctl", mounts.read())))
        dirs = [d for d in dirs if d[1] in names]
        assert dirs, "each jail should have its control dir mounted"
    finally:
        server.stop()
    server.stop()  # idempotent
    root = dirs[0][0]
    assert not os.path.exists(root), "the server's temp dir must be removed"
    names = [name for _, name in dirs]
    left = [f"/sys/fs/cgroup/{c}/localbox/{n}" for n in names for c in ("memory", "pids")
            if os.path.exists(f"/sys/fs/cgroup/{c}/localbox/{n}")]
    assert left == []
    with open("/proc/mounts") as mounts:
        assert root not in mounts.read()
    assert not [pid for pid in jails if os.path.exists(f"/proc/{pid}")], "no jail of the stopped server may survive"
    assert root not in _all_cmdlines(), "no process of the stopped server may survive"


def test_cli_refuses_without_bubblewrap_in_plain_words() -> None:
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "agent.localbox", "--port", "0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "bubblewrap" in result.stderr and "--allow-unisolated" in result.stderr
    assert "Traceback" not in result.stderr


def test_start_server_raises_localbox_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LocalboxUnavailable, match="bubblewrap"):
        start_server()


def test_cli_prints_url_and_generated_key_then_stops_on_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "agent.localbox", "--port", "0", "--pool-size", "0"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.match(r"localbox: serving on (http://127\.0\.0\.1:\d+) \(api key: (\S+)\)", line)
        assert match, line
        url, key = match.groups()
        with httpx.Client() as client:
            assert client.get(f"{url}/v2/sandboxes", headers={"X-API-KEY": key}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) is not None
        proc.stdout.close()


def test_server_exits_when_its_parent_dies() -> None:
    code = ("import os; from agent.localbox import start_server; s = start_server(); "
            "print(s._process.pid, flush=True); os._exit(0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    pid = int(out.stdout.split()[0])
    deadline = time.time() + 30
    while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().split()[2] == "Z":
                break
        time.sleep(0.2)
    alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    assert not alive, "an orphaned server must shut itself down"


def test_preview_reaches_a_web_server_inside_the_sandbox(localbox: LocalServer, sandbox) -> None:
    sandbox.files.write("site/index.html", "<h1>preview works</h1>")
    sandbox.commands.run("cd site && python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &", timeout=30)
    url = localbox.preview_url(sandbox.sandbox_id, 8000)
    assert url == f"http://{sandbox.get_host(8000)}/"
    body = ""
    for _ in range(50):  # the server needs a moment to start listening
        response = preview_get(url)
        if response.status_code == 200:
            body = response.text
            break
        time.sleep(0.2)
    assert "preview works" in body
    assert preview_get(url.replace(sandbox.sandbox_id, "lb" + "0" * 16)).status_code == 404
    assert preview_get(localbox.preview_url(sandbox.sandbox_id, 8001)).status_code == 502
    assert localbox.preview_url("no-such-sandbox", 8000) is None


def test_stop_while_a_warm_sandbox_is_still_booting_leaves_nothing() -> None:
    """Taking the warm sandbox makes the server boot the next one at once; stopping during that boot must tear the
    half-started jail down too (its control-dir mount and cgroups used to outlive the server)."""
    server = start_server()
    try:
        Sandbox.create(**server.sdk_options())  # the pool refill starts booting now
        names = set()
        for pid, args in _children(server._process.pid):
            if "bwrap" in args:
                with open(f"/proc/{pid}/cgroup") as cgroups:
                    names |= set(re.findall(r"localbox/(sb-[0-9]+-[0-9a-f]+)", cgroups.read()))
        with open("/proc/mounts") as mounts:
            mine = sorted({root for root, name in re.findall(r"(/tmp/localbox-[^/ ]+)/(sb-[0-9]+-[0-9a-f]+)/ctl",
                                                              mounts.read()) if name in names})
        assert len(mine) == 1, f"cannot tell this server's temp dir (jails {names}, roots {mine})"
    finally:
        server.stop()
    root = mine[0]
    time.sleep(0.5)
    with open("/proc/mounts") as mounts:
        left = [line.split()[1] for line in mounts if root in line]
    assert left == [], f"mounts of the stopped server remain: {left}"
    assert not os.path.exists(root), "the server's temp dir must be removed"


def test_simultaneous_creates_cannot_exceed_the_sandbox_cap() -> None:
    """With no warm pool every create boots a jail; four at once against a cap of two: two succeed, two are
    refused with the SDK's rate-limit error (HTTP 429), none sneaks past the check while others are booting."""
    import asyncio

    from e2b.exceptions import RateLimitException
    from e2b_code_interpreter import AsyncSandbox

    proc = subprocess.Popen([sys.executable, "-m", "agent.localbox", "--port", "0", "--pool-size", "0",
                             "--max-sandboxes", "2"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        match = re.match(r"localbox: serving on (http://127\.0\.0\.1:\d+) \(api key: (\S+)\)", proc.stdout.readline())
        assert match
        url, key = match.groups()
        opts = {"api_url": url, "sandbox_url": url, "api_key": key}

        async def scenario():
            results = await asyncio.gather(*(AsyncSandbox.create(**opts) for _ in range(4)), return_exceptions=True)
            made = [r for r in results if isinstance(r, AsyncSandbox)]
            refused = [r for r in results if isinstance(r, RateLimitException)]
            for sbx in made:
                await sbx.kill()
            return len(made), len(refused), [r for r in results if not isinstance(r, (AsyncSandbox, RateLimitException))]

        made, refused, other = asyncio.run(scenario())
        assert (made, refused, other) == (2, 2, []), f"made {made}, refused {refused}, other outcomes {other}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
