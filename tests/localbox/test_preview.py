"""Preview: a web server started inside a sandbox, reached from the host at the SDK's `get_host(port)` name
(`<port>-<sandbox id>.localhost:<server port>`, also what `server.preview_url` gives).

The sandbox has its own network namespace, so the only way in is the server's relay; these tests check that the
relay works for the sandbox's own loopback, gives each sandbox port its own origin (nothing that reaches beyond it
gets through), dies with the sandbox, and cannot be turned into a way to reach the host's own ports. Requests go
to the server's loopback address with the preview's Host header, the fallback for clients (like httpx here) that
do not resolve `*.localhost` names.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import extra_sandbox, preview_get, wait_for

PORT = 8000


@pytest.fixture(scope="module")
def web_sandbox(localbox) -> Iterator[Sandbox]:
    """A sandbox serving /home/user/site on 127.0.0.1:8000 (inside its own namespace)."""
    with extra_sandbox(localbox, timeout=600) as sbx:
        sbx.files.write("/home/user/site/index.html", "<h1>hello from the sandbox ✓</h1>")
        sbx.files.write("/home/user/site/data.json", '{"ok": true}')
        sbx.commands.run(
            f"cd /home/user/site && python3 -m http.server {PORT} --bind 127.0.0.1 >/tmp/http.log 2>&1",
            background=True,
        )
        wait_for(
            lambda: "200" in sbx.commands.run(
                f"python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{PORT}/').status)\""
                " 2>/dev/null || true"
            ).stdout,
            timeout=20,
            what="the in-sandbox web server",
        )
        yield sbx


def test_preview_url_serves_the_in_sandbox_server(localbox, web_sandbox) -> None:
    url = localbox.preview_url(web_sandbox.sandbox_id, PORT)
    server_port = localbox.url.rsplit(":", 1)[1]
    assert url == f"http://{PORT}-{web_sandbox.sandbox_id}.localhost:{server_port}/"
    assert url == f"http://{web_sandbox.get_host(PORT)}/", "preview_url and the SDK's get_host name the same place"
    page = preview_get(url)
    assert page.status_code == 200
    assert "hello from the sandbox ✓" in page.text
    data = preview_get(url + "data.json?x=1")  # absolute paths work: the preview is the origin's root
    assert data.status_code == 200 and data.json() == {"ok": True}


def test_preview_names_one_sandbox_and_port_only(localbox, web_sandbox) -> None:
    url = localbox.preview_url(web_sandbox.sandbox_id, PORT)
    assert web_sandbox._envd_access_token not in url, "the link must not reveal the sandbox's access token"
    other = localbox.preview_url(web_sandbox.sandbox_id, PORT + 1)
    assert other and other != url
    for wrong in (url.replace(web_sandbox.sandbox_id, web_sandbox.sandbox_id[:-4] + "0000"),
                  url.replace(f"{PORT}-", "0-"), url.replace(f"{PORT}-", f"{PORT}x-")):
        response = preview_get(wrong)
        assert response.status_code in (401, 404), wrong
        assert "hello from the sandbox" not in response.text
    assert localbox.preview_url("no-such-sandbox", PORT) is None


def test_preview_of_a_closed_port_is_a_clear_error(localbox, web_sandbox) -> None:
    url = localbox.preview_url(web_sandbox.sandbox_id, 8999)
    response = preview_get(url)
    assert response.status_code in (502, 503, 504)
    assert response.text.strip(), "the error must say something"


def test_a_browser_asking_a_closed_port_gets_a_page_that_says_so_and_retries(localbox, web_sandbox) -> None:
    url = localbox.preview_url(web_sandbox.sandbox_id, 8998)
    response = preview_get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html"), response.headers
    page = response.text
    assert "Nothing is running on port 8998 yet" in page and "{" not in page.split("<body>")[1], page
    assert '<meta http-equiv="refresh"' in page, "the page does not try again by itself"
    assert 'name="color-scheme" content="light dark"' in page, "the page is not readable in dark mode"
    machine = preview_get(url)  # a program (no text/html in Accept) still gets the JSON error
    assert machine.status_code == 502 and machine.json()["code"] == 502


@pytest.mark.hostile
def test_preview_cannot_reach_host_ports(localbox) -> None:
    """Asking the relay for a port where only the HOST listens must not reach the host's listener."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    host_port = listener.getsockname()[1]
    accepted: list[int] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nHOST-REACHED\n")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with extra_sandbox(localbox) as sbx:
            server_port = int(localbox.url.rsplit(":", 1)[1])
            for port in (host_port, server_port):
                url = localbox.preview_url(sbx.sandbox_id, port)
                response = preview_get(url)
                assert "HOST-REACHED" not in response.text
                assert response.status_code != 200 or "sandboxID" not in response.text
        time.sleep(0.5)
        assert accepted == [], "the preview relay connected to a host port"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_preview_dies_with_the_sandbox(localbox) -> None:
    sbx = Sandbox.create(**localbox.sdk_options())
    try:
        sbx.commands.run(f"python3 -m http.server {PORT} --bind 127.0.0.1 >/dev/null 2>&1", background=True)
        url = localbox.preview_url(sbx.sandbox_id, PORT)
        wait_for(
            lambda: preview_get(url, timeout=10).status_code == 200,
            timeout=20,
            what="the preview to answer",
        )
    finally:
        sbx.kill()
    response = preview_get(url)
    assert response.status_code in (404, 410, 502)


