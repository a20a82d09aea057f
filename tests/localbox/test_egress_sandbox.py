"""A sandbox's internet through the egress proxy, end to end with the unmodified SDK.

Traffic goes only to loopback and to the package registries: `pip install` and `npm install` reach the real
PyPI and npm registry; every refusal is decided before the proxy connects anywhere (the names are either not
allowed, or resolve on this machine, without DNS, to loopback, private or this host's own addresses).
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator

import pytest

from agent.localbox import LocalServer
from agent.localbox.egress_policy import is_public, local_networks
from tests.localbox.helpers import extra_sandbox
from tests.support.localbox_fixtures import serve

PROXY = "http://127.0.0.1:3128"


def run(sbx, command: str, timeout: float = 180) -> tuple[int, str]:
    """Exit code and combined output of a shell command in the sandbox (never raises on a non-zero exit)."""
    result = sbx.commands.run(f"({command}) 2>&1; echo \"exit=$?\"", timeout=timeout)
    text = result.stdout.rstrip()
    body, _, code = text.rpartition("exit=")
    return int(code), body


def test_npm_install_reaches_the_npm_registry(sandbox) -> None:
    code, out = run(sandbox, "mkdir -p app && cd app && npm init -y >/dev/null && "
                             "npm install is-number@7.0.0 --no-audit --no-fund && "
                             "node -e \"console.log('is-number says', require('is-number')(5))\"")
    assert code == 0, out
    assert "is-number says true" in out


def test_pip_install_reaches_pypi(sandbox) -> None:
    code, out = run(sandbox, "pip install --no-cache-dir --target /home/user/pk six==1.17.0 && "
                             "PYTHONPATH=/home/user/pk python3 -c 'import six; print(\"six\", six.__version__)'")
    assert code == 0, out
    assert "six 1.17.0" in out


def test_other_sites_are_refused_with_a_plain_reason(sandbox) -> None:
    code, out = run(sandbox, "curl -sS -m 20 https://example.com/")
    assert code != 0 and "CONNECT tunnel failed, response 403" in out, out
    code, out = run(sandbox, "curl -sS -m 20 http://example.com/")
    assert "blocked by the sandbox's network policy: only package registries are reachable (not example.com)" \
        in out, out
    code, out = run(sandbox, "/usr/bin/python3 -c \"import urllib.request; "
                             "urllib.request.urlopen('https://example.com/', timeout=20)\"")
    assert code != 0 and "only package registries are reachable" in out, out


def test_pip_and_npm_say_why_a_site_is_refused(sandbox) -> None:
    """The refusal reaches the agent through the tools' own error output (nothing is sent: the name is refused)."""
    code, out = run(sandbox, "pip download --no-cache-dir --retries 1 -d /tmp/dl "
                             "--index-url https://example.com/simple six")
    assert code != 0 and "Tunnel connection failed: 403 Blocked by the sandbox's network policy: only package " \
                         "registries are reachable (not example.com)" in out, out
    code, out = run(sandbox, "npm view left-pad --registry https://example.com/ --fetch-retries 0")
    assert code != 0 and "403 Blocked by the sandbox's network policy: only package registries are reachable " \
                         "(not example.com)" in out, out


def test_the_proxy_settings_are_in_every_sandbox_process(sandbox) -> None:
    code, out = run(sandbox, "env | grep -i -E '^(https?_proxy|no_proxy|npm_config_https_proxy|pip_proxy)=' | sort")
    assert code == 0
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "npm_config_https_proxy", "PIP_PROXY"):
        assert f"{name}={PROXY}" in out, out
    execution = sandbox.run_code("import os; os.environ['HTTPS_PROXY']")
    assert execution.text == PROXY


HOLD_CONNECTIONS = """
import socket, time
held = [socket.create_connection(("127.0.0.1", 3128)) for _ in range(100)]  # silent: each holds a slot
time.sleep(0.5)
extra = socket.create_connection(("127.0.0.1", 3128))
extra.sendall(b"CONNECT pypi.org:443 HTTP/1.1\\r\\n\\r\\n")
print("extra:", extra.recv(200).split(b"\\r\\n")[0].decode())
for s in held:
    s.close()
time.sleep(0.5)
again = socket.create_connection(("127.0.0.1", 3128))
again.sendall(b"CONNECT pypi.org:443 HTTP/1.1\\r\\n\\r\\n")
print("again:", again.recv(200).split(b"\\r\\n")[0].decode())
"""


