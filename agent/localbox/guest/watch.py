"""Directory watching inside the jail with Linux inotify (through ctypes: the guest is stdlib only).

One `op_watch` request is one watch: it answers {"ev": "start"} once the watch is in place, then one
{"ev": "fs", "name", "type", "entry"?} line per change until `op_unwatch` ends it (or the watched folder goes away).
Names are relative to the watched folder ("sub/file.txt" in a recursive watch), types are E2B's
(create, write, remove, rename, chmod), as envd derives them from inotify.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import stat
import struct

from .errors import GuestError, os_error
from .files import entry_info

IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR, IN_ISDIR = 0x4000, 0x8000, 0x01000000, 0x40000000
_MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
_KINDS = ((IN_CREATE | IN_MOVED_TO, "create"), (IN_MODIFY, "write"), (IN_DELETE, "remove"),
          (IN_MOVED_FROM, "rename"), (IN_ATTRIB, "chmod"))
_HEADER = struct.Struct("iIII")
MAX_QUEUED = 10_000  # events waiting to go to the host; past this, new ones are dropped (as inotify itself does)
MAX_WATCHES = 8192  # inotify watches per recursive watch


class _Inotify:
    """One inotify instance: watch descriptors mapped to folder paths relative to the watched root."""

    def __init__(self, root: str) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise GuestError("internal", f"cannot watch folders here: {os.strerror(ctypes.get_errno())}")
        self.fd = fd
        self.root = root
        self.dirs: dict[int, str] = {}

    def add(self, rel: str) -> bool:
        if len(self.dirs) >= MAX_WATCHES:
            return False
        path = os.path.join(self.root, rel) if rel else self.root
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), _MASK | IN_ONLYDIR)
        if wd < 0:
            return False
        self.dirs[wd] = rel
        return True

    def forget_under(self, rel: str) -> None:
        for wd, known in list(self.dirs.items()):
            if known == rel or known.startswith(rel + "/"):
                self.libc.inotify_rm_watch(self.fd, wd)
                self.dirs.pop(wd, None)

    def read(self) -> list[tuple[int, int, str]]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        events, offset = [], 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            raw = data[offset + _HEADER.size:offset + _HEADER.size + length].split(b"\0", 1)[0]
            events.append((wd, mask, os.fsdecode(raw)))
            offset += _HEADER.size + length
        return events

    def close(self) -> None:
        os.close(self.fd)


class _Watch:
    """The state of one watch: turns inotify events into E2B's events on a queue."""

    def __init__(self, root: str, recursive: bool, include_entry: bool) -> None:
        self.inotify = _Inotify(root)
        self.root = root
        self.recursive = recursive
        self.include_entry = include_entry
        self.queue: asyncio.Queue = asyncio.Queue()
        self.ended = asyncio.Event()

    def start(self) -> None:
        self.inotify.add("")
        if self.recursive:
            self._add_tree("", announce=False)
        asyncio.get_running_loop().add_reader(self.inotify.fd, self._on_readable)

    def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.inotify.fd)
        self.inotify.close()
        self.ended.set()

    def _add_tree(self, rel: str, announce: bool) -> None:
        """Watch every folder under `rel`; with `announce`, report what is already there as created (a folder
        made with content, e.g. `mkdir -p a/b && touch a/b/c`, fills before its watch exists)."""
        top = os.path.join(self.root, rel) if rel else self.root
        for folder, subdirs, files in os.walk(top):
            sub_rel = os.path.relpath(folder, self.root)
            sub_rel = "" if sub_rel == "." else sub_rel
            if folder != top:
                self.inotify.add(sub_rel)
            if announce:
                for name in subdirs + files:
                    self._emit(os.path.join(sub_rel, name), "create")

    def _emit(self, name: str, kind: str) -> None:
        if self.queue.qsize() >= MAX_QUEUED:
            return
        event: dict = {"ev": "fs", "name": name, "type": kind}
        if self.include_entry:
            try:
                event["entry"] = entry_info(os.path.join(self.root, name))
            except OSError:
                pass  # gone already (a remove, or a short-lived file): no entry, as in envd
        self.queue.put_nowait(event)

    def _on_readable(self) -> None:
        for wd, mask, name in self.inotify.read():
            if mask & IN_Q_OVERFLOW:
                continue
            folder = self.inotify.dirs.get(wd)
            if folder is None:
                continue
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                if folder == "":
                    self.stop()  # the watched folder itself is gone
                    return
                self.inotify.dirs.pop(wd, None)
                continue
            rel = os.path.join(folder, name) if folder else name
            for bit, kind in _KINDS:
                if mask & bit:
                    self._emit(rel, kind)
            if self.recursive and mask & IN_ISDIR:
                if mask & (IN_MOVED_FROM | IN_DELETE):
                    self.inotify.forget_under(rel)
                if mask & (IN_CREATE | IN_MOVED_TO) and self.inotify.add(rel):
                    self._add_tree(rel, announce=True)


class WatchOps:
    """The watch requests of `daemon.Guest` (a mixin: `send` comes from the daemon)."""

    watches: dict[int, _Watch]

    async def op_watch(self, rid, req) -> dict:
        path = req["path"]
        try:
            st = os.stat(path)
        except OSError as exc:
            raise os_error(exc, path) from None
        if not stat.S_ISDIR(st.st_mode):
            raise GuestError("invalid", f"path '{path}' is not a directory")
        watch = _Watch(path.rstrip("/") or "/", bool(req.get("recursive")), bool(req.get("include_entry")))
        watch.start()
        self.watches[rid] = watch
        ended = asyncio.ensure_future(watch.ended.wait())
        try:
            await self.send({"id": rid, "ev": "start"})
            while True:
                getter = asyncio.ensure_future(watch.queue.get())
                await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    while not watch.queue.empty():  # what was seen before the end still goes out
                        await self.send({"id": rid, **watch.queue.get_nowait()})
                    return {}
                await self.send({"id": rid, **getter.result()})
        finally:
            ended.cancel()
            self.watches.pop(rid, None)
            if not watch.ended.is_set():
                watch.stop()

    async def op_watch_flush(self, rid, req) -> dict:
        """Take what inotify has seen so far and put a marker after it in the watch's stream, so a poller on the
        host knows when it has every event of the changes made before it asked."""
        watch = self.watches.get(req.get("watch"))
        if watch is not None and not watch.ended.is_set():
            watch._on_readable()
            watch.queue.put_nowait({"ev": "flushed", "token": str(req.get("token"))})
        return {}

    async def op_unwatch(self, rid, req) -> dict:
        watch = self.watches.get(req.get("watch"))
        if watch is not None and not watch.ended.is_set():
            watch.stop()
        return {}
