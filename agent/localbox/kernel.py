"""One Jupyter kernel running inside a jail, driven from the host over ZeroMQ ipc sockets.

The guest starts `ipykernel` in the jail with a connection file whose transport is "ipc": its sockets are files in
the jail's control directory, which the host sees through the bind mount. The host connects with jupyter_client
once, right after the sockets appear and before any sandbox code runs, with ZeroMQ reconnection DISABLED, so code in
the sandbox cannot later swap a socket file for a symlink and make the host connect somewhere else.

`execute()` turns the kernel's iopub messages into the code interpreter's wire events (dicts with "type").
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient

from .channel import GuestChannel
from .jail import JAIL_CONTROL_DIR, JAIL_PYTHON

_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
_MIME_KEYS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
}
_ZMQ_CONTEXT: zmq.asyncio.Context | None = None


def _zmq_context() -> zmq.asyncio.Context:
    global _ZMQ_CONTEXT  # one ZeroMQ context per server process is the library's intended use
    if _ZMQ_CONTEXT is None:
        _ZMQ_CONTEXT = zmq.asyncio.Context()
        _ZMQ_CONTEXT.setsockopt(zmq.RECONNECT_IVL, -1)
        _ZMQ_CONTEXT.setsockopt(zmq.LINGER, 0)
    return _ZMQ_CONTEXT


class KernelError(Exception):
    """The kernel could not start or died."""


def result_event(data: dict[str, Any], is_main: bool) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "result", "is_main_result": is_main}
    extra: dict[str, Any] = {}
    for mime, value in data.items():
        key = _MIME_KEYS.get(mime)
        if key is None:
            if mime == "application/vnd.e2b.chart+json" or mime == "e2b/chart":
                if value:  # a figure the extractor could not read has no chart
                    event["chart"] = value
            elif mime == "e2b/data":
                event["data"] = value
            else:
                extra[mime] = value
            continue
        if key == "text" and isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        event[key] = value
    if extra:
        event["extra"] = extra
    return event


class Kernel:
    """A started kernel: its pid inside the jail and a connected client. Use `execute()` one at a time."""

    def __init__(self, channel: GuestChannel, host_dir: Path, name: str, guest_dir: str = JAIL_CONTROL_DIR,
                 guest_python: str = JAIL_PYTHON) -> None:
        self.channel = channel
        self.host_dir = host_dir
        self.guest_dir = guest_dir  # the same directory as the guest (jail) sees it
        self.guest_python = guest_python
        self.name = name
        self.pid: int | None = None
        self.client: AsyncKernelClient | None = None
        self._iopub: dict[str, asyncio.Queue] = {}
        self._shell: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._spawn_task: asyncio.Task | None = None
        self.dead = asyncio.Event()

    async def start(self, envs: dict[str, str], cwd: str, timeout: float = 60.0) -> None:
        key = secrets.token_hex(16)
        info = {"transport": "ipc", "ip": f"{self.guest_dir}/{self.name}", "key": key,
                "signature_scheme": "hmac-sha256", "kernel_name": "python3", **_PORTS}
        # the control dir is writable from the jail: never follow a planted symlink, never reuse a planted file
        fd = os.open(self.host_dir / f"{self.name}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as conn_file:
            conn_file.write(json.dumps(info))
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        kernel_env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                      "JUPYTER_PLATFORM_DIRS": "1", **envs}
        self._spawn_task = asyncio.create_task(self._run(started, kernel_env, cwd))
        try:
            self.pid = await asyncio.wait_for(asyncio.shield(started), timeout)
            await asyncio.wait_for(self._connect(key), timeout)
        except Exception:
            await self.shutdown()
            raise

    async def _run(self, started: asyncio.Future, env: dict[str, str], cwd: str) -> None:
        args = ["-m", "ipykernel_launcher", "-f", f"{self.guest_dir}/{self.name}.json",
                "--IPKernelApp.quiet=True", "--HistoryManager.enabled=False", "--Session.debug=False"]
        try:
            async for msg in self.channel.stream("spawn", cmd=self.guest_python, args=args, envs=env, cwd=cwd,
                                                 hidden=True, tag=f"kernel-{self.name}"):
                if msg.get("ev") == "start" and not started.done():
                    started.set_result(msg["pid"])
                if msg.get("done") and not started.done():
                    err = (msg.get("error") or {}).get("message", "the kernel exited")
                    started.set_exception(KernelError(err))
        finally:
            if not started.done():
                started.set_exception(KernelError("the kernel could not start"))
            self.dead.set()
            for queue in self._iopub.values():
                queue.put_nowait(None)

    async def _connect(self, key: str) -> None:
        sockets = [self.host_dir / f"{self.name}-{port}" for port in _PORTS.values() if port != _PORTS["hb_port"]]
        # connect only once each socket LISTENS: with reconnection disabled a too-early connect would never retry
        while not all(_is_listening(p) for p in sockets):
            if self.dead.is_set():
                raise KernelError("the kernel exited while starting")
            await asyncio.sleep(0.01)
        info = {"transport": "ipc", "ip": str(self.host_dir / self.name), "key": key,
                "signature_scheme": "hmac-sha256", **_PORTS}
        client = AsyncKernelClient(context=_zmq_context())
        client.load_connection_info(info)
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=True)
        self.client = client
        self._tasks = [asyncio.create_task(self._pump_iopub()), asyncio.create_task(self._pump_shell())]
        # the iopub subscription is live once we see any iopub message; kernel_info makes the kernel send some
        while True:
            msg_id = client.kernel_info()
            queue: asyncio.Queue = asyncio.Queue()
            self._iopub[msg_id] = queue
            try:
                await asyncio.wait_for(queue.get(), 0.5)
                return
            except TimeoutError:
                if self.dead.is_set():
                    raise KernelError("the kernel exited while starting") from None
            finally:
                self._iopub.pop(msg_id, None)

    async def _pump_iopub(self) -> None:
        assert self.client is not None
        while True:
            msg = await self.client.iopub_channel.get_msg()
            parent = msg.get("parent_header", {}).get("msg_id")
            queue = self._iopub.get(parent)
            if queue is not None:
                queue.put_nowait(msg)

    async def _pump_shell(self) -> None:
        assert self.client is not None
        while True:
            msg = await self.client.shell_channel.get_msg()
            fut = self._shell.pop(msg.get("parent_header", {}).get("msg_id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def run_silent(self, code: str) -> None:
        """Run setup code without output or history (used for envs and cwd); raises if it fails."""
        async for event in self.execute(code, silent=True):
            if event["type"] == "error":
                raise KernelError(f"{event['name']}: {event['value']}")

    async def execute(self, code: str, silent: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Yield wire events for one execution, ending after the kernel goes idle (no end_of_execution here)."""
        if self.client is None or self.dead.is_set():
            raise KernelError("the kernel is not running")
        msg_id = self.client.execute(code, silent=silent, store_history=not silent, allow_stdin=False)
        queue: asyncio.Queue = asyncio.Queue()
        self._iopub[msg_id] = queue
        error_sent = False
        try:
            while True:
                msg = await queue.get()
                if msg is None:
                    yield {"type": "error", "name": "KernelDied",
                           "value": "the Python kernel died (killed, or out of memory); it was restarted and its "
                                    "state was lost",
                           "traceback": "The Python kernel of this sandbox died (killed, or out of memory). "
                                        "It was restarted: variables and imports from earlier runs are gone."}
                    return
                kind = msg["msg_type"]
                content = msg["content"]
                if kind == "execute_input":
                    if not silent:
                        yield {"type": "number_of_executions", "execution_count": content.get("execution_count")}
                elif kind == "stream":
                    yield {"type": "stdout" if content.get("name") == "stdout" else "stderr",
                           "text": content.get("text", ""), "timestamp": _timestamp(msg)}
                elif kind == "execute_result":
                    yield result_event(content.get("data", {}), True)
                elif kind == "display_data":
                    yield result_event(content.get("data", {}), False)
                elif kind == "error" and not error_sent:
                    error_sent = True
                    yield {"type": "error", "name": content.get("ename", "Error"),
                           "value": content.get("evalue", ""), "traceback": "\n".join(content.get("traceback", []))}
                elif kind == "status" and content.get("execution_state") == "idle":
                    return
        finally:
            self._iopub.pop(msg_id, None)

    async def interrupt(self) -> None:
        """SIGINT the kernel inside the jail (the kernel turns it into KeyboardInterrupt)."""
        if self.pid is not None and not self.dead.is_set():
            try:
                await self.channel.call("signal", pid=self.pid, sig=2, group=False)
            except Exception:
                pass

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
        if self.pid is not None and not self.dead.is_set():
            try:
                await self.channel.call("signal", pid=self.pid, sig=9)
            except Exception:
                pass
        if self._spawn_task is not None:
            self._spawn_task.cancel()
        for path in self.host_dir.glob(f"{self.name}*"):
            try:
                path.unlink()
            except OSError:
                pass


def _is_listening(path: Path) -> bool:
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    # Non-blocking: sandbox code can replace the socket with one of its own whose backlog is full, on which a
    # blocking connect() would hang this server's only event-loop thread (every sandbox) for good.
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(path))
        return True
    except BlockingIOError:  # something listens, its backlog is full: not ours to wait for
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _timestamp(msg: dict) -> str:
    stamp = msg.get("header", {}).get("date")
    return stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp or "")