def test_a_sandbox_cannot_hold_more_than_its_share_of_proxy_connections(sandbox) -> None:
    sandbox.files.write("hold.py", HOLD_CONNECTIONS)
    code, out = run(sandbox, "python3 hold.py", timeout=120)
    assert code == 0, out
    assert "extra: HTTP/1.1 429 " in out and "too many connections" in out, out
    assert "again: HTTP/1.1 200 " in out, out


@pytest.fixture(scope="module")
def open_server() -> Iterator[LocalServer]:
    """A server whose sandboxes may reach any public address: only the address rules stand in the way."""
    yield from serve(("--internet", "all", "--pool-size", "0"))


@contextlib.contextmanager
def recording_service(address: str) -> Iterator[tuple[int, list[str]]]:
    """An HTTP service on ``address`` of this machine that records every request it gets: (port, paths)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host secret")

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1], hits
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def host_service() -> Iterator[tuple[int, list[str]]]:
    """An HTTP service on this machine's loopback that records every request it gets."""
    with recording_service("127.0.0.1") as service:
        yield service


def test_this_machine_and_private_networks_are_refused_whatever_the_name(open_server, host_service) -> None:
    port, hits = host_service
    control_port = open_server.url.rsplit(":", 1)[1]
    targets = [
        f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"http://[::1]:{port}/",
        f"http://2130706433:{port}/",  # a name the resolver turns into 127.0.0.1, without DNS or /etc/hosts
        f"http://0x7f000001:{control_port}/health",  # the control plane, by another such name
        f"http://127.0.0.1:{control_port}/health",
        "http://0x0a000001/",  # 10.0.0.1, a private address given by name
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        f"http://{socket.gethostname()}:{port}/",  # this machine's own name
    ]
    with extra_sandbox(open_server) as sbx:
        for url in targets:
            code, out = run(sbx, f"curl -sS -m 20 --noproxy '' -x {PROXY} {url}")
            assert "blocked by the sandbox's network policy" in out and "private network" in out, (url, out)
            code, out = run(sbx, f"curl -sS -m 20 --noproxy '' -x {PROXY} -p {url}")  # as a CONNECT tunnel
            assert "response 403" in out, (url, out)
    assert hits == []


def own_address() -> str:
    """One of this machine's own non-loopback IPv4 addresses, preferring one that is public by the address rules
    (here: the documentation range this CI uses), which only the host-address rule refuses."""
    mine = [net.network_address for net in local_networks() if net.version == 4 and net.prefixlen == 32
            and not net.network_address.is_loopback]
    assert mine, "this machine has no non-loopback IPv4 address to test with"
    return str(sorted(mine, key=lambda ip: not is_public(ip))[0])


def test_this_machines_own_addresses_are_refused(open_server) -> None:
    address = own_address()
    as_number = int(ipaddress.IPv4Address(address))  # the same address given as a name the resolver turns into it
    with recording_service(address) as (port, hits), extra_sandbox(open_server) as sbx:  # on this machine's address
        for url in (f"http://{address}:{port}/", f"http://{as_number}:{port}/"):
            code, out = run(sbx, f"curl -sS -m 20 --noproxy '' -x {PROXY} {url}")
            assert "blocked by the sandbox's network policy" in out and "this machine" in out, (url, out)
    assert hits == []


@pytest.fixture(scope="module")
def allowing_server() -> Iterator[LocalServer]:
    """Registries plus one more domain (`localhost`: its answers are loopback, so nothing is ever sent)."""
    yield from serve(("--allow-domain", "localhost", "--pool-size", "0"))


def test_an_allowed_domain_passes_the_name_rule_and_still_meets_the_address_rules(allowing_server) -> None:
    with extra_sandbox(allowing_server) as sbx:
        code, out = run(sbx, f"curl -sS -m 20 --noproxy '' -x {PROXY} http://localhost:9/")
        assert "blocked by the sandbox's network policy: localhost resolves to this machine" in out, out
        code, out = run(sbx, f"curl -sS -m 20 --noproxy '' -x {PROXY} http://example.com/")
        assert "only package registries are reachable (not example.com)" in out, out


@pytest.fixture(scope="module")
def offline_server() -> Iterator[LocalServer]:
    yield from serve(("--internet", "off", "--pool-size", "0"))


def test_off_means_no_way_out(offline_server) -> None:
    with extra_sandbox(offline_server) as sbx:
        code, out = run(sbx, "env | grep -ci proxy; curl -sS -m 10 https://pypi.org/simple/six/")
        assert out.startswith("0") and code != 0, out
