"""Small helpers shared by the localbox tests.

They exist so that each test reads as "what the SDK user does" and the plumbing (creating extra sandboxes that
are always killed, polling with a deadline, finding the server process) lives in one place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from e2b_code_interpreter import Sandbox

from agent.localbox import LocalServer
from tests.support.procs import command_lines

T = TypeVar("T")

SANDBOX_HOME = "/home/user"
JUPYTER_PORT = 49999
ENVD_PORT = 49983


@contextlib.contextmanager
def extra_sandbox(server: Any, **create_kwargs: Any) -> Iterator[Sandbox]:
    """Create a sandbox on `server` that is killed afterwards even when the test fails."""
    sbx = Sandbox.create(**server.sdk_options(), **create_kwargs)
    try:
        yield sbx
    finally:
        with contextlib.suppress(Exception):
            sbx.kill()


def wait_for(check: Callable[[], T | None], timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` in the message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last_error!r}")


def assert_server_serves(server: Any) -> None:
    """The server still creates a fresh sandbox, runs code and a command in it: the attack hurt nobody else."""
    with extra_sandbox(server) as sbx:
        execution = sbx.run_code("6 * 7", timeout=60)
        assert execution.error is None, execution.error
        assert execution.text == "42"
        result = sbx.commands.run("echo still-alive", timeout=60)
        assert result.stdout.strip() == "still-alive"


def sandbox_headers(sbx: Sandbox, port: int) -> dict[str, str]:
    """Headers the SDK sends with sandbox traffic, for raw httpx requests."""
    return {"E2b-Sandbox-Id": sbx.sandbox_id, "E2b-Sandbox-Port": str(port)}


def raw_client(server: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def server_pids(server: Any) -> list[int]:
    """PIDs of the server process tree's root: the process whose command line names agent.localbox and its port."""
    port = server.url.rsplit(":", 1)[1]
    found: list[int] = []
    for pid, argv in command_lines():
        words = [a.decode(errors="replace") for a in argv]
        if "agent.localbox" in " ".join(words) and port in words + [f"--port={port}"]:
            found.append(pid)
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def host_process_count() -> int:
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())


def output_text(execution: Any) -> str:
    """Everything a run_code call produced, as one string (stdout, stderr, error, results' text)."""
    parts = list(execution.logs.stdout) + list(execution.logs.stderr)
    if execution.error is not None:
        parts += [execution.error.name, execution.error.value, execution.error.traceback]
    parts += [r.text or "" for r in execution.results]
    return "".join(parts)


def preview_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET a preview URL (`http://<port>-<sandbox id>.localhost:<server port>/...`) as the documented fallback for
    clients that cannot resolve `*.localhost` does it: connect to the server's loopback address, name the host."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    headers = {"Host": parts.netloc, **kwargs.pop("headers", {})}
    target = urllib.parse.urlunsplit(("http", f"127.0.0.1:{parts.port}", parts.path or "/", parts.query, ""))
    return httpx.get(target, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)


@contextlib.contextmanager
def server_with_environment(planted: dict[str, str], *options: str) -> Iterator[LocalServer]:
    """A server process whose own environment holds `planted` (on top of this process's environment), as when the
    server is run by hand on a host full of secrets; `start_server` would not pass them on. Stopped afterwards."""
    project = Path(__file__).resolve().parents[2]
    key = secrets.token_urlsafe(16)
    with socket.socket() as probe:  # a port named on the command line, as start_server does: server_pids finds it
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**os.environ, **planted, "LOCALBOX_API_KEY": key, "PYTHONPATH": str(project), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "agent.localbox", "--port", port, "--exit-with-stdin", *options],
                               cwd=str(project), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain(stream: Any, sink: list[str], marker: str | None) -> None:
        with contextlib.suppress(ValueError, OSError):  # the stream is closed when the server stops
            for line in stream:
                if marker and marker in line and not ready.is_set():
                    found.append(line.split(marker, 1)[1].split()[0])
                    ready.set()
                sink.append(line)
                del sink[:-50]
        ready.set()

    threading.Thread(target=drain, args=(process.stdout, [], "serving on "), daemon=True).start()
    threading.Thread(target=drain, args=(process.stderr, errors, None), daemon=True).start()
    server = LocalServer(process, "", key)
    try:
        ready.wait(90)  # the line comes once the first warm sandbox booted
        assert found, f"the server did not start: {''.join(errors)[-2000:]}"
        server.url = found[0]
        yield server
    finally:
        server.stop()
