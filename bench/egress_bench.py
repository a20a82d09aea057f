"""What the sandbox's egress proxy costs on a package install (agent/localbox/egress.py).

The same installs, from empty caches, three ways, alternating so load changes hit all of them alike:
  host direct    - this machine's npm / Debian pip straight to the registry (no proxy)
  host via proxy - the same commands through an EgressProxy on 127.0.0.1 (registries policy): the proxy's own cost
  sandbox        - inside a local sandbox (jail + its proxy), what the agent's commands see

Results go into bench/README-localbox.md between the `egress` markers (the rest of that file is untouched).
Traffic goes only to the package registries.

    .venv/bin/python bench/egress_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.localbox import start_server
from agent.localbox.egress import EgressProxy
from agent.localbox.egress_policy import EgressPolicy, InternetMode, local_networks

INSTALLS = {
    "npm install react@18.3.1 react-dom@18.3.1 (5 packages)":
        "npm init -y >/dev/null && npm install --no-audit --no-fund --cache {tmp}/npm-cache "
        "react@18.3.1 react-dom@18.3.1 >/dev/null",
    "pip install requests==2.32.3 (5 packages)":
        "PIP_CONFIG_FILE=/dev/null /usr/bin/python3 -m pip install -q --no-cache-dir --disable-pip-version-check "
        "--target {tmp}/pk requests==2.32.3",
}
BEGIN, END = "<!-- egress bench -->", "<!-- /egress bench -->"


def host_proxy() -> tuple[int, threading.Thread]:
    """An EgressProxy (registries policy) on a loopback port, served by its own event loop in a thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    ready = threading.Event()

    def serve() -> None:
        async def main() -> None:
            proxy = EgressProxy(EgressPolicy(InternetMode.REGISTRIES, host_networks=local_networks()), label="bench")
            await proxy.serve(listener)
            ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    return listener.getsockname()[1], thread


