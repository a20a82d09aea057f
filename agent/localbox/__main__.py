"""`python -m agent.localbox`: run the local E2B-compatible sandbox server (see docs/localbox.md)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from .egress_policy import InternetMode, parse_domains

API_KEY_ENV = "LOCALBOX_API_KEY"  # how start_server hands the key over without showing it in `ps`


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.localbox",
                                     description="A local server that the unmodified E2B SDKs can use.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--api-key", default=None,
                        help=f"key clients must send (default: ${API_KEY_ENV}, else a random key that is printed)")
    parser.add_argument("--internet", choices=[m.value for m in InternetMode], default="registries",
                        help="what sandboxes reach through the server's filtering proxy: package registries only "
                             "(registries, default), any public address (all) or nothing (off); never this machine "
                             "or a private network")
    parser.add_argument("--allow-domain", action="append", default=[], metavar="DOMAIN",
                        help="also let sandboxes reach DOMAIN (example.org, or *.example.org for every name under "
                             "it; comma lists accepted; repeatable)")
    parser.add_argument("--allow-internet", action="store_const", const="all", dest="internet",
                        help=argparse.SUPPRESS)  # the older switch: now the same as --internet all
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="run sandboxes WITHOUT a jail when bubblewrap/namespaces are unavailable (unsafe)")
    parser.add_argument("--pool-size", type=int, default=1, help="pre-warmed sandboxes kept ready (default 1)")
    parser.add_argument("--max-sandboxes", type=int, default=20, help="sandboxes allowed at once (default 20)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory per sandbox in MiB (default 2048)")
    parser.add_argument("--disk-mb", type=int, default=1024, help="size of /home/user per sandbox (default 1024)")
    parser.add_argument("--max-processes", type=int, default=256, help="processes per sandbox (default 256)")
    parser.add_argument("--cgroups", choices=("auto", "off"), default="auto",
                        help="cap each sandbox with cgroup v1 memory/pids controllers where writable (auto, default) "
                             "or rely on per-process rlimits only (off)")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="shut down when stdin closes (used by start_server so a dead parent frees everything)")
    parser.add_argument("--sandbox-venv", default=None, help="the sandbox's Python environment (default .venv-sandbox)")
    parser.add_argument("--domain", default=None,
                        help="domain given to the SDK: `get_host(port)` is `<port>-<sandbox id>.<domain>`, served here "
                             "by Host header (default localhost:<port>; browsers resolve *.localhost to this machine)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    log = logging.getLogger("agent.localbox")

    import uvicorn

    from . import capabilities, jail, pythonenv, scratch
    from .app import LocalboxApp
    from .control import Registry, Settings

    api_key = args.api_key or os.environ.pop(API_KEY_ENV, None)
    generated = api_key is None
    if generated:
        api_key = secrets.token_urlsafe(24)
    limits = jail.JailLimits(memory_bytes=args.memory_mb << 20, home_bytes=args.disk_mb << 20,
                             max_processes=args.max_processes)
    try:
        domains = parse_domains(args.allow_domain)
    except ValueError as exc:
        print(f"localbox: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    defaults = Settings(api_key="")
    settings = Settings(api_key=api_key, internet=InternetMode(args.internet), allow_domains=domains,
                        allow_unisolated=args.allow_unisolated,
                        pool_size=max(0, args.pool_size), max_sandboxes=max(1, args.max_sandboxes), limits=limits,
                        sandbox_venv=Path(args.sandbox_venv) if args.sandbox_venv else defaults.sandbox_venv)
    try:
        python = pythonenv.SandboxPython.locate(settings.sandbox_venv)
    except capabilities.JailUnavailable as exc:
        print(f"localbox: cannot start: {exc}", file=sys.stderr, flush=True)
        return 3
    caps = capabilities.detect(python)
    if args.cgroups == "off":
        caps = dataclasses.replace(caps, cgroup_memory=None, cgroup_pids=None)
    if not caps.isolated:
        if not settings.allow_unisolated:
            print(f"localbox: cannot start: {caps.problem}. Sandboxes would not be isolated from this machine; "
                  "pass --allow-unisolated to run them anyway (unsafe for untrusted code).", file=sys.stderr,
                  flush=True)
            return 3
        log.warning("localbox: WARNING: %s. Running sandboxes WITHOUT isolation: code in them can read and change "
                    "this machine's files.", caps.problem)
    elif caps.cgroup_memory is None or caps.cgroup_pids is None:
        nproc = (f"at most {args.max_processes} processes per sandbox" if os.geteuid() != 0
                 else "no process-count cap (root ignores RLIMIT_NPROC)")
        log.warning("localbox: warning: no writable cgroup v1 memory/pids controllers here, so no cap on a sandbox's "
                    "total memory; each sandbox process may use at most %d MiB, %s, and sandbox processes are the "
                    "first the kernel kills when memory runs out", args.memory_mb, nproc)

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no Nagle stalls
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"localbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr, flush=True)
        return 3
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    settings = dataclasses.replace(settings, domain=args.domain or f"localhost:{port}")

    for leftover in scratch.sweep_leftovers():
        log.info("localbox: removed %s, left behind by a server that is gone", leftover)
    root = scratch.new_root()
    registry = Registry(settings, caps, python, root)

    def ready() -> None:
        line = f"localbox: serving on {url}"
        if generated:
            line += f" (api key: {api_key})"
        print(line, flush=True)

    if args.exit_with_stdin:
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    app = LocalboxApp(registry, on_ready=ready)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5,
                            h11_max_incomplete_event_size=1 << 20)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _exit_on_stdin_eof() -> None:
    """Block on stdin; EOF means the parent is gone: shut down gracefully like on SIGTERM."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
