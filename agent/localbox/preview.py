"""Preview: reach a web server running INSIDE a sandbox (its own network namespace) from the host.

Each sandbox port has its own origin, the name E2B's `get_host(port)` gives: `<port>-<sandbox id>.<domain>`, with
the server's domain `localhost:<server port>` by default (browsers resolve every `*.localhost` name to this
machine). The server routes such requests by their Host header and proxies each as one HTTP/1.1 request to
127.0.0.1:{port} inside the jail; the guest daemon relays the TCP bytes over its socket. Python clients that cannot
resolve those names send the request to the server's own address with that Host header (docs/localbox.md).

A sandbox's pages run on their own origin, so they cannot script the app, another sandbox's preview or this
server. What could reach beyond that origin is dropped from responses: `Set-Cookie` with a Domain other than the
preview's own host (a cookie for `localhost` would reach the app and every other sandbox), `Service-Worker-Allowed`
and `Clear-Site-Data`. The server's own credentials (`X-API-KEY`, `X-Access-Token`) never reach the sandbox.

Limits: plain HTTP only (no WebSocket, so no hot reload), one request per connection, bodies up to 64 MiB.
"""

from __future__ import annotations

import asyncio
import base64

import h11
from starlette.types import Receive, Scope, Send

from .channel import GuestCallError
from .interpreter import read_body, send_error, wait_disconnect
from .sandbox import LocalSandbox

_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailers",
               b"transfer-encoding", b"upgrade", b"host", b"content-length"}
_SERVER_CREDENTIALS = {b"x-api-key", b"x-access-token"}  # this server's, never the sandbox app's
_BEYOND_ORIGIN = {b"service-worker-allowed", b"clear-site-data", b"set-cookie2"}
ACK_EVERY = 256 << 10  # tell the guest every 256 KiB that the client took them (its window is 1 MiB)


def host_of(sandbox_id: str, port: int, domain: str) -> str:
    """The preview's host name (with the server's port), as E2B's `get_host(port)` builds it."""
    return f"{port}-{sandbox_id}.{domain}"


def parse_host(host: str, domain: str) -> tuple[str, int] | None:
    """(sandbox id, port) when `host` (a Host header) names a sandbox port under `domain`; None otherwise."""
    name, want = host.strip().lower().rsplit(":", 1)[0], domain.lower().rsplit(":", 1)[0]
    if not want or not name.endswith("." + want):
        return None
    port, dash, sandbox_id = name[: -len(want) - 1].partition("-")
    if not dash or not port.isdigit() or not 0 < int(port) < 65536 or not sandbox_id.isalnum():
        return None
    return sandbox_id, int(port)


def own_cookie(value: bytes, host: str) -> bool:
    """True when a Set-Cookie stays on the preview's own host (no Domain attribute, or that very host)."""
    for attribute in value.decode("latin-1").split(";")[1:]:
        key, _, domain = attribute.partition("=")
        if key.strip().lower() == "domain" and domain.strip().lstrip(".").lower() != host:
            return False
    return True


