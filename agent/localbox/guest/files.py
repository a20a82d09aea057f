"""File operations, done inside the jail so they see exactly what sandbox code sees."""

from __future__ import annotations

import base64
import errno
import grp
import os
import pwd
import shutil
import stat

from . import metadata
from .errors import GuestError, os_error

CHUNK = 1 << 20
READ_LIMIT = 512 << 20


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
        # like envd: the target as an absolute path (a relative link is resolved against the link's folder)
        target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
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
        "metadata": {} if kind == "symlink" else metadata.read(path),
    }


def _create_or_truncate(path: str) -> int:
    """Open for writing from the start. A new file is created, then given mode 0644 whatever the umask, as envd
    does (it creates, then sets owner and mode): directory watchers see create, chmod, write, as on E2B."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.fchmod(fd, 0o644)
    return fd


class FileOps:
    """The file requests of `daemon.Guest` (a mixin: `send` comes from the daemon)."""

    # ---- files -------------------------------------------------------------------------------------------
    async def op_stat(self, rid, req) -> dict:
        path = req["path"]
        try:
            return entry_info(path)
        except OSError as exc:
            raise os_error(exc, path) from None

    async def op_list(self, rid, req) -> list:
        root = req["path"]
        depth = max(1, int(req.get("depth") or 1))
        try:
            st = os.stat(root)
        except OSError as exc:
            raise os_error(exc, root) from None
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
            raise os_error(exc, path) from None

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
            raise os_error(exc, src) from None

    async def op_remove(self, rid, req) -> dict:
        path = req["path"]
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return {"removed": False}
        except OSError as exc:
            raise os_error(exc, path) from None
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            raise os_error(exc, path) from None
        return {"removed": True}

    async def op_read(self, rid, req) -> dict:
        path = req["path"]
        try:  # O_NONBLOCK: opening a FIFO with no writer must not stall this daemon
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise os_error(exc, path) from None
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
            if req.get("append"):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            else:
                fd = _create_or_truncate(path)
                try:
                    metadata.replace(fd, path, req.get("metadata") or {})
                except BaseException:
                    os.close(fd)
                    raise
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
            return entry_info(path)
        except OSError as exc:
            raise os_error(exc, path) from None
