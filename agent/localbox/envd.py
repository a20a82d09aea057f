"""envd (what E2B serves on port 49983): /files over plain HTTP, filesystem and process over Connect RPC.

The Connect framing is done by the SDK's own server-side ASGI apps (e2b.envd.*_connect); we subclass their
service base classes. Every operation is forwarded to the guest daemon inside the jail, never done on host paths.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import re
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.filesystem import filesystem_connect as fsc
from e2b.envd.filesystem import filesystem_pb as fs
from e2b.envd.process import process_connect as pc
from e2b.envd.process import process_pb as pp
from protobuf import Oneof
from protobuf.wkt.google.protobuf.timestamp_pb import Timestamp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import envd_watch
from .channel import GuestCallError
from .sandbox import LocalSandbox

_CODES = {"not_found": Code.NOT_FOUND, "invalid": Code.INVALID_ARGUMENT, "exists": Code.ALREADY_EXISTS,
          "permission": Code.PERMISSION_DENIED, "no_space": Code.RESOURCE_EXHAUSTED, "gone": Code.UNAVAILABLE,
          "too_large": Code.RESOURCE_EXHAUSTED}
_HTTP = {"not_found": 404, "invalid": 400, "exists": 409, "permission": 403, "no_space": 507, "gone": 502,
         "too_large": 413}
UPLOAD_LIMIT = 512 << 20
WRITE_CHUNK = 4 << 20

Resolver = Callable[[Any], LocalSandbox]


def _connect_error(exc: GuestCallError) -> ConnectError:
    return ConnectError(_CODES.get(exc.code, Code.INTERNAL), exc.message)


def _entry(info: dict) -> fs.EntryInfo:
    kind = fs.FileType.DIRECTORY if info["type"] == "dir" else fs.FileType.FILE
    return fs.EntryInfo(
        name=info["name"], type=kind, path=info["path"], size=int(info["size"]), mode=int(info["mode"]),
        permissions=info["permissions"], owner=info["owner"], group=info["group"],
        modified_time=Timestamp.from_nanos(int(info["mtime_ns"])),
        symlink_target=info.get("symlink_target"), is_symlink=bool(info.get("is_symlink")),
        metadata=info.get("metadata") or None,
    )


def _abs(sandbox: LocalSandbox, path: str) -> str:
    """Relative paths are relative to the user's home, as in E2B."""
    if not path:
        return sandbox.home
    if path.startswith("~"):
        path = sandbox.home + path[1:]
    if not path.startswith("/"):
        path = f"{sandbox.home}/{path}"
    return path