async def proxy(sandbox: LocalSandbox, port: int, host: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Forward one request to the in-jail server and stream its answer back."""
    assert sandbox.channel is not None
    try:
        body = await read_body(receive)
    except ConnectionError:
        return
    except ValueError:
        return await send_error(send, 413, "the request body is too large for the preview proxy")
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    headers = [(k, v) for k, v in scope["headers"]
               if k.lower() not in _HOP_BY_HOP | _SERVER_CREDENTIALS | {b"x-forwarded-host"}]
    # the app inside sees its usual local address (dev servers check it) and, for links, the name the browser used
    headers += [(b"host", f"127.0.0.1:{port}".encode()), (b"x-forwarded-host", host.encode()), (b"connection", b"close"),
                (b"content-length", str(len(body)).encode())]
    conn = h11.Connection(h11.CLIENT)
    wire = conn.send(h11.Request(method=scope["method"], target=target, headers=headers))
    wire += conn.send(h11.Data(data=body)) if body else b""
    wire += conn.send(h11.EndOfMessage())

    relay = asyncio.create_task(_relay(sandbox, port, host.rsplit(":", 1)[0].lower(), conn, wire,
                                       _answer_for(scope, port, send)))
    client_gone = asyncio.create_task(wait_disconnect(receive))
    try:
        await asyncio.wait({relay, client_gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relay, client_gone):
            task.cancel()
        await asyncio.gather(relay, client_gone, return_exceptions=True)


def _answer_for(scope: Scope, port: int, send: Send) -> Send:
    """``send``, except that a 502 (nothing answered) becomes a small page for a browser (see ``not_answering``)."""
    accept = b",".join(v for k, v in scope.get("headers", []) if k.lower() == b"accept")
    if b"text/html" not in accept:
        return send
    replaced = False

    async def answer(message: dict) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] == 502:
            replaced = True
            return await send_page(send, 502, not_answering(port))
        if not replaced:
            await send(message)

    return answer


def not_answering(port: int) -> str:
    """What a browser shows when no server answers on the port yet: plain words, light or dark, retried every 3 s."""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">'
        '<meta name="color-scheme" content="light dark"><title>Nothing here yet</title><style>'
        "body{font-family:system-ui,sans-serif;margin:0;display:flex;align-items:center;justify-content:center;"
        "min-height:90vh;background:Canvas;color:CanvasText}main{max-width:32em;padding:1.5em;text-align:center;"
        "line-height:1.5}h1{font-size:1.25em}p{opacity:.85}</style></head><body><main>"
        f"<h1>Nothing is running on port {port} yet</h1>"
        "<p>No web server in the sandbox answers on this port. If the app is still starting, this page tries "
        "again every few seconds by itself. Otherwise ask Claude to start the app, or check the port number.</p>"
        "</main></body></html>"
    )


async def send_page(send: Send, status: int, page: str) -> None:
    body = page.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _relay(sandbox: LocalSandbox, port: int, hostname: str, conn: h11.Connection, wire: bytes,
                 send: Send) -> None:
    """Send the request into the sandbox and stream the answer out, acknowledging what the client took (the
    guest sends at most its window ahead, so a slow or stalled client never makes this server buffer more)."""
    assert sandbox.channel is not None
    stream = sandbox.channel.stream("tcp", port=port)
    started = False
    conn_id: int | None = None
    finished = False
    unacked = 0
    try:
        async for msg in stream:
            if msg.get("ev") == "open":
                conn_id = msg["id"]
                await sandbox.channel.call("tcp_write", conn=conn_id, b64=base64.b64encode(wire).decode())
                continue
            if msg.get("done"):
                if msg.get("error") and not started:
                    status = 502
                    return await send_error(send, status, msg["error"].get("message", "the preview failed"))
                conn.receive_data(b"")
            else:
                data = base64.b64decode(msg.get("b64", ""))
                unacked += len(data)
                conn.receive_data(data)
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError:
                    if not started:
                        return await send_error(send, 502, "the server in the sandbox sent an invalid response")
                    return await send({"type": "http.response.body", "body": b""})
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    break
                if isinstance(event, h11.Response):
                    out = []
                    for name, value in event.headers:
                        if name.lower() in (_HOP_BY_HOP - {b"content-length"}) | _BEYOND_ORIGIN:
                            continue
                        if name.lower() == b"set-cookie" and not own_cookie(value, hostname):
                            continue
                        out.append((name, value))
                    await send({"type": "http.response.start", "status": event.status_code, "headers": out})
                    started = True
                elif isinstance(event, h11.Data):
                    await send({"type": "http.response.body", "body": bytes(event.data), "more_body": True})
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    finished = True
                    if started:
                        await send({"type": "http.response.body", "body": b""})
                    return
            if msg.get("done"):
                finished = True
                break
            if conn_id is not None and unacked >= ACK_EVERY:
                await sandbox.channel.call("tcp_ack", conn=conn_id, bytes=unacked)
                unacked = 0
        if not started:
            await send_error(send, 502, "the server in the sandbox closed the connection without answering")
        else:
            await send({"type": "http.response.body", "body": b""})
    except GuestCallError as exc:
        if not started:
            await send_error(send, 502, exc.message)
    finally:
        if conn_id is not None and not finished and not sandbox.channel.closed.is_set():
            # the client left (or we failed): close the connection inside the sandbox too
            try:
                await asyncio.shield(sandbox.channel.call("tcp_write", conn=conn_id, close=True))
            except (GuestCallError, asyncio.CancelledError):
                pass
        await stream.aclose()
