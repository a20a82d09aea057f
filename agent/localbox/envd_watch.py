"""envd's directory watching: the streaming `WatchDir` (async SDK) and the polled `CreateWatcher` /
`GetWatcherEvents` / `RemoveWatcher` (sync SDK), both on the guest's inotify watch (guest/watch.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.filesystem import filesystem_pb as fs
from protobuf import Oneof

from .channel import GuestCallError
from .sandbox import LocalSandbox

_EVENT_TYPES = {"create": fs.EventType.CREATE, "write": fs.EventType.WRITE, "remove": fs.EventType.REMOVE,
                "rename": fs.EventType.RENAME, "chmod": fs.EventType.CHMOD}
MAX_BUFFERED_EVENTS = 10_000  # per polled watcher, between two GetWatcherEvents calls
MAX_WATCHERS_PER_SANDBOX = 64
KEEPALIVE_SECONDS = 30.0
FLUSH_SECONDS = 5.0


@dataclass
class _Opened:
    """A guest watch that has started: its remaining event lines and the id to stop it with."""

    sandbox: LocalSandbox
    stream: AsyncIterator[dict]
    guest_request: int

    async def stop(self) -> None:
        if self.sandbox.channel is not None:
            try:
                await self.sandbox.channel.call("unwatch", watch=self.guest_request)
            except GuestCallError:
                pass
        await self.stream.aclose()  # type: ignore[attr-defined]


async def open_watch(sandbox: LocalSandbox, path: str, recursive: bool, include_entry: bool,
                     errors: Callable[[GuestCallError], ConnectError]) -> _Opened:
    """Start a watch in the guest; raise the SDK's error (missing folder, not a folder) before any event."""
    assert sandbox.channel is not None
    stream = sandbox.channel.stream("watch", path=path, recursive=recursive, include_entry=include_entry)
    first = await stream.__anext__()
    if first.get("done"):
        await stream.aclose()
        error = first.get("error") or {"code": "internal", "message": "the watch ended at once"}
        raise errors(GuestCallError(error.get("code", ""), error.get("message", "")))
    return _Opened(sandbox, stream, int(first["id"]))


def _event(msg: dict, to_entry: Callable[[dict], fs.EntryInfo]) -> fs.FilesystemEvent:
    entry = msg.get("entry")
    return fs.FilesystemEvent(name=msg["name"], type=_EVENT_TYPES[msg["type"]],
                              entry=to_entry(entry) if entry else None)


def _ended_error(msg: dict, sandbox: LocalSandbox) -> ConnectError | None:
    error = msg.get("error")
    if error and (error.get("code") == "gone" or sandbox.killed.is_set()):
        return ConnectError(Code.UNAVAILABLE, "the sandbox was killed while watching")
    if error:
        return ConnectError(Code.INTERNAL, error.get("message", "the watch failed"))
    return None


async def stream_events(opened: _Opened, to_entry: Callable[[dict], fs.EntryInfo]) -> AsyncIterator[Any]:
    """WatchDir's reply stream: a start event, then one message per change; keepalives while quiet."""
    yield fs.WatchDirResponse(event=Oneof("start", fs.WatchDirResponse.StartEvent()))
    try:
        while True:
            try:
                msg = await asyncio.wait_for(opened.stream.__anext__(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield fs.WatchDirResponse(event=Oneof("keepalive", fs.WatchDirResponse.KeepAlive()))
                continue
            except StopAsyncIteration:
                return
            if msg.get("done"):
                error = _ended_error(msg, opened.sandbox)
                if error is not None:
                    raise error
                return
            if msg.get("ev") == "fs" and msg.get("type") in _EVENT_TYPES:
                yield fs.WatchDirResponse(event=Oneof("filesystem", _event(msg, to_entry)))
    finally:
        await opened.stop()


@dataclass
class _Polled:
    """A watcher of the sync SDK: events gathered in the background until the next GetWatcherEvents."""

    sandbox_id: str
    opened: _Opened
    events: list[fs.FilesystemEvent] = field(default_factory=list)
    error: ConnectError | None = None
    task: asyncio.Task | None = None
    flushes: dict[str, asyncio.Event] = field(default_factory=dict)


class PolledWatchers:
    """CreateWatcher / GetWatcherEvents / RemoveWatcher. Watcher ids are random; each is bound to its sandbox."""

    def __init__(self) -> None:
        self._watchers: dict[str, _Polled] = {}

    async def create(self, sandbox: LocalSandbox, opened: _Opened,
                     to_entry: Callable[[dict], fs.EntryInfo]) -> str:
        if sum(1 for w in self._watchers.values() if w.sandbox_id == sandbox.id) >= MAX_WATCHERS_PER_SANDBOX:
            await opened.stop()
            raise ConnectError(Code.RESOURCE_EXHAUSTED,
                               f"a sandbox can have at most {MAX_WATCHERS_PER_SANDBOX} watchers; stop one first")
        watcher_id = uuid.uuid4().hex
        polled = _Polled(sandbox.id, opened)
        polled.task = asyncio.create_task(self._gather(watcher_id, polled, to_entry))
        self._watchers[watcher_id] = polled
        return watcher_id

    async def _gather(self, watcher_id: str, polled: _Polled, to_entry: Callable[[dict], fs.EntryInfo]) -> None:
        async for msg in polled.opened.stream:
            if msg.get("done"):
                polled.error = _ended_error(msg, polled.opened.sandbox)
                break
            if msg.get("ev") == "fs" and msg.get("type") in _EVENT_TYPES:
                if len(polled.events) < MAX_BUFFERED_EVENTS:
                    polled.events.append(_event(msg, to_entry))
            elif msg.get("ev") == "flushed" and msg.get("token") in polled.flushes:
                polled.flushes[msg["token"]].set()
        for waiting in polled.flushes.values():
            waiting.set()
        if polled.opened.sandbox.killed.is_set():
            self._watchers.pop(watcher_id, None)

    def _get(self, sandbox: LocalSandbox, watcher_id: str) -> _Polled:
        polled = self._watchers.get(watcher_id)
        if polled is None or polled.sandbox_id != sandbox.id:
            raise ConnectError(Code.NOT_FOUND, f"watcher {watcher_id} not found")
        return polled

    async def drain(self, sandbox: LocalSandbox, watcher_id: str) -> list[fs.FilesystemEvent]:
        polled = self._get(sandbox, watcher_id)
        if polled.error is None and sandbox.channel is not None:
            # the changes made just before this call: have the guest read inotify now and mark the end of it
            token = uuid.uuid4().hex
            polled.flushes[token] = flushed = asyncio.Event()
            try:
                await sandbox.channel.call("watch_flush", watch=polled.opened.guest_request, token=token)
                await asyncio.wait_for(flushed.wait(), FLUSH_SECONDS)
            except (GuestCallError, TimeoutError):
                pass
            finally:
                polled.flushes.pop(token, None)
        events, polled.events = polled.events, []
        if not events and polled.error is not None:
            self._watchers.pop(watcher_id, None)
            raise polled.error
        return events

    async def remove(self, sandbox: LocalSandbox, watcher_id: str) -> None:
        polled = self._get(sandbox, watcher_id)
        self._watchers.pop(watcher_id, None)
        if polled.task is not None:  # it reads the stream: end it before the stream is closed
            polled.task.cancel()
            await asyncio.gather(polled.task, return_exceptions=True)
        await polled.opened.stop()