ECHO_SERVER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(self.headers).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "own=1; Path=/; HttpOnly")
        self.send_header("Set-Cookie", "wide=1; Domain=localhost; Path=/")
        self.send_header("Set-Cookie", "other=1; Domain=.8001-someone-else.localhost")
        self.send_header("Service-Worker-Allowed", "/")
        self.send_header("Clear-Site-Data", '"*"')
        self.send_header("X-Seen", "yes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8001), H).serve_forever()
"""


@pytest.fixture(scope="module")
def echo_url(localbox, web_sandbox) -> str:
    web_sandbox.files.write("/home/user/echo.py", ECHO_SERVER)
    web_sandbox.commands.run("python3 /home/user/echo.py >/tmp/echo.log 2>&1", background=True)
    url = localbox.preview_url(web_sandbox.sandbox_id, 8001)
    wait_for(lambda: preview_get(url, timeout=10).status_code == 200, timeout=20, what="the echo server")
    return url


def test_preview_keeps_the_servers_credentials_away_from_the_sandbox(localbox, echo_url) -> None:
    """The server's API key and a sandbox's access token are never relayed; what the page's own origin holds
    (its cookies, an Authorization it sends itself) belongs to the app in the sandbox and is relayed."""
    reply = preview_get(echo_url, headers={"X-API-KEY": localbox.api_key, "X-Access-Token": "secret-token",
                                           "Cookie": "own=1", "Authorization": "Bearer app-token",
                                           "X-Custom": "kept"})
    assert reply.status_code == 200
    seen = reply.text.lower()
    assert "x-custom: kept" in seen, f"ordinary headers should reach the sandbox's server: {reply.text}"
    assert localbox.api_key.lower() not in seen and "secret-token" not in seen, f"credentials leaked: {reply.text}"
    assert "cookie: own=1" in seen and "authorization: bearer app-token" in seen
    assert reply.headers.get("x-seen") == "yes"


def test_preview_drops_what_reaches_beyond_its_own_origin(echo_url) -> None:
    """A cookie for `localhost` would reach the app and every other sandbox; a service worker widened to `/` or a
    Clear-Site-Data would act on more than the page: all dropped, the page's own cookie kept."""
    reply = preview_get(echo_url)
    assert reply.status_code == 200
    cookies = reply.headers.get_list("set-cookie")
    assert cookies == ["own=1; Path=/; HttpOnly"], cookies
    assert "service-worker-allowed" not in reply.headers
    assert "clear-site-data" not in reply.headers


_ENDLESS = r'''
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 8123)); s.listen(8)
chunk = b"x" * (1 << 20)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    try:
        while True:
            c.sendall(chunk)
    except OSError:
        c.close()
        open("/home/user/closed.log", "a").write("client connection closed\n")
'''


def test_a_stalled_preview_client_does_not_make_the_server_buffer_an_endless_response(localbox) -> None:
    """A browser that stops reading (e.g. a fetch() whose body is never read) must cost the server a bounded
    buffer, not everything the sandbox sends; and when it goes away the sandbox-side connection is closed."""
    from tests.localbox.helpers import rss_bytes, server_pids

    with extra_sandbox(localbox) as sbx:
        sbx.files.write("/home/user/endless.py", _ENDLESS)
        server = sbx.commands.run("python3 /home/user/endless.py", background=True)
        probe = "import socket; socket.create_connection(('127.0.0.1', 8123)).close(); print('up')"
        wait_for(lambda: "up" in sbx.commands.run(f'python3 -c "{probe}" 2>/dev/null || true').stdout or None,
                 timeout=10, what="the endless server to listen")
        url = urllib.parse.urlsplit(localbox.preview_url(sbx.sandbox_id, 8123))
        pids = server_pids(localbox)
        before = sum(rss_bytes(pid) for pid in pids)
        client = socket.create_connection(("127.0.0.1", url.port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.sendall(f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        assert client.recv(200).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # the client reads nothing more
        grown = (sum(rss_bytes(pid) for pid in pids) - before) >> 20
        client.close()
        assert grown < 64, f"the server buffered {grown} MiB for a client that stopped reading"
        wait_for(lambda: sbx.files.exists("/home/user/closed.log") or None, timeout=15,
                 what="the sandbox-side connection to be closed after the client left")
        server.kill()
