"""Spawning sandbox processes and relaying their output, input and signals."""

from __future__ import annotations

import asyncio
import base64
import os
import signal

from .errors import GuestError, os_error


class Proc:
    """One spawned process: its pipes, its subscribers (spawn and attach requests) and its end state."""

    def __init__(self, popen: asyncio.subprocess.Process, config: dict, tag: str | None, limit: int) -> None:
        self.popen = popen
        self.config = config
        self.tag = tag
        self.limit = limit
        self.sent = 0
        self.subscribers: list[asyncio.Queue] = []
        self.ended: dict | None = None
        self.hidden = bool(config.get("hidden"))

    def publish(self, event: dict) -> None:
        for queue in list(self.subscribers):
            queue.put_nowait(event)


class ProcessOps:
    """The process requests of `daemon.Guest` (a mixin: `send`, `env` and `procs` come from the daemon)."""

    async def op_spawn(self, rid, req) -> dict:
        env = dict(self.env)
        env.update({str(k): str(v) for k, v in (req.get("envs") or {}).items()})
        cwd = req.get("cwd") or env.get("HOME") or "/"
        if not os.path.isdir(cwd):
            raise GuestError("invalid", f"working directory '{cwd}' does not exist")
        try:
            popen = await asyncio.create_subprocess_exec(
                req["cmd"],
                *req.get("args", []),
                stdin=asyncio.subprocess.PIPE if req.get("stdin") else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise os_error(exc, req["cmd"]) from None
        proc = Proc(popen, req, req.get("tag"), int(req.get("limit") or 0))
        queue: asyncio.Queue = asyncio.Queue()
        proc.subscribers.append(queue)
        self.procs[popen.pid] = proc
        await self.send({"id": rid, "ev": "start", "pid": popen.pid})
        asyncio.create_task(self._pump(proc))
        return await self._relay(rid, proc, queue)

    async def op_attach(self, rid, req) -> dict:
        proc = self._find(req)
        if proc.ended is not None:
            raise GuestError("not_found", "process has already ended")
        queue: asyncio.Queue = asyncio.Queue()
        proc.subscribers.append(queue)
        await self.send({"id": rid, "ev": "start", "pid": proc.popen.pid})
        return await self._relay(rid, proc, queue)

    async def _relay(self, rid, proc: Proc, queue: asyncio.Queue) -> dict:
        try:
            while True:
                event = await queue.get()
                if event.get("ev") == "end":
                    return event["end"]
                await self.send({"id": rid, **event})
        finally:
            if queue in proc.subscribers:
                proc.subscribers.remove(queue)

    async def _pump(self, proc: Proc) -> None:
        popen = proc.popen
        truncated = False

        async def read(stream: asyncio.StreamReader, name: str) -> None:
            nonlocal truncated
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    return
                if truncated:
                    continue
                if proc.limit and proc.sent + len(chunk) > proc.limit:
                    truncated = True
                    note = (
                        f"\n[localbox: output limit of {proc.limit} bytes reached; the process was killed]\n"
                    ).encode()
                    proc.publish({"ev": "data", "stream": "stderr", "b64": base64.b64encode(note).decode()})
                    kill_group(popen.pid, signal.SIGKILL)
                    continue
                proc.sent += len(chunk)
                proc.publish({"ev": "data", "stream": name, "b64": base64.b64encode(chunk).decode()})

        readers = asyncio.ensure_future(asyncio.gather(read(popen.stdout, "stdout"), read(popen.stderr, "stderr")))
        # asyncio's wait() only returns once the pipes are closed too, and a background child (`cmd &`) may hold
        # them forever: watch the exit status itself, then give the pipes a short grace
        while popen.returncode is None and not readers.done():
            await asyncio.wait({readers}, timeout=0.05)
        if readers.done():
            code = await popen.wait()
        else:
            try:
                await asyncio.wait_for(asyncio.shield(readers), 0.5)
            except TimeoutError:
                readers.cancel()
                transport = getattr(popen, "_transport", None)
                if transport is not None:
                    transport.close()  # release our pipe ends; the background child keeps running
            code = popen.returncode
        if code < 0:
            end = {"exit_code": -1, "exited": False, "status": f"signal: {signal.Signals(-code).name.lower()}"}
            if -code == signal.SIGKILL:
                end["status"] = "signal: killed"
        else:
            end = {"exit_code": code, "exited": True, "status": f"exit status {code}"}
        if truncated:
            end["error"] = "output limit reached"
        proc.ended = end
        proc.publish({"ev": "end", "end": end})
        # background children (`cmd &`) keep running, as in E2B; they end with the sandbox
        self.procs.pop(popen.pid, None)

    def _find(self, req) -> Proc:
        pid = req.get("pid")
        tag = req.get("tag")
        for proc in self.procs.values():
            if (pid is not None and proc.popen.pid == pid) or (tag is not None and proc.tag == tag):
                return proc
        raise GuestError("not_found", f"process with {'pid ' + str(pid) if pid is not None else 'tag ' + str(tag)} not found")

    async def op_signal(self, rid, req) -> dict:
        proc = self._find(req)
        sig = int(req.get("sig") or signal.SIGKILL)
        if req.get("group", True):
            kill_group(proc.popen.pid, sig)
        else:
            try:
                os.kill(proc.popen.pid, sig)
            except ProcessLookupError:
                pass
        return {}

    async def op_input(self, rid, req) -> dict:
        proc = self._find(req)
        if proc.popen.stdin is None:
            raise GuestError("invalid", "the process was started without stdin")
        proc.popen.stdin.write(base64.b64decode(req.get("b64") or ""))
        await proc.popen.stdin.drain()
        return {}

    async def op_close_stdin(self, rid, req) -> dict:
        proc = self._find(req)
        if proc.popen.stdin is not None:
            proc.popen.stdin.close()
        return {}

    async def op_ps(self, rid, req) -> list:
        return [
            {"pid": p.popen.pid, "tag": p.tag, "cmd": p.config.get("cmd"), "args": p.config.get("args", []),
             "envs": p.config.get("envs") or {}, "cwd": p.config.get("cwd")}
            for p in self.procs.values()
            if not p.hidden and p.ended is None
        ]


def kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
