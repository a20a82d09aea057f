"""The egress proxy: a sandbox's only way out to the internet, filtered by an EgressPolicy (egress_policy.py).

A jail has its own network namespace with nothing but loopback. At boot the guest daemon creates a listening TCP
socket on 127.0.0.1:EGRESS_PORT *inside* that namespace and hands it to the server over its socket (SCM_RIGHTS);
the server accepts on it here, in its own network namespace. So nothing runs in the jail to forward traffic
(nothing sandbox code could kill or replace), and each sandbox has its own listener, connection count and limits.
Sandbox programs find it through HTTP_PROXY / HTTPS_PROXY (and npm's and pip's own settings, `proxy_env`).

It speaks the two forms HTTP clients use with a proxy: `CONNECT host:port` (HTTPS, relayed as an opaque tunnel)
and plain HTTP with an absolute URL (forwarded with `Connection: close`, one request per connection). For each it
checks the name, resolves it itself, drops every address the policy refuses and connects to exactly one of the
addresses it checked. A refusal is answered `403` whose reason phrase and body say why in plain words (pip and
curl print the reason phrase of a refused CONNECT).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .egress_policy import BLOCKED, EgressPolicy, InternetMode

log = logging.getLogger("agent.localbox")

EGRESS_PORT = 3128
Resolver = Callable[[str, int], Awaitable[list[str]]]
Connector = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te",
               "trailer", "upgrade", "host"}


@dataclass(frozen=True)
class EgressLimits:
    """Per sandbox: what one sandbox may hold open through the proxy, and how long anything may stall."""

    max_connections: int = 64  # npm opens up to 15 at once, pip a handful
    header_timeout_s: float = 30.0  # the request head must arrive within this
    resolve_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    idle_timeout_s: float = 300.0  # a connection with no byte either way for this long is closed
    max_header_bytes: int = 32 << 10
    chunk_bytes: int = 64 << 10


def proxy_env(mode: InternetMode, port: int = EGRESS_PORT) -> dict[str, str]:
    """Environment variables that point sandbox programs at the proxy (none when the internet is off, so programs
    fail fast instead of retrying a proxy that refuses everything)."""
    if mode is InternetMode.OFF:
        return {}
    url = f"http://127.0.0.1:{port}"
    local = "localhost,127.0.0.1,::1"
    return {
        "HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
        "NO_PROXY": local, "no_proxy": local,
        "npm_config_proxy": url, "npm_config_https_proxy": url, "npm_config_noproxy": local,
        "npm_config_update_notifier": "false",  # one request fewer per npm run
        "PIP_PROXY": url,
        "NODE_USE_ENV_PROXY": "1",  # Node's own fetch (Node 24+) follows HTTP(S)_PROXY too
    }


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


async def _open(ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(ip, port)


async def receive_listener(sock: socket.socket, timeout: float) -> socket.socket:
    """The jail's listening socket, handed over by the guest daemon as its very first message (one byte "L"
    carrying the fd), before any sandbox code can run. Raises OSError if anything else arrives."""

    def receive() -> socket.socket:
        sock.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1, 1)
        finally:
            sock.settimeout(None)
        if data == b"L" and len(fds) == 1 and stat.S_ISSOCK(os.fstat(fds[0]).st_mode):
            listener = socket.socket(fileno=fds[0])
            if (listener.family == socket.AF_INET and listener.type == socket.SOCK_STREAM
                    and listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                return listener
            listener.close()
        else:
            for fd in fds:
                os.close(fd)
        raise OSError("the sandbox did not hand over its network port")

    return await asyncio.to_thread(receive)


class Refused(Exception):
    """A request the proxy will not carry; `status` and the message go back to the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EgressProxy:
    """The proxy for one sandbox. `serve(listener)` accepts on the listening socket from the jail; `close()`
    stops accepting and cuts every connection."""

    def __init__(self, policy: EgressPolicy, limits: EgressLimits | None = None, label: str = "",
                 resolver: Resolver | None = None, connector: Connector | None = None) -> None:
        self.policy = policy
        self.limits = limits or EgressLimits()
        self.label = label
        self._resolve = resolver or _system_resolver
        self._connect = connector or _open
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self.refusals = 0

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def serve(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self._server = await asyncio.start_server(self._accepted, sock=listener,
                                                  limit=self.limits.max_header_bytes)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._tasks) >= self.limits.max_connections:
            await self._answer(writer, 429, f"{BLOCKED}: too many connections at once "
                                             f"(at most {self.limits.max_connections} per sandbox)")
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection: parse, check, connect, relay."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.limits.header_timeout_s)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ValueError):
            return  # nothing sensible to answer: a client that sent no (or an oversized) request head
        try:
            method, host, port, forward = self._parse(head)
            upstream_reader, upstream_writer = await self._open_checked(host, port)
        except Refused as refusal:
            self.refusals += 1
            if refusal.status == 403:
                log.info("localbox: sandbox %s: %s", self.label or "?", refusal.message)
            await self._answer(writer, refusal.status, refusal.message)
            return
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream_writer.write(forward)
            await self._relay(reader, writer, upstream_reader, upstream_writer)
        finally:
            upstream_writer.close()

    def _parse(self, head: bytes) -> tuple[str, str, int, bytes]:
        """(method, host, port, request head to send upstream: empty for CONNECT)."""
        try:
            text = head.decode("latin-1")
            request_line, *header_lines = text[:-4].split("\r\n")
            method, target, version = request_line.split(" ")
        except ValueError:
            raise Refused(400, "the sandbox's web proxy could not read this request") from None
        if not version.startswith("HTTP/1."):
            raise Refused(400, "the sandbox's web proxy speaks HTTP/1.1 only")
        if method == "CONNECT":
            host, port = _split_authority(target, default_port=None)
            return method, host, port, b""
        try:
            url = urlsplit(target)
        except ValueError:  # e.g. an unclosed "[" of an IPv6 address
            raise Refused(400, "the sandbox's web proxy could not read this URL") from None
        if url.scheme != "http" or not url.netloc:
            raise Refused(400, "this is the sandbox's web proxy: send it absolute http:// URLs or CONNECT requests")
        host, port = _split_authority(url.netloc.rpartition("@")[2], default_port=80)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        lines = [f"{method} {path} {version}", f"Host: {url.netloc.rpartition('@')[2]}"]
        for line in header_lines:
            name = line.partition(":")[0].strip().lower()
            if name and name not in _HOP_BY_HOP:
                lines.append(line)
        lines.append("Connection: close")
        return method, host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _open_checked(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Check the name, resolve it, keep only allowed addresses, connect to one of them (and nothing else)."""
        why = self.policy.refuse_target(host, port)
        if why:
            raise Refused(403, why)
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal)
            candidates = [literal]
        except ValueError:
            try:
                candidates = await asyncio.wait_for(self._resolve(host, port), self.limits.resolve_timeout_s)
            except (OSError, TimeoutError, UnicodeError):
                raise Refused(502, f"could not find the address of {host}") from None
        allowed: list[str] = []
        first_refusal = ""
        for candidate in candidates:
            try:
                ip = ipaddress.ip_address(candidate)
            except ValueError:
                continue
            why = self.policy.refuse_address(host, ip)
            if why:
                first_refusal = first_refusal or why
            else:
                allowed.append(str(ip))
        if not allowed:
            raise Refused(403, first_refusal) if first_refusal else \
                Refused(502, f"could not find the address of {host}")
        for ip in allowed:
            try:
                return await asyncio.wait_for(self._connect(ip, port), self.limits.connect_timeout_s)
            except (OSError, TimeoutError):
                continue
        raise Refused(502, f"could not connect to {host} port {port}")

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                     upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
        """Copy both ways until the upstream is done (a client's EOF is passed on); a connection idle both ways
        past the limit, or with one side broken, is cut."""
        last = [time.monotonic()]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(self.limits.chunk_bytes):
                    last[0] = time.monotonic()
                    sink.write(data)
                    await sink.drain()  # at most one chunk (plus the transport's buffer) held per direction
                if sink.can_write_eof():
                    sink.write_eof()
            except (ConnectionError, OSError):
                raise TimeoutError from None  # one side is gone: end the other as well

        async def watchdog() -> None:  # one timer per connection, not one per read
            poll = min(5.0, self.limits.idle_timeout_s)
            while time.monotonic() - last[0] <= self.limits.idle_timeout_s:
                await asyncio.sleep(poll)
            raise TimeoutError

        sending = asyncio.create_task(pump(client_reader, upstream_writer))
        receiving = asyncio.create_task(pump(upstream_reader, client_writer))
        idle = asyncio.create_task(watchdog())
        try:  # the client's EOF is passed on (it may still be reading the answer); the upstream's ends the relay
            done, _ = await asyncio.wait([sending, receiving, idle], return_when=asyncio.FIRST_COMPLETED)
            if done == {sending} and sending.exception() is None:
                await asyncio.wait([receiving, idle], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, receiving, idle):
                task.cancel()
            await asyncio.gather(sending, receiving, idle, return_exceptions=True)

    async def _answer(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        """A short plain-text answer whose reason phrase is the message itself (clients print it)."""
        reason = message.replace("\r", " ").replace("\n", " ")
        reason = reason[0].upper() + reason[1:]
        body = (message + "\n").encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("latin-1", "replace")
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(head + body)
            await asyncio.wait_for(writer.drain(), 5)
        writer.close()


def _split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = authority.rpartition(":")
        if not sep:
            host, port_text = authority, ""
    if not port_text:
        if default_port is None:
            raise Refused(400, "a CONNECT request must name a port")
        return host, default_port
    if not port_text.isdigit():
        raise Refused(400, f"{port_text!r} is not a port")
    return host, int(port_text)
