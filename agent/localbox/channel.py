"""Host side of the guest daemon's socket: multiplexed JSON-lines requests (see guest/__init__.py for the framing)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

_CLOSED = {"done": True, "error": {"code": "gone", "message": "the sandbox is no longer running"}}


class GuestCallError(Exception):
    """The guest refused or failed an operation. `code` is one of guest/errors.py's codes (not_found, invalid, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GuestChannel:
    """One socket to one guest; many concurrent calls, each with its own queue of reply lines."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue | None] = {}
        self._reader_task: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready: asyncio.Future | None = None
        self.closed = asyncio.Event()

    async def start(self, timeout: float = 30.0) -> int:
        """Connect and wait for the guest's "ready" line; returns the guest's pid inside the jail."""
        reader, self._writer = await asyncio.open_connection(sock=self._sock, limit=64 << 20)
        self._ready = asyncio.get_running_loop().create_future()
        self._reader_task = asyncio.create_task(self._read(reader))
        return await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                rid = msg.get("id")
                if rid == 0 and msg.get("ev") == "ready":
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(msg.get("pid"))
                    continue
                queue = self._pending.get(rid)
                if queue is not None:
                    queue.put_nowait(msg)
                if msg.get("done"):
                    self._pending.pop(rid, None)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.set()
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(GuestCallError("gone", "the sandbox did not start"))
            for queue in self._pending.values():
                if queue is not None:
                    queue.put_nowait(_CLOSED)
            self._pending.clear()

    async def _send(self, payload: dict) -> int:
        if self.closed.is_set() or self._writer is None:
            raise GuestCallError("gone", "the sandbox is no longer running")
        rid = next(self._ids)
        self._pending[rid] = asyncio.Queue()
        try:
            self._writer.write((json.dumps({"id": rid, **payload}, separators=(",", ":")) + "\n").encode())
            await self._writer.drain()
        except OSError:
            self._pending.pop(rid, None)
            raise GuestCallError("gone", "the sandbox is no longer running") from None
        return rid

    async def stream(self, op: str, **fields: Any) -> AsyncIterator[dict]:
        """Yield event lines of one request; the last yielded item is its {"done": ...} line.

        If the consumer stops early (client went away), later lines are dropped, never buffered forever.
        """
        rid = await self._send({"op": op, **fields})
        queue = self._pending[rid]
        done = False
        try:
            while True:
                msg = await queue.get()
                if msg.get("done"):
                    done = True
                    yield msg
                    return
                yield msg
        finally:
            if not done and rid in self._pending:
                self._pending[rid] = None

    async def call(self, op: str, **fields: Any) -> Any:
        """One request, one result; event lines (if any) are ignored. Raises GuestCallError on failure."""
        last: dict = _CLOSED
        async for msg in self.stream(op, **fields):
            last = msg
        return result_of(last)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
        self._sock.close()


def result_of(done_line: dict) -> Any:
    error = done_line.get("error")
    if error:
        raise GuestCallError(error.get("code", "internal"), error.get("message", "failed"))
    return done_line.get("result")
