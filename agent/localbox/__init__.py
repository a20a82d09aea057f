"""A local server that speaks E2B's wire protocol, so the unmodified e2b / e2b-code-interpreter SDKs run code in
bubblewrap jails on this machine. See docs/localbox.md.

    from agent.localbox import start_server
    with start_server() as server:
        sbx = Sandbox.create(**server.sdk_options())
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["LocalServer", "LocalboxUnavailable", "start_server"]

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LocalboxUnavailable(Exception):
    """The local sandbox server could not start here (no bubblewrap, no namespaces, ...); the message says why."""


class LocalServer:
    """A running `python -m agent.localbox` child process. Stop it with `stop()` or use it as a context manager."""

    def __init__(self, process: subprocess.Popen, url: str, api_key: str) -> None:
        self._process = process
        self.url = url
        self.api_key = api_key
        self._stopped = False
        self._lock = threading.Lock()

    def sdk_options(self) -> dict:
        """Keyword arguments for Sandbox.create / connect / list / kill (sync and async) that reach this server.

        `api_url` and `sandbox_url` are honoured by e2b 2.x (deprecated there, removed in 3: requirements pin <3).
        """
        return {"api_url": self.url, "sandbox_url": self.url, "api_key": self.api_key}

    def preview_url(self, sandbox_id: str, port: int) -> str | None:
        """Browser URL of a web server listening on 127.0.0.1:`port` inside the sandbox; None if the sandbox is
        unknown to this server. It is the SDK's `get_host(port)` name, `http://<port>-<sandbox id>.localhost:<server
        port>/`: its own origin, which browsers resolve to this machine (plain HTTP only)."""
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"{self.url}/localbox/preview/{sandbox_id}/{int(port)}",
                                         headers={"X-API-KEY": self.api_key})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())["url"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return None

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM the server (it kills every sandbox), SIGKILL after a grace period. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten server must not outlive its owner
        try:
            self.stop()
        except Exception:
            pass


# What the server inherits from the process that starts it: only what Python and the server need to run. Nothing
# else of that process's environment (the app's keys, tokens, database URLs, any other setting) reaches it; its
# jails start from an empty environment anyway (launcher.py, bubblewrap's --clearenv).
_INHERITED_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP",
                            "LD_LIBRARY_PATH", "PYTHONPATH"})


def _server_environment(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _INHERITED_ENV or k.startswith("LC_")}
    env.update({"LOCALBOX_API_KEY": key, "PYTHONUNBUFFERED": "1"})
    env["PYTHONPATH"] = str(_PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_server(host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, internet: str = "registries",
                 allow_domains: Sequence[str] = (), allow_unisolated: bool = False, ready_timeout: float = 60.0,
                 options: Sequence[str] = ()) -> LocalServer:
    """Start the server as a child process and wait until it serves; raises LocalboxUnavailable otherwise.

    `internet` is what sandboxes may reach through the server's egress proxy: "registries" (package registries
    only), "all" (public addresses) or "off"; `allow_domains` adds domains (`example.org`, `*.example.org`).

    `options` are more command-line options for the server, e.g. ("--memory-mb", "512"); see
    `python -m agent.localbox --help`.

    port=0 picks a free port here (so the child's command line names its real port); if another process grabs it
    before the child binds, a new port is tried.
    """
    key = api_key or secrets.token_urlsafe(24)
    last_error = ""
    for _ in range(3 if port == 0 else 1):
        chosen = port or _free_port(host)
        try:
            return _start_once(host, chosen, key, allow_unisolated, ready_timeout,
                               ("--internet", internet, *_domain_options(allow_domains), *options))
        except _PortTaken as exc:
            last_error = str(exc)
    raise LocalboxUnavailable(last_error)


class _PortTaken(LocalboxUnavailable):
    pass


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _domain_options(domains: Sequence[str]) -> list[str]:
    return [arg for domain in domains for arg in ("--allow-domain", domain)]


def _start_once(host: str, port: int, key: str, allow_unisolated: bool, ready_timeout: float,
                options: Sequence[str]) -> LocalServer:
    cmd = [sys.executable, "-m", "agent.localbox", "--host", host, "--port", str(port), "--exit-with-stdin",
           *options]
    if allow_unisolated:
        cmd.append("--allow-unisolated")
    env = _server_environment(key)
    # the child's stdin is a pipe only we hold: if this process dies without stop(), the child sees EOF and exits
    process = subprocess.Popen(cmd, cwd=str(_PROJECT_ROOT), env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True).start()
    url_box: list[str] = []
    reader = threading.Thread(target=_read_url, args=(process.stdout, url_box), daemon=True)
    reader.start()
    reader.join(ready_timeout)
    if not url_box:
        if process.poll() is None:
            process.terminate()  # SIGTERM first: a half-started server still unmounts and removes what it made
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
        time.sleep(0.1)
        detail = " ".join(line.strip() for line in errors if "cannot" in line) or " ".join(errors[-5:]).strip()
        detail = detail.replace("localbox: cannot start: ", "")
        if "cannot listen" in detail:
            raise _PortTaken(detail)
        raise LocalboxUnavailable(detail or f"the local sandbox server did not become ready in {ready_timeout:.0f} s")
    server = LocalServer(process, url_box[0], key)
    atexit.register(server.stop)
    return server


def _read_url(stream, box: list[str]) -> None:
    for line in stream:
        if "serving on " in line:
            box.append(line.split("serving on ", 1)[1].split()[0].strip())
            break
    threading.Thread(target=_drain, args=(stream, []), daemon=True).start()


def _drain(stream, sink: list[str]) -> None:
    try:
        for line in stream:
            sink.append(line)
            if os.environ.get("LOCALBOX_DEBUG"):
                sys.stderr.write("[localbox] " + line)
            del sink[:-200]
    except (ValueError, OSError):
        pass
