"""The in-jail guest daemon: serves file operations and process spawning for ONE sandbox.

Why it exists: the host must never touch the jail's files through host paths (a symlink planted by sandbox code
could point anywhere on the host). So every file operation and every process start happens *inside* the jail,
done by this small daemon, which sees exactly what sandbox code sees.

It talks to the host over an inherited Unix socket (fd given as argv[1]), never a path, so nothing in the jail can
redirect the host to another socket. Framing: one JSON object per line, both ways. Requests carry an integer
"id"; the guest answers with any number of {"id", "ev": ...} event lines and ends each request with exactly one
{"id", "done": true, "result": ...} or {"id", "done": true, "error": {"code", "message"}}.

Stdlib only: it runs on the sandbox's Python, not the host's venv.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import grp
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import stat
import sys

CHUNK = 1 << 20
TCP_WINDOW = 1 << 20  # see op_tcp
READ_LIMIT = 512 << 20


class GuestError(Exception):
    """A failed operation, reported to the host with a code it maps onto the SDK's errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _os_error(exc: OSError, path: str) -> GuestError:
    if isinstance(exc, FileNotFoundError):
        return GuestError("not_found", f"path '{path}' does not exist")
    if isinstance(exc, FileExistsError):
        return GuestError("exists", f"path '{path}' already exists")
    if isinstance(exc, (NotADirectoryError, IsADirectoryError)):
        return GuestError("invalid", f"{exc.strerror}: '{path}'")
    if isinstance(exc, PermissionError):
        return GuestError("permission", f"permission denied: '{path}'")
    if exc.errno == 28:
        return GuestError("no_space", f"no space left in the sandbox while writing '{path}'")
    return GuestError("internal", f"{exc.strerror or exc}: '{path}'")


def _name_of(table, key: int) -> str:
    try:
        return table(key)[0]
    except KeyError:
        return str(key)


