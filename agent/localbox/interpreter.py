"""The code interpreter API (what E2B serves on port 49999): /execute streaming and /contexts.

/execute answers one JSON object per line. While the code runs silently a {"type":"keepalive"} line goes out every
couple of seconds, so a client that went away is noticed (the write fails or the ASGI server reports the
disconnect); then the kernel is interrupted, and restarted if it does not go idle within a few seconds, so the
sandbox is usable again quickly. Output beyond the per-execution cap is dropped and the execution interrupted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Scope, Send

from .channel import GuestCallError
from .kernel import KernelError
from .sandbox import STATELESS_LANGUAGES, Context, LocalSandbox

KEEPALIVE_SECONDS = 2.0
INTERRUPT_GRACE_SECONDS = 3.0


async def read_body(receive: Receive, limit: int = 64 << 20) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ValueError("request body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, status: int, message: str) -> None:
    await send_json(send, status, {"code": status, "message": message})


class Interpreter:
    """Routes the interpreter paths for one request to the given sandbox."""

    def __init__(self, output_limit: int) -> None:
        self.output_limit = output_limit

    async def handle(self, sandbox: LocalSandbox, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/")
        method = scope["method"]
        try:
            if path == "/execute" and method == "POST":
                return await self.execute(sandbox, scope, receive, send)
            if path == "/contexts" and method == "POST":
                return await self.create_context(sandbox, receive, send)
            if path == "/contexts" and method == "GET":
                return await send_json(send, 200, [c.to_json() for c in sandbox.contexts.values()])
            if path.startswith("/contexts/"):
                rest = path[len("/contexts/"):].split("/")
                ctx = sandbox.contexts.get(rest[0])
                if ctx is None:
                    return await send_error(send, 404, f"context {rest[0]} not found")
                if len(rest) == 1 and method == "DELETE":
                    await sandbox.remove_context(ctx)
                    return await send_json(send, 200, {})
                if rest[1:] == ["restart"] and method == "POST":
                    async with ctx.lock:
                        await sandbox.restart_context(ctx)
                    return await send_json(send, 200, {})
            if path == "/health":
                return await send_json(send, 200, {"status": "ok"})
            return await send_error(send, 404, f"no route {method} {path}")
        except ConnectionError:
            return

    async def create_context(self, sandbox: LocalSandbox, receive: Receive, send: Send) -> None:
        try:
            body = json.loads(await read_body(receive) or b"{}")
        except ValueError:
            return await send_error(send, 400, "the request body is not JSON")
        cwd = body.get("cwd") or sandbox.home
        if cwd != sandbox.home and not await _is_directory(sandbox, cwd):
            return await send_error(send, 400, f"working directory '{cwd}' does not exist in the sandbox")
        try:
            ctx = await sandbox.new_context(body.get("language") or "python", cwd)
            if ctx.kernel is not None and cwd != sandbox.home:
                await ctx.kernel.run_silent(f"import os as _o; _o.chdir({json.dumps(cwd)}); del _o")
        except ValueError as exc:
            return await send_error(send, 400, str(exc))
        except KernelError as exc:
            return await send_error(send, 500, f"could not start the context: {exc}")
        await send_json(send, 200, ctx.to_json())

    async def execute(self, sandbox: LocalSandbox, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = json.loads(await read_body(receive) or b"{}")
        except ValueError:
            return await send_error(send, 400, "the request body is not JSON")
        code = body.get("code")
        if not isinstance(code, str):
            return await send_error(send, 400, "'code' is required")
        context_id, language = body.get("context_id"), body.get("language")
        if context_id and language:
            return await send_error(send, 400, "give either context_id or language, not both")
        env_vars = {str(k): str(v) for k, v in (body.get("env_vars") or {}).items()}
        if context_id:
            ctx = sandbox.contexts.get(context_id)
            if ctx is None:
                return await send_error(send, 404, f"context {context_id} not found")
        else:
            lang = (language or "python").lower()
            if lang == "python":
                ctx = sandbox.contexts.get(sandbox.default_context_id)
                if ctx is None:
                    return await send_error(send, 502, "the sandbox's python context is gone")
            elif lang in STATELESS_LANGUAGES:
                ctx = Context(id="", language=lang, cwd=sandbox.home)
            else:
                return await send_error(
                    send, 400, f"language '{language}' is not supported by the local sandbox (python, javascript, bash)")

        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson"), (b"cache-control", b"no-cache")]})
        lines: asyncio.Queue = asyncio.Queue()
        producer = asyncio.create_task(self._produce(sandbox, ctx, code, env_vars, lines))
        disconnected = asyncio.create_task(wait_disconnect(receive))
        try:
            while True:
                getter = asyncio.create_task(lines.get())
                done, _ = await asyncio.wait({getter, disconnected}, timeout=KEEPALIVE_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if disconnected in done:
                    getter.cancel()
                    raise ConnectionError("client went away")
                if getter not in done:
                    getter.cancel()
                    await send({"type": "http.response.body", "body": b'{"type":"keepalive"}\n', "more_body": True})
                    continue
                event = getter.result()
                if sandbox.killed.is_set():
                    # like the cloud: the connection just drops, and the SDK reports "the sandbox was killed"
                    producer.cancel()
                    return
                if event is None:
                    break
                await send({"type": "http.response.body", "body": (json.dumps(event) + "\n").encode(),
                            "more_body": True})
            await send({"type": "http.response.body", "body": b'{"type":"end_of_execution"}\n'})
        except (ConnectionError, OSError):
            # the client left (or timed out): free the kernel for the next caller
            asyncio.create_task(self._abandon(sandbox, ctx, producer))
        finally:
            disconnected.cancel()

    async def _abandon(self, sandbox: LocalSandbox, ctx: Context, producer: asyncio.Task) -> None:
        if producer.done():
            return
        if ctx.kernel is None:  # a javascript/bash run: its process is killed when the producer is cancelled
            producer.cancel()
            return
        await ctx.kernel.interrupt()
        try:
            await asyncio.wait_for(asyncio.shield(producer), INTERRUPT_GRACE_SECONDS)
        except TimeoutError:
            producer.cancel()
            if ctx.kernel is not None and not sandbox.killed.is_set():
                try:
                    async with ctx.lock:
                        await sandbox.restart_context(ctx)
                except Exception:
                    pass
        except Exception:
            pass

    async def _produce(self, sandbox: LocalSandbox, ctx: Context, code: str, env_vars: dict[str, str],
                       out: asyncio.Queue) -> None:
        try:
            if ctx.kernel is None:
                await self._run_stateless(sandbox, ctx, code, env_vars, out)
            else:
                async with ctx.lock:
                    if ctx.kernel.dead.is_set():
                        await sandbox.restart_context(ctx)
                    try:
                        await self._run_python(ctx, code, env_vars, out)
                    finally:
                        if ctx.kernel.dead.is_set() and not sandbox.killed.is_set():
                            await sandbox.restart_context(ctx)
        except (KernelError, GuestCallError) as exc:
            out.put_nowait({"type": "error", "name": "SandboxError", "value": str(exc), "traceback": str(exc)})
        finally:
            out.put_nowait(None)

    async def _run_python(self, ctx: Context, code: str, env_vars: dict[str, str], out: asyncio.Queue) -> None:
        kernel = ctx.kernel
        assert kernel is not None
        if env_vars:
            await kernel.run_silent(
                "import os as _lb_os\n"
                f"_lb_saved_env = {{k: _lb_os.environ.get(k) for k in {json.dumps(list(env_vars))}}}\n"
                f"_lb_os.environ.update({json.dumps(env_vars)})\n"
            )
        sent = 0
        capped = False
        try:
            async for event in kernel.execute(code):
                if event["type"] in ("stdout", "stderr", "result"):
                    sent += sum(len(v) for v in event.values() if isinstance(v, str))
                    if sent > self.output_limit:
                        if not capped:
                            capped = True
                            out.put_nowait({"type": "stderr", "timestamp": _now(), "text": (
                                f"\n[localbox: output limit of {self.output_limit} bytes reached; "
                                "the execution was interrupted]\n")})
                            await kernel.interrupt()
                        continue
                out.put_nowait(event)
        finally:
            if env_vars and not kernel.dead.is_set():
                await kernel.run_silent(
                    "for _k, _v in _lb_saved_env.items():\n"
                    "    (_lb_os.environ.pop(_k, None) if _v is None else _lb_os.environ.__setitem__(_k, _v))\n"
                    "del _lb_saved_env, _lb_os, _k, _v\n"
                )

    async def _run_stateless(self, sandbox: LocalSandbox, ctx: Context, code: str, env_vars: dict[str, str],
                             out: asyncio.Queue) -> None:
        assert sandbox.channel is not None
        program, suffix = STATELESS_LANGUAGES[ctx.language]
        run_id = uuid.uuid4().hex
        script = f"/tmp/.localbox-{run_id}{suffix}"
        await sandbox.channel.call("write", path=script, b64=base64.b64encode(code.encode()).decode())
        stderr_tail = ""
        try:
            end: dict = {}
            async for msg in sandbox.channel.stream("spawn", cmd=program, args=[script], envs=env_vars, cwd=ctx.cwd,
                                                    limit=self.output_limit, hidden=True, tag=f"run-{run_id}"):
                if msg.get("ev") == "data":
                    text = base64.b64decode(msg["b64"]).decode(errors="replace")
                    if msg["stream"] == "stderr":
                        stderr_tail = (stderr_tail + text)[-4000:]
                    out.put_nowait({"type": msg["stream"], "text": text, "timestamp": _now()})
                elif msg.get("done"):
                    if msg.get("error"):
                        raise GuestCallError(msg["error"].get("code", ""), msg["error"].get("message", ""))
                    end = msg.get("result") or {}
            code_ = end.get("exit_code", 0)
            if code_ != 0:
                out.put_nowait({"type": "error", "name": "ExitError" if end.get("exited") else "Killed",
                                "value": f"{ctx.language} exited with {end.get('status', code_)}",
                                "traceback": stderr_tail})
        except asyncio.CancelledError:
            asyncio.create_task(_quietly(sandbox.channel.call("signal", tag=f"run-{run_id}", sig=9)))
            raise
        finally:
            asyncio.create_task(_quietly(sandbox.channel.call("remove", path=script)))


async def _quietly(call) -> None:
    try:
        await call
    except GuestCallError:
        pass


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _is_directory(sandbox: LocalSandbox, path: str) -> bool:
    assert sandbox.channel is not None
    try:
        return (await sandbox.channel.call("stat", path=path)).get("type") == "dir"
    except GuestCallError:
        return False
