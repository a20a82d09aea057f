"""What a sandbox can see of the host's files, for both kinds of server: the usual one (root, here) and one run by
an unprivileged user, started here as `nobody` where the machine lets bubblewrap make user namespaces.

Canary files are planted wherever a mistake could mount them into a jail: a home under /home, the test's own
$HOME, the project checkout next to the two things of it that are mounted (the guest package's folder and the
sandbox environment's folder). A sandbox must find none of them, by path or by searching its whole filesystem."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.localbox import LocalServer, jail

from .helpers import extra_sandbox, wait_for

PROJECT = Path(jail.__file__).resolve().parents[2]
NOBODY = 65534
# by name everywhere (cheap), by content everywhere but the big read-only trees (/usr, /opt: the system and the
# sandbox Python, mounted from places that hold no canary)
SEARCH = ('find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -name "*$NEEDLE*" -print 2>/dev/null; '
          'for d in /* /opt/localbox; do [ -L "$d" ] && continue; case "$d" in /proc|/sys|/dev|/usr|/opt) continue;; '
          'esac; grep -rlsF -D skip -- "$NEEDLE" "$d"; done; echo "searched"')


@contextlib.contextmanager
def canaries() -> Iterator[tuple[str, list[Path]]]:
    needle = "lbcanary" + secrets.token_hex(8)  # in every canary's name and content
    home_dir = Path("/home") / needle
    places = [home_dir / f"{needle}.txt", Path.home() / f".{needle}-home",
              PROJECT / f".{needle}-project",
              PROJECT / "agent" / "localbox" / f".{needle}-next-to-the-guest",
              PROJECT / ".venv-sandbox" / f".{needle}-next-to-the-packages"]
    try:
        home_dir.mkdir(mode=0o755)
        for path in places:
            path.write_text(f"secret {needle}\n")
            path.chmod(0o644)
        yield needle, places
    finally:
        for path in places:
            path.unlink(missing_ok=True)
        shutil.rmtree(home_dir, ignore_errors=True)


def assert_no_canary_visible(server: LocalServer) -> None:
    with canaries() as (needle, places), extra_sandbox(server, timeout=300) as sbx:
        for path in places:
            found = sbx.commands.run(f"cat {path} 2>/dev/null; ls -d {path.parent} 2>/dev/null; true", timeout=60)
            assert needle not in found.stdout, f"{path} is readable inside the sandbox"
        search = sbx.commands.run(SEARCH, envs={"NEEDLE": needle}, timeout=300)
        assert search.stdout.strip().endswith("searched"), search.stdout
        assert search.stdout.strip() == "searched", f"canary found inside the sandbox: {search.stdout}"
        # the search does find what the sandbox itself holds (it is not searching nothing)
        sbx.files.write("/tmp/own.txt", needle)
        sbx.files.write(f"/home/user/{needle}.txt", "x")
        own = sbx.commands.run(SEARCH, envs={"NEEDLE": needle}, timeout=300).stdout
        assert "/tmp/own.txt" in own and f"/home/user/{needle}.txt" in own, own


def test_host_homes_and_the_project_stay_out_of_sandboxes(localbox) -> None:
    assert_no_canary_visible(localbox)


# ---- a server run by an unprivileged user ---------------------------------------------------------------------
def _as_nobody(*argv: str) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv]


def _host_pid(marker: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "cmdline").read_bytes().startswith(marker.encode()):
                    return int(proc.name)
    return None


def _python_for_nobody() -> tuple[str, dict[str, str]]:
    """An interpreter `nobody` can run with the app's packages: the test's own if reachable, else the system's
    Python of the same version with the app environment's site-packages on PYTHONPATH (a venv whose base lives
    in root's home, like a pyenv build, cannot be run by anyone else)."""
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{PROJECT}{os.pathsep}{site}", "HOME": "/nonexistent",
           "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, system):
        probe = subprocess.run(_as_nobody(python, "-c", "import uvicorn, e2b, jupyter_client"), env=env,
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            return python, env
    pytest.fail("no Python that the unprivileged user can run with the app's packages was found", pytrace=False)


def _userns_allowed() -> str:
    """Empty when an unprivileged user may create user namespaces with bubblewrap here, else why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed"
    probe = subprocess.run(_as_nobody(bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib",
                                      "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
                                      "/bin/true"), capture_output=True, timeout=30)
    return "" if probe.returncode == 0 else probe.stderr.decode(errors="replace").strip()


@pytest.fixture(scope="module")
def nobody_server() -> Iterator[LocalServer]:
    if os.geteuid() != 0:
        pytest.skip("starting a server as another user needs root")
    why = _userns_allowed()
    if why:
        pytest.skip(f"this machine does not let an unprivileged user make user namespaces: {why}")
    python, env = _python_for_nobody()
    key = secrets.token_urlsafe(16)
    env["LOCALBOX_API_KEY"] = key
    process = subprocess.Popen(_as_nobody(python, "-m", "agent.localbox", "--port", "0", "--pool-size", "0",
                                          "--exit-with-stdin"),
                               cwd=str(PROJECT), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    found: list[str] = []

    def read_url() -> None:
        for line in process.stdout:
            if "serving on " in line:
                found.append(line.split("serving on ", 1)[1].split()[0])
                break

    threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True).start()
    reader = threading.Thread(target=read_url, daemon=True)
    reader.start()
    try:
        reader.join(90)
        assert found, f"the unprivileged server did not start: {''.join(errors)[-2000:]}"
        address = found[0]
        server = LocalServer(process, address, key)
        yield server
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        if process.poll() is None:
            process.kill()


def test_an_unprivileged_users_server_runs_sandboxes_as_that_user(nobody_server) -> None:
    with extra_sandbox(nobody_server, timeout=300) as sbx:
        assert sbx.run_code("6 * 7", timeout=60).text == "42"
        assert sbx.commands.run("id -un", timeout=60).stdout.strip() == "user"
        marker = f"lb-nobody-{secrets.token_hex(4)}"
        handle = sbx.commands.run(f"exec -a {marker} sleep 120", background=True)
        try:
            host_pid = wait_for(lambda: _host_pid(marker), timeout=10, what="the sandbox process on the host")
            status = Path(f"/proc/{host_pid}/status").read_text()
            uids = status.split("\nUid:")[1].split()[:4]
            assert uids == [str(NOBODY)] * 4, f"the sandbox runs as {uids} on the host, not as the server's user"
        finally:
            handle.kill()
        # the sandbox cannot become anyone else: no root, no way back to it
        escalate = sbx.commands.run("python3 -c 'import os; os.setuid(0)' 2>/dev/null && echo BECAME-ROOT; true",
                                    timeout=60)
        assert "BECAME-ROOT" not in escalate.stdout


def test_host_homes_and_the_project_stay_out_of_an_unprivileged_users_sandboxes(nobody_server) -> None:
    assert_no_canary_visible(nobody_server)
