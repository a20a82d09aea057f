"""Pseudo-terminals (E2B's `sandbox.pty`): a shell on a pty of its own, its output relayed as "pty" data, input
written to the terminal, resizable. A pty process is a `processes.Proc` like any other, so `attach` (connect),
`signal` (kill) and `ps` (list) work on it unchanged."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import signal
import struct
import termios

from .errors import GuestError, os_error
from .processes import Proc, kill_group

READ_CHUNK = 65536
DRAIN_SECONDS = 0.5  # after the shell exits, output still in the terminal is read for this long at most


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(1, rows), max(1, cols), 0, 0))


def _become_terminal_leader() -> None:  # runs in the child between fork and exec
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyOps:
    """The pty requests of `daemon.Guest` (a mixin: `send`, `env`, `procs`, `_relay` and `_find` come from the
    daemon and `processes.ProcessOps`)."""

    async def op_spawn_pty(self, rid, req) -> dict:
        env = dict(self.env)
        env.update({str(k): str(v) for k, v in (req.get("envs") or {}).items()})
        cwd = req.get("cwd") or env.get("HOME") or "/"
        if not os.path.isdir(cwd):
            raise GuestError("invalid", f"working directory '{cwd}' does not exist")
        master, slave = os.openpty()
        try:
            _set_size(master, int(req.get("rows") or 24), int(req.get("cols") or 80))
            popen = await asyncio.create_subprocess_exec(
                req["cmd"], *req.get("args", []), stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                preexec_fn=_become_terminal_leader)
        except OSError as exc:
            os.close(master)
            raise os_error(exc, req["cmd"]) from None
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        proc = Proc(popen, req, req.get("tag"), int(req.get("limit") or 0))
        proc.pty_fd = master  # type: ignore[attr-defined]
        queue: asyncio.Queue = asyncio.Queue()
        proc.subscribers.append(queue)
        self.procs[popen.pid] = proc
        await self.send({"id": rid, "ev": "start", "pid": popen.pid})
        asyncio.create_task(self._pump_pty(proc, master))
        return await self._relay(rid, proc, queue)

    async def _pump_pty(self, proc: Proc, master: int) -> None:
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()

        def readable() -> None:
            try:
                chunk = os.read(master, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: every process holding the terminal is gone
                chunk = b""
            if not chunk:
                loop.remove_reader(master)
                closed.set()
                return
            if proc.limit and proc.sent + len(chunk) > proc.limit:
                note = f"\r\n[localbox: output limit of {proc.limit} bytes reached; the terminal was killed]\r\n"
                proc.publish({"ev": "data", "stream": "pty", "b64": base64.b64encode(note.encode()).decode()})
                kill_group(proc.popen.pid, signal.SIGKILL)
                loop.remove_reader(master)
                closed.set()
                return
            proc.sent += len(chunk)
            proc.publish({"ev": "data", "stream": "pty", "b64": base64.b64encode(chunk).decode()})

        loop.add_reader(master, readable)
        code = await proc.popen.wait()
        try:  # background children may keep the terminal open: take what is there, then stop
            await asyncio.wait_for(closed.wait(), DRAIN_SECONDS)
        except TimeoutError:
            loop.remove_reader(master)
        os.close(master)
        proc.pty_fd = None  # type: ignore[attr-defined]
        if code < 0:
            end = {"exit_code": -1, "exited": False,
                   "status": "signal: killed" if -code == signal.SIGKILL else f"signal: {signal.Signals(-code).name}"}
        else:
            end = {"exit_code": code, "exited": True, "status": f"exit status {code}"}
        proc.ended = end
        proc.publish({"ev": "end", "end": end})
        self.procs.pop(proc.popen.pid, None)

    def _pty_of(self, req) -> int:
        fd = getattr(self._find(req), "pty_fd", None)
        if fd is None:
            raise GuestError("invalid", "the process has no terminal")
        return fd

    async def op_pty_input(self, rid, req) -> dict:
        fd = self._pty_of(req)
        data = memoryview(base64.b64decode(req.get("b64") or ""))
        while data:
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                await asyncio.sleep(0.01)  # the terminal's input buffer is full: the program reads it soon
                continue
            data = data[written:]
        return {}

    async def op_pty_resize(self, rid, req) -> dict:
        _set_size(self._pty_of(req), int(req.get("rows") or 24), int(req.get("cols") or 80))
        return {}
