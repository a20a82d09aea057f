"""The egress proxy (agent/localbox/egress.py) in-process, with an injected resolver and connector.

Nothing here leaves loopback: "public" addresses handed out by the fake resolver are mapped by the fake connector
to a small upstream server on 127.0.0.1, and the connector records which address the proxy asked for, so the tests
see that the proxy connects to exactly the address it checked and never to a refused one.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Awaitable, Callable

import pytest

from agent.localbox.egress import EgressLimits, EgressProxy, proxy_env
from agent.localbox.egress_policy import EgressPolicy, InternetMode, parse_domains

PUBLIC_A = "151.101.0.223"
PUBLIC_B = "151.101.64.223"


class World:
    """A fake DNS (name -> answers; each call pops the next answer list if several are queued) and a recording
    connector that sends every allowed connection to one local upstream."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self.connects: list[tuple[str, int]] = []
        self.upstream_port = 0
        self.received: list[bytes] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "no such name")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def connect(self, ip: str, port: int):
        self.connects.append((ip, port))
        return await asyncio.open_connection("127.0.0.1", self.upstream_port)

    async def upstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Echoes tunnel bytes; answers a plain HTTP request with a small page."""
        first = await reader.read(65536)
        self.received.append(first)
        if first.startswith(b"GET "):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            await writer.drain()
            writer.close()
            return
        while first:
            writer.write(first)
            await writer.drain()
            first = await reader.read(65536)
        writer.close()


def run_proxy(policy: EgressPolicy, world: World, body: Callable[[int, EgressProxy], Awaitable[None]],
              limits: EgressLimits | None = None) -> None:
    async def main() -> None:
        upstream = await asyncio.start_server(world.upstream, "127.0.0.1", 0)
        world.upstream_port = upstream.sockets[0].getsockname()[1]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        proxy = EgressProxy(policy, limits, label="test", resolver=world.resolve, connector=world.connect)
        await proxy.serve(listener)
        try:
            await asyncio.wait_for(body(listener.getsockname()[1], proxy), 30)
        finally:
            await proxy.close()
            upstream.close()

    asyncio.run(main())


async def exchange(port: int, request: bytes) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    return head, reader, writer


def test_connect_to_a_registry_tunnels_to_the_checked_address() -> None:
    world = World({"pypi.org": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.write(b"\x16\x03\x01 tls bytes")
        assert await reader.readexactly(13) == b"\x16\x03\x01 tls bytes"
        writer.close()

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    assert world.connects == [(PUBLIC_A, 443)]


def test_a_name_resolving_to_a_private_address_is_refused_before_any_connect() -> None:
    world = World({"intranet.example.org": [["10.1.2.3"]], "meta.example.org": [["169.254.169.254"]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        for name in ("intranet.example.org", "meta.example.org"):
            head, reader, writer = await exchange(port, f"CONNECT {name}:443 HTTP/1.1\r\n\r\n".encode())
            assert head.startswith(b"HTTP/1.1 403 Blocked by the sandbox's network policy: ")
            assert b"resolves to this machine or a private network" in head
            writer.close()

    run_proxy(EgressPolicy(InternetMode.REGISTRIES, parse_domains("*.example.org")), world, body)
    assert world.connects == []


def test_dns_rebinding_gains_nothing_the_proxy_connects_to_the_address_it_checked() -> None:
    # first answer public, every later one loopback: a proxy that resolved again before connecting would be fooled
    world = World({"pypi.org": [[PUBLIC_A], ["127.0.0.1"]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.close()

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    assert world.lookups == ["pypi.org"]
    assert world.connects == [(PUBLIC_A, 443)]


def test_mixed_answers_use_only_the_public_addresses() -> None:
    world = World({"pypi.org": [["127.0.0.1", "10.0.0.1", PUBLIC_B]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, _, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.close()

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    assert world.connects == [(PUBLIC_B, 443)]


def test_other_names_are_refused_with_the_policy_in_the_reason_and_never_looked_up() -> None:
    world = World({"example.com": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(port, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
        assert head.split(b"\r\n")[0] == (b"HTTP/1.1 403 Blocked by the sandbox's network policy: only package "
                                          b"registries are reachable (not example.com)")
        text = await reader.read()
        assert b"only package registries are reachable" in text
        head, reader, writer = await exchange(port, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 403 ")

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    assert world.lookups == [] and world.connects == []


def test_loopback_and_host_addresses_are_refused_in_all_mode() -> None:
    import ipaddress

    world = World({"localhost": [["127.0.0.1"]], "myself.example": [[PUBLIC_B]], "pypi.org": [[PUBLIC_A]]})
    policy = EgressPolicy(InternetMode.ALL, host_networks=frozenset({ipaddress.ip_network(PUBLIC_B)}))

    async def body(port: int, proxy: EgressProxy) -> None:
        for target in ("127.0.0.1:8700", "localhost:8700", "[::1]:22", "169.254.169.254:80", "myself.example:443",
                       f"{PUBLIC_B}:443"):
            head, _, writer = await exchange(port, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
            assert head.startswith(b"HTTP/1.1 403 "), (target, head)
            writer.close()
        head, _, writer = await exchange(port, b"CONNECT pypi.org:8443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.close()

    run_proxy(policy, world, body)
    assert world.connects == [(PUBLIC_A, 8443)]


def test_plain_http_is_forwarded_in_origin_form_with_connection_close() -> None:
    world = World({"deb.debian.org": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(
            port, b"GET http://deb.debian.org/debian/dists/?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\n"
                  b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nUser-Agent: apt\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.read() == b"hello"

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    sent = world.received[0].decode()
    assert sent.startswith("GET /debian/dists/?x=1 HTTP/1.1\r\nHost: deb.debian.org\r\n")
    assert "User-Agent: apt" in sent and "Connection: close" in sent
    assert "Proxy-" not in sent and "elsewhere" not in sent
    assert world.connects == [(PUBLIC_A, 80)]


def test_unknown_names_and_bad_requests_get_plain_errors() -> None:
    world = World({})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, _, _ = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 Could not find the address of pypi.org")
        head, _, _ = await exchange(port, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        head, _, _ = await exchange(port, b"CONNECT pypi.org HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        head, _, _ = await exchange(port, b"GET http://[::1/x HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)


def test_connections_per_sandbox_are_capped() -> None:
    world = World({"pypi.org": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        open_ones = []
        for _ in range(2):
            head, reader, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            open_ones.append(writer)
        head, _, _ = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 ") and b"too many connections" in head
        open_ones.pop().close()
        for _ in range(50):
            if proxy.active < 2:
                break
            await asyncio.sleep(0.02)
        head, _, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body, EgressLimits(max_connections=2))


def test_idle_tunnels_and_silent_clients_are_cut() -> None:
    world = World({"pypi.org": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the proxy, not by us
        silent_reader, _ = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(silent_reader.read(), 5) == b""
        huge_reader, huge_writer = await asyncio.open_connection("127.0.0.1", port)
        huge_writer.write(b"GET http://pypi.org/ HTTP/1.1\r\nX: " + b"a" * 100_000)
        assert await asyncio.wait_for(huge_reader.read(), 5) == b""
        assert proxy.active == 0

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body,
              EgressLimits(idle_timeout_s=0.3, header_timeout_s=0.3))


def test_close_cuts_open_tunnels() -> None:
    world = World({"pypi.org": [[PUBLIC_A]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, reader, writer = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        await proxy.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert proxy.active == 0

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)


def test_pythons_http_client_shows_the_refusal_reason() -> None:
    """pip (urllib3) and requests build on http.client: a refused tunnel must surface our sentence."""
    world = World({})
    messages: list[str] = []

    async def body(port: int, proxy: EgressProxy) -> None:
        def client() -> None:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10)
            conn.set_tunnel("example.com", 443)
            try:
                conn.request("GET", "/")
            except OSError as exc:
                messages.append(str(exc))

        thread = threading.Thread(target=client)
        thread.start()
        await asyncio.to_thread(thread.join)

    run_proxy(EgressPolicy(InternetMode.REGISTRIES), world, body)
    assert messages and "only package registries are reachable" in messages[0]


def test_proxy_env_points_every_client_at_the_proxy() -> None:
    env = proxy_env(InternetMode.REGISTRIES, 3128)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "npm_config_https_proxy", "PIP_PROXY"):
        assert env[name] == "http://127.0.0.1:3128"
    assert "127.0.0.1" in env["NO_PROXY"]
    assert proxy_env(InternetMode.OFF) == {}


@pytest.mark.parametrize("mode", [InternetMode.ALL, InternetMode.REGISTRIES])
def test_an_empty_answer_list_is_a_plain_error(mode: InternetMode) -> None:
    world = World({"pypi.org": [[]]})

    async def body(port: int, proxy: EgressProxy) -> None:
        head, _, _ = await exchange(port, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 ")

    run_proxy(EgressPolicy(mode), world, body)
    assert world.connects == []


def test_the_jails_listener_is_taken_only_as_a_listening_tcp_socket(tmp_path) -> None:
    from agent.localbox.egress import receive_listener

    def handed(fds: list[int], data: bytes = b"L") -> socket.socket:
        host, guest = socket.socketpair()
        with guest:
            socket.send_fds(guest, [data], fds)
        try:
            return asyncio.run(receive_listener(host, timeout=5))
        finally:
            host.close()

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    got = handed([listening.fileno()])
    assert got.getsockname() == listening.getsockname()
    got.close()
    idle = socket.socket()  # a TCP socket that does not listen
    with pytest.raises(OSError, match="did not hand over"):
        handed([idle.fileno()])
    with open(tmp_path / "f", "w") as plain, pytest.raises(OSError, match="did not hand over"):
        handed([plain.fileno()])
    with pytest.raises(OSError, match="did not hand over"):
        handed([listening.fileno()], data=b"X")
    listening.close()
    idle.close()
