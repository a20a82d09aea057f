"""The one ASGI app: control plane, code interpreter and envd on one port.

Routing: a request whose Host is `<port>-<sandbox id>.<domain>` goes to that port inside that sandbox (preview.py,
E2B's get_host); a request with an `E2b-Sandbox-Id` header is sandbox traffic; `E2b-Sandbox-Port: 49999` goes to the code
interpreter, anything else to envd. Signed file URLs (no headers) are matched to a sandbox by their signature.
Everything else is the REST control plane, which needs the server's API key.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
from urllib.parse import parse_qsl

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.filesystem import filesystem_connect as fsc
from e2b.envd.process import process_connect as pc
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from . import envd
from .control import ControlPlane, Registry
from .interpreter import Interpreter, send_error, send_json
from .preview import host_of, parse_host
from .preview import proxy as preview_proxy
from .sandbox import LocalSandbox
from .users import basic_user, refusal

log = logging.getLogger("agent.localbox")
INTERPRETER_PORT = "49999"
# the SDK sends these interpreter calls without the access token (checked in e2b-code-interpreter 2.11.5)
_TOKENLESS_INTERPRETER_PREFIXES = ("/contexts",)


def _from_a_web_page(headers: dict) -> bool:
    """Browsers mark what a page sends (Origin on cross-origin and non-GET requests, Sec-Fetch-* on all of them);
    the SDK's HTTP client sends neither."""
    return any(name in headers for name in ("origin", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest"))


class LocalboxApp:
    def __init__(self, registry: Registry, on_ready=None) -> None:
        self.registry = registry
        self.control = ControlPlane(registry, registry.settings.api_key)
        self.interpreter = Interpreter(registry.settings.limits.output_bytes)
        self.fs_app = fsc.FilesystemASGIApplication(envd.FilesystemService(self._resolve_rpc))
        self.proc_app = pc.ProcessASGIApplication(envd.ProcessService(self._resolve_rpc,
                                                                      registry.settings.limits.output_bytes))
        self.on_ready = on_ready

    def _resolve_rpc(self, ctx) -> LocalSandbox:
        sid = ctx.request_headers.get("e2b-sandbox-id", "")
        sandbox = self.registry.get(sid)
        if sandbox is None:
            raise ConnectError(Code.UNAVAILABLE, f"The sandbox {sid} was not found")
        problem = refusal(basic_user(ctx.request_headers.get("authorization", "")))
        if problem:
            raise ConnectError(Code.PERMISSION_DENIED, problem)
        return sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        sid = headers.get("e2b-sandbox-id")
        path = scope["path"]
        try:
            preview = parse_host(headers.get("host", ""), self.registry.settings.domain)
            if preview is not None:  # first: a sandbox's own origin reaches only that sandbox's port
                return await self._preview(preview, headers, scope, receive, send)
            if sid:
                return await self._sandbox_traffic(sid, headers, scope, receive, send)
            if path == "/files":
                return await self._signed_files(scope, receive, send)
            if path == "/health":
                return await send_json(send, 200, {"status": "ok"})
            if path.startswith("/localbox/preview/"):
                return await self._preview_link(headers, path, send)
            request = Request(scope, receive)
            response = await self.control.handle(request)
            await response(scope, receive, send)
        except Exception:
            log.exception("localbox: request %s %s failed", scope.get("method"), path)
            try:
                await send_error(send, 500, "internal error in the local sandbox server")
            except Exception:
                pass

    async def _sandbox_traffic(self, sid: str, headers: dict, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.registry.get(sid)
        path = scope["path"]
        if sandbox is None:
            return await send_json(send, 502, {"sandboxId": sid, "code": 502,
                                               "message": f"The sandbox {sid} was not found"})
        port = headers.get("e2b-sandbox-port", "49983")
        token_ok = hmac.compare_digest(headers.get("x-access-token", "").encode(), sandbox.access_token.encode())
        tokenless = port == INTERPRETER_PORT and path.startswith(_TOKENLESS_INTERPRETER_PREFIXES)
        if tokenless and not token_ok and _from_a_web_page(headers):
            return await send_error(send, 403, "a web page cannot use the code contexts of a sandbox")
        if not tokenless and not token_ok:
            if path.startswith(("/filesystem.", "/process.")):
                body = json.dumps({"code": "unauthenticated", "message": "missing or wrong access token"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json")]})
                return await send({"type": "http.response.body", "body": body})
            return await send_error(send, 401, "missing or wrong access token")
        if port == INTERPRETER_PORT:
            return await self.interpreter.handle(sandbox, scope, receive, send)
        if path.startswith("/filesystem.Filesystem/"):
            return await self.fs_app(scope, receive, send)
        if path.startswith("/process.Process/"):
            return await self.proc_app(scope, receive, send)
        await self._envd_http(sandbox, scope, receive, send)

    async def _envd_http(self, sandbox: LocalSandbox, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path, method = scope["path"], scope["method"]
        problem = refusal(request.query_params.get("username"))
        if problem and path == "/files":
            return await send_error(send, 403, problem)
        if path == "/health":
            response = await envd.health(sandbox)
        elif path == "/files" and method == "GET":
            response = await envd.read_file(sandbox, request)
        elif path == "/files" and method == "POST":
            response = await envd.write_files(sandbox, request)
        else:
            return await send_error(send, 404, f"no route {method} {path}")
        await response(scope, receive, send)

    async def _signed_files(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        signature = query.get("signature")
        if not signature:
            return await send_error(send, 401, "a signed URL or sandbox headers are required")
        operation = "read" if scope["method"] == "GET" else "write"
        sandbox, expired = self.registry.by_signature(query.get("path", ""), operation, query.get("username", ""),
                                                      signature, query.get("signature_expiration"))
        if sandbox is None:
            return await send_error(send, 401, "the URL signature is invalid")
        if expired:  # E2B's envd answers exactly this
            return await send_error(send, 401, "signature is already expired")
        await self._envd_http(sandbox, scope, receive, send)

    async def _preview(self, target: tuple[str, int], headers: dict, scope: Scope, receive: Receive,
                       send: Send) -> None:
        sandbox = self.registry.get(target[0])
        if sandbox is None:
            return await send_error(send, 404, "no such preview (the sandbox ended, or the address is wrong)")
        await preview_proxy(sandbox, target[1], headers.get("host", ""), scope, receive, send)

    async def _preview_link(self, headers: dict, path: str, send: Send) -> None:
        """GET /localbox/preview/{id}/{port} (API key) → {"url": "http://{port}-{id}.{domain}/"}, used by
        LocalServer.preview_url: the same name as the SDK's get_host(port)."""
        if not hmac.compare_digest(headers.get("x-api-key", "").encode(), self.registry.settings.api_key.encode()):
            return await send_error(send, 401, "invalid API key")
        parts = path.split("/")
        if len(parts) != 5 or not parts[4].isdigit():
            return await send_error(send, 404, "use /localbox/preview/{sandbox_id}/{port}")
        sandbox = self.registry.get(parts[3])
        if sandbox is None:
            return await send_error(send, 404, f"sandbox {parts[3]} not found")
        host = host_of(sandbox.id, int(parts[4]), self.registry.settings.domain)
        await send_json(send, 200, {"url": f"http://{host}/"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.registry.start()
                    if self.on_ready is not None:
                        self.on_ready()
                except Exception as exc:
                    print(f"localbox: cannot start: {exc}", file=sys.stderr, flush=True)
                    await self.registry.shutdown()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.registry.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