def _printable(name: str) -> str:
    """File names are bytes; one that is not UTF-8 (e.g. Latin-1 written by a program) is shown with U+FFFD
    instead of failing the whole listing."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def entry_info(path: str) -> dict:
    """Describe one path without following a final symlink (symlinks are reported as symlinks)."""
    st = os.lstat(path)
    target = None
    if stat.S_ISLNK(st.st_mode):
        kind = "symlink"
        target = os.readlink(path)
        try:  # report the type and size of what it points to, like envd does
            tst = os.stat(path)
            size = tst.st_size
            kind_target = "dir" if stat.S_ISDIR(tst.st_mode) else "file"
        except OSError:
            size, kind_target = 0, "file"
    else:
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        kind_target = kind
        size = st.st_size
    return {
        "name": _printable(os.path.basename(path.rstrip("/")) or "/"),
        "type": kind_target,
        "is_symlink": kind == "symlink",
        "symlink_target": None if target is None else _printable(target),
        "path": _printable(path),
        "size": size,
        "mode": stat.S_IMODE(st.st_mode),
        "permissions": stat.filemode(st.st_mode),
        "owner": _name_of(pwd.getpwuid, st.st_uid),
        "group": _name_of(grp.getgrgid, st.st_gid),
        "mtime_ns": st.st_mtime_ns,
    }


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


class Guest:
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
            _kill_group(proc.popen.pid, signal.SIGKILL)

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

    # ---- files -------------------------------------------------------------------------------------------
    async def op_stat(self, rid, req) -> dict:
        path = req["path"]
        try:
            return entry_info(path)
        except OSError as exc:
            raise _os_error(exc, path) from None

    async def op_list(self, rid, req) -> list:
        root = req["path"]
        depth = max(1, int(req.get("depth") or 1))
        try:
            st = os.stat(root)
        except OSError as exc:
            raise _os_error(exc, root) from None
        if not stat.S_ISDIR(st.st_mode):
            raise GuestError("invalid", f"path '{root}' is not a directory")
        out: list[dict] = []

        def walk(path: str, level: int) -> None:
            try:
                names = sorted(os.listdir(path))
            except OSError:
                return
            for name in names:
                full = os.path.join(path, name)
                try:
                    info = entry_info(full)
                except OSError:
                    continue
                out.append(info)
                if level < depth and info["type"] == "dir" and not info["is_symlink"]:
                    walk(full, level + 1)

        walk(root, 1)
        return out

    async def op_mkdir(self, rid, req) -> dict:
        path = req["path"]
        try:
            if os.path.isdir(path):
                return {"created": False, "entry": entry_info(path)}
            os.makedirs(path)
            return {"created": True, "entry": entry_info(path)}
        except OSError as exc:
            raise _os_error(exc, path) from None

    async def op_move(self, rid, req) -> dict:
        src, dst = req["src"], req["dst"]
        try:
            parent = os.path.dirname(dst)
            if parent:
                os.makedirs(parent, exist_ok=True)
            try:
                os.rename(src, dst)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                shutil.move(src, dst)  # /tmp and /home/user are separate filesystems here (one on E2B)
            return entry_info(dst)
        except OSError as exc:
            raise _os_error(exc, src) from None

    async def op_remove(self, rid, req) -> dict:
        path = req["path"]
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return {"removed": False}
        except OSError as exc:
            raise _os_error(exc, path) from None
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            raise _os_error(exc, path) from None
        return {"removed": True}

    async def op_read(self, rid, req) -> dict:
        path = req["path"]
        try:  # O_NONBLOCK: opening a FIFO with no writer must not stall this daemon
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise _os_error(exc, path) from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise GuestError("invalid", f"path '{path}' is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise GuestError("invalid", f"path '{path}' is not a regular file (a pipe, socket or device)")
            if st.st_size > READ_LIMIT:
                raise GuestError("too_large", f"file '{path}' is {st.st_size >> 20} MiB; files over "
                                              f"{READ_LIMIT >> 20} MiB cannot be downloaded")
            total = 0
            while True:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > READ_LIMIT:
                    raise GuestError("too_large", f"file '{path}' is larger than the read limit")
                await self.send({"id": rid, "ev": "chunk", "b64": base64.b64encode(chunk).decode()})
            return {"size": total}
        finally:
            os.close(fd)

    async def op_write(self, rid, req) -> dict:
        path = req["path"]
        data = base64.b64decode(req.get("b64") or "")
        try:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if req.get("append") else os.O_TRUNC)
            fd = os.open(path, flags, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
            return entry_info(path)
        except OSError as exc:
            raise _os_error(exc, path) from None

    # ---- processes ---------------------------------------------------------------------------------------
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
            raise _os_error(exc, req["cmd"]) from None
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
                    _kill_group(popen.pid, signal.SIGKILL)
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
            _kill_group(proc.popen.pid, sig)
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

    # ---- TCP relay (preview of servers inside the jail) ---------------------------------------------------
    async def op_tcp(self, rid, req) -> dict:
        port = int(req["port"])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            raise GuestError("not_found", f"nothing is listening on port {port} inside the sandbox") from None
        self.conns[rid] = writer
        self.credit[rid] = TCP_WINDOW
        self.credit_given[rid] = asyncio.Event()
        await self.send({"id": rid, "ev": "open"})
        try:
            while True:
                # flow control: never more than TCP_WINDOW bytes in flight towards a slow HTTP client, so the
                # host never buffers an endless response (the host acknowledges what its client took)
                while self.credit[rid] <= 0:
                    self.credit_given[rid].clear()
                    await self.credit_given[rid].wait()
                chunk = await reader.read(65536)
                if not chunk:
                    return {}
                self.credit[rid] -= len(chunk)
                await self.send({"id": rid, "ev": "data", "b64": base64.b64encode(chunk).decode()})
        finally:
            self.conns.pop(rid, None)
            self.credit.pop(rid, None)
            self.credit_given.pop(rid, None)
            writer.close()

    async def op_tcp_ack(self, rid, req) -> dict:
        conn = req["conn"]
        if conn in self.credit:
            self.credit[conn] += int(req.get("bytes") or 0)
            self.credit_given[conn].set()
        return {}

    async def op_tcp_write(self, rid, req) -> dict:
        writer = self.conns.get(req["conn"])
        if writer is None:
            raise GuestError("not_found", "the connection is closed")
        if req.get("b64"):
            writer.write(base64.b64decode(req["b64"]))
            await writer.drain()
        if req.get("close"):
            writer.close()
            if req["conn"] in self.credit:  # wake a relay waiting for credit so it sees the end and stops
                self.credit[req["conn"]] = TCP_WINDOW
                self.credit_given[req["conn"]].set()
        return {}


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


async def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock, limit=64 << 20)
    guest = Guest(reader, writer)
    await guest.send({"id": 0, "ev": "ready", "pid": os.getpid()})
    await guest.serve()


def _forbid_tracing() -> None:
    """Sandbox code runs as the same uid as this daemon; a non-dumpable process cannot be ptraced or have its fds
    opened through /proc by it, so sandbox code cannot hijack the host channel (it can only kill the daemon)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def _limit_self(max_processes: int, max_data_bytes: int) -> None:
    """Rlimits inherited by everything the sandbox runs (see jail.JailPlan.guest_limits); a cgroup, where there is
    one, caps the sandbox as a whole as well. Also volunteer the whole sandbox (inherited) for the kernel's OOM
    killer ahead of the host's own processes; among equals it kills the biggest, a bomb rather than this daemon.
    Runs first: once non-dumpable or switched to the sandbox user, /proc/self is no longer writable."""
    for kind, value in ((resource.RLIMIT_NPROC, max_processes), (resource.RLIMIT_DATA, max_data_bytes)):
        if value > 0:
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("500")
    except OSError:
        pass


SANDBOX_UID = 1000
_OWNED_BY_SANDBOX_USER = ("/home/user", "/run/localbox")


def _become_sandbox_user() -> None:
    """Started as the user namespace's root by a root server (jail.HostUserNamespace): give the sandbox user its
    home and control directory, then become that user for good; refuse to serve if any capability is left."""
    if os.getuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for path in _OWNED_BY_SANDBOX_USER:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    for cap in range(64):  # empty the bounding set: nothing run later can ever hold a capability again
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; EINVAL past the kernel's last capability
    os.setgroups([])
    os.setgid(SANDBOX_UID)
    os.setuid(SANDBOX_UID)  # clears the permitted and effective sets
    _clear_inheritable_capabilities(libc)
    with open("/proc/self/status") as status:
        caps = [line.split()[1] for line in status if line.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd",
                                                                        "CapAmb"))]
    if os.getuid() != SANDBOX_UID or len(caps) != 5 or any(int(c, 16) for c in caps):
        sys.exit("guest: could not drop to the sandbox user")


def _clear_inheritable_capabilities(libc) -> None:
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    nothing = (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3 uses two 32-bit words per set
    libc.capset(ctypes.byref(Header(0x20080522, 0)), nothing)


if __name__ == "__main__":
    if len(sys.argv) >= 4:
        _limit_self(int(sys.argv[2]), int(sys.argv[3]))
    _become_sandbox_user()
    _forbid_tracing()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(main(int(sys.argv[1])))
