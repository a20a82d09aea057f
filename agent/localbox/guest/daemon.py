"""The guest daemon's request loop: one JSON request per line in, event and done lines out (see __init__)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

from .errors import GuestError
from .files import FileOps
from .processes import Proc, ProcessOps, kill_group
from .pty import PtyOps
from .relay import TcpRelay
from .watch import WatchOps


class Guest(FileOps, ProcessOps, PtyOps, TcpRelay, WatchOps):
    """Dispatches requests from the host; one task per request so slow ones never block others."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.procs: dict[int, Proc] = {}
        self.env = dict(os.environ)
        self.write_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()
        self.conns: dict[int, asyncio.StreamWriter] = {}
        self.credit: dict[int, int] = {}  # bytes of a relayed connection the host may still be sent unacknowledged
        self.credit_given: dict[int, asyncio.Event] = {}
        self.watches: dict = {}  # request id of each op_watch -> its watch

    async def send(self, message: dict) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        async with self.write_lock:
            self.writer.write(data)
            await self.writer.drain()

    async def serve(self) -> None:
        while True:
            line = await self.reader.readline()
            if not line:
                break
            try:
                request = json.loads(line)
            except ValueError:
                continue
            task = asyncio.create_task(self.handle(request))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        for proc in self.procs.values():
            kill_group(proc.popen.pid, signal.SIGKILL)

    async def handle(self, request: dict) -> None:
        rid = request.get("id")
        op = request.get("op", "")
        handler = getattr(self, "op_" + op, None)
        try:
            if handler is None:
                raise GuestError("invalid", f"unknown operation {op!r}")
            result = await handler(rid, request)
            await self.send({"id": rid, "done": True, "result": result})
        except GuestError as exc:
            await self.send({"id": rid, "done": True, "error": {"code": exc.code, "message": exc.message}})
        except Exception as exc:  # keep the daemon alive whatever one request does
            await self.send({"id": rid, "done": True, "error": {"code": "internal", "message": str(exc)}})

    # ---- environment -------------------------------------------------------------------------------------
    async def op_ping(self, rid, req) -> dict:
        return {"pid": os.getpid()}

    async def op_setenv(self, rid, req) -> dict:
        self.env.update({str(k): str(v) for k, v in (req.get("envs") or {}).items()})
        return {}


def hand_over_egress_listener(sock: socket.socket, port: int) -> None:
    """Listen on 127.0.0.1:port in the jail's network namespace and give the socket to the host, which accepts
    on it with the egress proxy (agent/localbox/egress.py). Sent first, before the ready line, and not kept."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        socket.send_fds(sock, [b"L"], [listener.fileno()])
    finally:
        listener.close()


async def main(fd: int, egress_port: int = 0) -> None:
    sock = socket.socket(fileno=fd)
    if egress_port:
        hand_over_egress_listener(sock, egress_port)
    reader, writer = await asyncio.open_connection(sock=sock, limit=64 << 20)
    guest = Guest(reader, writer)
    await guest.send({"id": 0, "ev": "ready", "pid": os.getpid()})
    await guest.serve()