def relay_cost(megabytes: int = 64, connects: int = 100) -> tuple[float, float, float]:
    """The proxy alone, on loopback: seconds to pull `megabytes` through a CONNECT tunnel and straight, and the
    mean milliseconds a CONNECT adds (accept, parse, checks, connect, 200) for a connection that carries nothing."""

    async def main() -> tuple[float, float, float]:
        blob = b"x" * (1 << 20)

        async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if await reader.read(2) == b"go":
                for _ in range(megabytes):
                    writer.write(blob)
                    await writer.drain()
            writer.close()

        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def resolve(host: str, _port: int) -> list[str]:
            return ["151.101.0.223"]  # any public address: the connector below sends it to the local upstream

        async def connect(_ip: str, _port: int):
            return await asyncio.open_connection("127.0.0.1", port)

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        proxy = EgressProxy(EgressPolicy(InternetMode.REGISTRIES), resolver=resolve, connector=connect)
        await proxy.serve(listener)
        proxy_port = listener.getsockname()[1]

        async def pull(via_proxy: bool) -> float:
            start = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port if via_proxy else port)
            if via_proxy:
                writer.write(b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
                await reader.readuntil(b"\r\n\r\n")
            writer.write(b"go")
            while await reader.read(1 << 16):
                pass
            writer.close()
            return time.perf_counter() - start

        straight, tunnelled = await pull(False), await pull(True)
        start = time.perf_counter()
        for _ in range(connects):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
            writer.write(b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"no")
            await reader.read()
            writer.close()
        setup_ms = (time.perf_counter() - start) / connects * 1000
        await proxy.close()
        server.close()
        return straight, tunnelled, setup_ms

    return asyncio.run(main())


def run_on_host(command: str, proxy_port: int | None) -> float:
    tmp = tempfile.mkdtemp(prefix="egress-bench-")
    env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8", "npm_config_update_notifier": "false"}
    if proxy_port:
        url = f"http://127.0.0.1:{proxy_port}"
        env.update(HTTPS_PROXY=url, HTTP_PROXY=url, https_proxy=url, http_proxy=url, npm_config_https_proxy=url,
                   npm_config_proxy=url)
    try:
        start = time.perf_counter()
        subprocess.run(["bash", "-c", f"cd {tmp} && {command.format(tmp=tmp)}"], env=env, check=True, timeout=600)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_in_sandbox(sbx, command: str, n: int) -> float:
    tmp = f"/tmp/b{n}"
    start = time.perf_counter()
    sbx.commands.run(f"mkdir -p {tmp} && cd {tmp} && {command.format(tmp=tmp)}", timeout=600)
    elapsed = time.perf_counter() - start
    sbx.commands.run(f"rm -rf {tmp}", timeout=120)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).with_name("README-localbox.md")))
    args = parser.parse_args(argv)
    from e2b_code_interpreter import Sandbox

    port, _ = host_proxy()
    results: dict[str, dict[str, list[float]]] = {name: {"direct": [], "proxy": [], "sandbox": []}
                                                  for name in INSTALLS}
    load_start = os.getloadavg()[0]
    with start_server() as server:
        sbx = Sandbox.create(timeout=1800, **server.sdk_options())
        try:
            for n in range(args.rounds):
                for name, command in INSTALLS.items():
                    results[name]["direct"].append(run_on_host(command, None))
                    results[name]["proxy"].append(run_on_host(command, port))
                    results[name]["sandbox"].append(run_in_sandbox(sbx, command, n))
                    print(name, {k: round(v[-1], 2) for k, v in results[name].items()}, flush=True)
        finally:
            sbx.kill()
    straight, tunnelled, setup_ms = relay_cost()
    load_end = os.getloadavg()[0]

    lines = [BEGIN, "## Egress proxy: cost on a package install", "",
             f"Command: `.venv/bin/python bench/egress_bench.py --rounds {args.rounds}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1-minute load {load_start:.1f} at the start, "
             f"{load_end:.1f} at the end). Empty caches every time; medians of {args.rounds} rounds, min in brackets.",
             "", "| install | host direct | host via the proxy | proxy cost, medians | proxy cost, fastest runs | "
             "in a sandbox (jail + proxy) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        direct, proxy, sandbox = (statistics.median(r[k]) for k in ("direct", "proxy", "sandbox"))
        fast_direct, fast_proxy = min(r["direct"]), min(r["proxy"])
        lines.append(f"| {name} | {direct:.2f} s ({fast_direct:.2f}) | {proxy:.2f} s ({fast_proxy:.2f}) | "
                     f"{proxy - direct:+.2f} s ({(proxy - direct) / direct:+.0%}) | "
                     f"{fast_proxy - fast_direct:+.2f} s ({(fast_proxy - fast_direct) / fast_direct:+.0%}) | "
                     f"{sandbox:.2f} s ({min(r['sandbox']):.2f}) |")
        spread = max(r["direct"]) - fast_direct
        lines.append(f"|  | spread of the direct runs alone: {spread:.2f} s | | | | |")
    lines += ["", "The proxy alone, on loopback (no registry in the way): 64 MiB through a CONNECT tunnel "
              f"{tunnelled:.2f} s against {straight:.2f} s straight ({64 / tunnelled:.0f} vs {64 / straight:.0f} "
              f"MiB/s); opening a tunnel costs {setup_ms:.1f} ms (mean of 100; accept, parse, checks, connect)."]
    lines += ["", "How: *host direct* runs npm / Debian's pip on this machine with a clean environment (no pip or npm "
              "config); *host via the proxy* runs the same with `HTTPS_PROXY` at an `EgressProxy` (registries policy) "
              "on 127.0.0.1, so the difference is the proxy's own cost (one more local hop per connection, its name "
              "lookup and checks); *in a sandbox* is the agent's view: the same command through "
              "`commands.run` in a local sandbox. On this CI the registries sit behind a gateway, so absolute times "
              "vary a lot from run to run: when the spread of the direct runs is larger than the proxy's cost, the install "
              "figures cannot separate the proxy from the registry's own variation, and the loopback figures above "
              "are the proxy's cost.", END]
    out = Path(args.out)
    text = out.read_text() if out.exists() else ""
    section = "\n".join(lines)
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
