"""envd (what E2B serves on port 49983): /files over plain HTTP, filesystem and process over Connect RPC.

The Connect framing is done by the SDK's own server-side ASGI apps (e2b.envd.*_connect); we subclass their
service base classes. Every operation is forwarded to the guest daemon inside the jail, never done on host paths.
"""

from __future__ import annotations

import asyncio
import base64
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

from . import envd_watch
from .channel import GuestCallError
from .envd_files import health, read_file, sandbox_path, write_files  # noqa: F401  (the /files routes app.py serves)
from .sandbox import LocalSandbox

_CODES = {"not_found": Code.NOT_FOUND, "invalid": Code.INVALID_ARGUMENT, "exists": Code.ALREADY_EXISTS,
          "permission": Code.PERMISSION_DENIED, "no_space": Code.RESOURCE_EXHAUSTED, "gone": Code.UNAVAILABLE,
          "too_large": Code.RESOURCE_EXHAUSTED}

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
        _, info = await self._call(ctx, "stat", path=sandbox_path(sandbox, request.path))
        return fs.StatResponse(entry=_entry(info))

    async def make_dir(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, res = await self._call(ctx, "mkdir", path=sandbox_path(sandbox, request.path))
        if not res["created"]:
            raise ConnectError(Code.ALREADY_EXISTS, f"directory '{request.path}' already exists")
        return fs.MakeDirResponse(entry=_entry(res["entry"]))

    async def move(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, info = await self._call(ctx, "move", src=sandbox_path(sandbox, request.source),
                                   dst=sandbox_path(sandbox, request.destination))
        return fs.MoveResponse(entry=_entry(info))

    async def list_dir(self, request, ctx):
        sandbox = self.resolve(ctx)
        _, infos = await self._call(ctx, "list", path=sandbox_path(sandbox, request.path), depth=request.depth or 1)
        return fs.ListDirResponse(entries=[_entry(i) for i in infos])

    async def remove(self, request, ctx):
        sandbox = self.resolve(ctx)
        await self._call(ctx, "remove", path=sandbox_path(sandbox, request.path))
        return fs.RemoveResponse()

    async def _open_watch(self, request, ctx):
        sandbox = self.resolve(ctx)
        opened = await envd_watch.open_watch(sandbox, sandbox_path(sandbox, request.path), bool(request.recursive),
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
        cfg = request.process
        if cfg is None or not cfg.cmd:
            raise ConnectError(Code.INVALID_ARGUMENT, "no command given")
        assert sandbox.channel is not None
        common = {"cmd": cfg.cmd, "args": list(cfg.args), "envs": dict(cfg.envs), "tag": request.tag,
                  "cwd": sandbox_path(sandbox, cfg.cwd or ""), "limit": self.output_limit}
        if request.pty is not None:  # a terminal: output comes as "pty" data, input goes to the terminal
            size = request.pty.size
            stream = sandbox.channel.stream("spawn_pty", rows=size.rows if size else 24, cols=size.cols if size else 80,
                                            **common)
        else:
            stream = sandbox.channel.stream("spawn", stdin=bool(request.stdin), **common)
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
        op, data = _input(request.input)
        await self._simple(ctx, op, b64=base64.b64encode(data).decode(), **_selector(request.process))
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
                op, data = _input(ev.value.input)
                await self._simple(ctx, op, b64=base64.b64encode(data).decode(), **selector)
        return pp.StreamInputResponse()

    async def close_stdin(self, request, ctx):
        await self._simple(ctx, "close_stdin", **_selector(request.process))
        return pp.CloseStdinResponse()

    async def update(self, request, ctx):
        if request.pty is None or request.pty.size is None:
            raise ConnectError(Code.INVALID_ARGUMENT, "only a terminal's size can be updated")
        await self._simple(ctx, "pty_resize", rows=request.pty.size.rows, cols=request.pty.size.cols,
                           **_selector(request.process))
        return pp.UpdateResponse()


def _input(inp) -> tuple[str, bytes]:
    """The guest operation for a ProcessInput (stdin of a command, or the keyboard of a terminal) and its bytes."""
    if inp is None or inp.input is None:
        return "input", b""
    return ("pty_input" if inp.input.field == "pty" else "input"), bytes(inp.input.value)