class FilesystemService(fsc.Filesystem):
    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self.watchers = envd_watch.PolledWatchers()

    async def _call(self, ctx, op: str, **fields):
        sandbox = self.resolve(ctx)
        assert sandbox.channel is not None
        try:
            return sandbox, await sandbox.channel.call(op, **fields)
        except GuestCallError as exc:
            raise _connect_error(exc) from None

    async def stat(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, info = await self._call(ctx, "stat", path=_abs(sandbox, request.path))
        return fs.StatResponse(entry=_entry(info))

    async def make_dir(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, res = await self._call(ctx, "mkdir", path=_abs(sandbox, request.path))
        if not res["created"]:
            raise ConnectError(Code.ALREADY_EXISTS, f"directory '{request.path}' already exists")
        return fs.MakeDirResponse(entry=_entry(res["entry"]))

    async def move(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, info = await self._call(ctx, "move", src=_abs(sandbox, request.source),
                                   dst=_abs(sandbox, request.destination))
        return fs.MoveResponse(entry=_entry(info))

    async def list_dir(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, infos = await self._call(ctx, "list", path=_abs(sandbox, request.path), depth=request.depth or 1)
        return fs.ListDirResponse(entries=[_entry(i) for i in infos])

    async def remove(self, request, ctx):
        sandbox = self.resolve(ctx)
        await self._call(ctx, "remove", path=_abs(sandbox, request.path))
        return fs.RemoveResponse()

    async def _open_watch(self, request, ctx):
        sandbox = self.resolve(ctx)
        opened = await envd_watch.open_watch(sandbox, _abs(sandbox, request.path), bool(request.recursive),
                                             bool(request.include_entry), _connect_error)
        return sandbox, opened

    async def watch_dir(self, request, ctx):
        _, opened = await self._open_watch(request, ctx)
        async for item in until_deadline(envd_watch.stream_events(opened, _entry), ctx, "the watch"):
            yield item

    async def create_watcher(self, request, ctx):
        sandbox, opened = await self._open_watch(request, ctx)
        return fs.CreateWatcherResponse(watcher_id=await self.watchers.create(sandbox, opened, _entry))

    async def get_watcher_events(self, request, ctx):
        events = await self.watchers.drain(self.resolve(ctx), request.watcher_id)
        return fs.GetWatcherEventsResponse(events=events)

    async def remove_watcher(self, request, ctx):
        await self.watchers.remove(self.resolve(ctx), request.watcher_id)
        return fs.RemoveWatcherResponse()


def _selector(sel) -> dict:
    if sel is None or sel.selector is None:
        raise ConnectError(Code.INVALID_ARGUMENT, "no process selected")
    field, value = sel.selector.field, sel.selector.value
    return {"pid": int(value)} if field == "pid" else {"tag": str(value)}


def _event(msg: dict) -> pp.ProcessEvent | None:
    ev = msg.get("ev")
    if ev == "start":
        return pp.ProcessEvent(event=Oneof("start", pp.ProcessEvent.StartEvent(pid=msg["pid"])))
    if ev == "data":
        data = base64.b64decode(msg["b64"])
        return pp.ProcessEvent(event=Oneof("data", pp.ProcessEvent.DataEvent(output=Oneof(msg["stream"], data))))
    return None


def _end_event(end: dict) -> pp.ProcessEvent:
    return pp.ProcessEvent(event=Oneof("end", pp.ProcessEvent.EndEvent(
        exit_code=int(end.get("exit_code", -1)), exited=bool(end.get("exited")), status=str(end.get("status", "")),
        error=end.get("error"))))


async def until_deadline(items: AsyncIterator[Any], ctx, what: str) -> AsyncIterator[Any]:
    """Relay a server stream until the client's Connect timeout (`Connect-Timeout-Ms`) passes, then end it with
    DEADLINE_EXCEEDED, which the SDK raises as TimeoutException. Only the connection ends (E2B's timeout is "for
    the command connection"): a command keeps running and can be reached again with `connect`."""
    remaining = ctx.timeout_ms
    try:
        if remaining is None:
            async for item in items:
                yield item
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + remaining / 1000
        while True:
            try:
                item = await asyncio.wait_for(items.__anext__(), max(0.0, deadline - loop.time()))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ConnectError(Code.DEADLINE_EXCEEDED, f"{what} timed out after {remaining / 1000:g} s") from None
            yield item
    finally:
        await items.aclose()


class ProcessService(pc.Process):
    def __init__(self, resolve: Resolver, output_limit: int) -> None:
        self.resolve = resolve
        self.output_limit = output_limit

    async def _relay(self, sandbox: LocalSandbox, stream, wrap) -> AsyncIterator[Any]:
        async for msg in stream:
            if msg.get("done"):
                if msg.get("error"):
                    err = msg["error"]
                    if err.get("code") == "gone" or sandbox.killed.is_set():
                        raise ConnectError(Code.UNAVAILABLE, "the sandbox was killed while the command ran")
                    raise _connect_error(GuestCallError(err.get("code", ""), err.get("message", "")))
                if sandbox.killed.is_set():
                    raise ConnectError(Code.UNAVAILABLE, "the sandbox was killed while the command ran")
                yield wrap(event=_end_event(msg.get("result") or {}))
                return
            event = _event(msg)
            if event is not None:
                yield wrap(event=event)

    async def start(self, request, ctx):
        sandbox = self.resolve(ctx)
        if request.pty is not None:
            raise ConnectError(Code.UNIMPLEMENTED, "PTY terminals are not supported by the local sandbox")
        cfg = request.process
        if cfg is None or not cfg.cmd:
            raise ConnectError(Code.INVALID_ARGUMENT, "no command given")
        assert sandbox.channel is not None
        stream = sandbox.channel.stream(
            "spawn", cmd=cfg.cmd, args=list(cfg.args), envs=dict(cfg.envs), cwd=_abs(sandbox, cfg.cwd or ""),
            tag=request.tag, stdin=bool(request.stdin), limit=self.output_limit)
        async for item in until_deadline(self._relay(sandbox, stream, pp.StartResponse), ctx, "the command"):
            yield item

    async def connect(self, request, ctx):
        sandbox = self.resolve(ctx)
        assert sandbox.channel is not None
        stream = sandbox.channel.stream("attach", **_selector(request.process))
        async for item in until_deadline(self._relay(sandbox, stream, pp.ConnectResponse), ctx, "the command"):
            yield item

    async def list(self, request, ctx):
        sandbox = self.resolve(ctx)
        assert sandbox.channel is not None
        procs = await sandbox.channel.call("ps")
        return pp.ListResponse(processes=[
            pp.ProcessInfo(config=pp.ProcessConfig(cmd=p["cmd"], args=p["args"], envs=p["envs"], cwd=p.get("cwd")),
                           pid=p["pid"], tag=p.get("tag")) for p in procs])

    async def _simple(self, ctx, op: str, **fields) -> None:
        sandbox = self.resolve(ctx)
        assert sandbox.channel is not None
        try:
            await sandbox.channel.call(op, **fields)
        except GuestCallError as exc:
            raise _connect_error(exc) from None

    async def send_signal(self, request, ctx):
        sig = int(request.signal.value if hasattr(request.signal, "value") else request.signal) or 9
        await self._simple(ctx, "signal", sig=sig, **_selector(request.process))
        return pp.SendSignalResponse()

    async def send_input(self, request, ctx):
        data = _input_bytes(request.input)
        await self._simple(ctx, "input", b64=base64.b64encode(data).decode(), **_selector(request.process))
        return pp.SendInputResponse()

    async def stream_input(self, request, ctx):
        selector: dict | None = None
        async for message in request:
            ev = message.event
            if ev is None:
                continue
            if ev.field == "start":
                selector = _selector(ev.value.process)
            elif ev.field == "data" and selector is not None:
                data = _input_bytes(ev.value.input)
                await self._simple(ctx, "input", b64=base64.b64encode(data).decode(), **selector)
        return pp.StreamInputResponse()

    async def close_stdin(self, request, ctx):
        await self._simple(ctx, "close_stdin", **_selector(request.process))
        return pp.CloseStdinResponse()

    async def update(self, request, ctx):
        raise ConnectError(Code.UNIMPLEMENTED, "PTY terminals are not supported by the local sandbox")


def _input_bytes(inp) -> bytes:
    if inp is None or inp.input is None:
        return b""
    return bytes(inp.input.value)


# ---- /files ----------------------------------------------------------------------------------------------------
def _http_error(exc: GuestCallError) -> JSONResponse:
    status = _HTTP.get(exc.code, 500)
    return JSONResponse({"code": status, "message": exc.message}, status_code=status)


async def read_file(sandbox: LocalSandbox, request: Request) -> Response:
    path = _abs(sandbox, request.query_params.get("path", ""))
    assert sandbox.channel is not None
    stream = sandbox.channel.stream("read", path=path)
    first = await stream.__anext__()
    if first.get("done"):
        if first.get("error"):
            return _http_error(GuestCallError(first["error"]["code"], first["error"]["message"]))
        return Response(b"", media_type="application/octet-stream")

    async def body() -> AsyncIterator[bytes]:
        msg = first
        try:
            while True:
                if msg.get("done"):
                    if msg.get("error"):  # failed midway (e.g. the sandbox died): cut the body short
                        raise OSError(msg["error"].get("message", "read failed"))
                    return
                yield base64.b64decode(msg["b64"])
                msg = await stream.__anext__()
        finally:
            await stream.aclose()  # a client that left early must not keep chunks queued

    return StreamingResponse(body(), media_type="application/octet-stream")


_METADATA_KEY = re.compile(r"\A[A-Za-z0-9!#$%&'*+\-.^_`|~]+\Z")
_METADATA_VALUE = re.compile(r"\A[\x20-\x7e]*\Z")
METADATA_HEADER = "x-metadata-"


def upload_metadata(request: Request) -> dict[str, str] | None:
    """The file metadata an upload carries as X-Metadata-<key> headers (keys lowercased, as envd stores them);
    None when a key or value is not what envd accepts."""
    found: dict[str, str] = {}
    for name, value in request.headers.items():
        if name.lower().startswith(METADATA_HEADER):
            key = name[len(METADATA_HEADER):].lower()
            if not _METADATA_KEY.match(key) or not _METADATA_VALUE.match(value):
                return None
            found[key] = value
    return found


async def write_files(sandbox: LocalSandbox, request: Request) -> Response:
    ctype = request.headers.get("content-type", "")
    path_param = request.query_params.get("path")
    written: list[dict] = []
    metadata = upload_metadata(request)
    if metadata is None:
        return JSONResponse({"code": 400, "message": "invalid file metadata: keys must be HTTP tokens and values "
                                                     "printable ASCII"}, status_code=400)
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=10000, max_part_size=UPLOAD_LIMIT)
            for _, item in form.multi_items():
                if isinstance(item, str):
                    continue
                target = item.filename or path_param
                if not target:
                    return JSONResponse({"code": 400, "message": "no path given for an uploaded file"},
                                        status_code=400)
                written.append(await _write(sandbox, _abs(sandbox, target), _read_upload(item), metadata))
            await form.close()
        else:
            if not path_param:
                return JSONResponse({"code": 400, "message": "the 'path' query parameter is required"},
                                    status_code=400)
            gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
            target = _abs(sandbox, path_param)
            try:
                written.append(await _write(sandbox, target, _read_body(request, gzipped), metadata))
            except _TooLarge:
                await sandbox.channel.call("remove", path=target)  # no half-written file left behind
                return JSONResponse({"code": 413, "message": f"the upload is larger than {UPLOAD_LIMIT >> 20} MiB"},
                                    status_code=413)
    except GuestCallError as exc:
        return _http_error(exc)
    except (zlib.error, gzip.BadGzipFile):
        return JSONResponse({"code": 400, "message": "the upload is not valid gzip"}, status_code=400)
    return JSONResponse([{"name": w["name"], "type": "dir" if w["type"] == "dir" else "file", "path": w["path"],
                          **({"metadata": w["metadata"]} if w.get("metadata") else {})} for w in written])


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, gzipped: bool) -> AsyncIterator[bytes]:
    """The request body as it arrives (gunzipped if need be), refusing more than UPLOAD_LIMIT bytes."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    size = 0
    async for chunk in request.stream():
        if decoder is not None:
            chunk = decoder.decompress(chunk, UPLOAD_LIMIT + 1 - size)  # bounded: a gzip bomb stops here
        size += len(chunk)
        if size > UPLOAD_LIMIT:
            raise _TooLarge()
        yield chunk
    if decoder is not None:
        yield decoder.flush()


async def _read_upload(item: Any) -> AsyncIterator[bytes]:
    """A multipart file part, read from its spool file a piece at a time."""
    while piece := await item.read(WRITE_CHUNK):
        yield piece


async def _write(sandbox: LocalSandbox, path: str, pieces: AsyncIterator[bytes], metadata: dict[str, str]) -> dict:
    """Write an upload into the sandbox as it arrives, WRITE_CHUNK bytes per guest call, so the server never
    holds a whole file in memory."""
    assert sandbox.channel is not None
    info: dict = {}
    first = True
    buffer = bytearray()

    async def flush(piece: bytes) -> None:
        nonlocal info, first
        info = await sandbox.channel.call("write", path=path, b64=base64.b64encode(piece).decode(), append=not first,
                                          **({"metadata": metadata} if first else {}))
        first = False

    async for chunk in pieces:
        buffer += chunk
        while len(buffer) >= WRITE_CHUNK:
            await flush(bytes(buffer[:WRITE_CHUNK]))
            del buffer[:WRITE_CHUNK]
    if buffer or first:
        await flush(bytes(buffer))
    return info


async def health(sandbox: LocalSandbox) -> Response:
    return Response(status_code=204)
