"""The server's scratch directories on the host (one per server, one per sandbox inside), the small tmpfs on each
sandbox's control directory, and sweeping what a crashed server left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from .capabilities import CGROUP_V1_ROOT
from .cgroups import empty_and_remove

CONTROL_DIR_BYTES = 8 << 20


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_NOSYMFOLLOW = 0x2, 0x4, 0x8, 0x100


def mount_control_dir(path: Path) -> bool:
    """Put a small tmpfs on the control dir: it is writable from the jail, and must not be a way to fill the
    host's /tmp. `nosymfollow`: the server connects to the kernel's sockets there by path, and a symlink planted
    by sandbox code must not send it anywhere else on the host. Returns False (plain directory, documented) where
    mounting is not allowed."""
    opts = f"size={CONTROL_DIR_BYTES},mode=0700".encode()
    libc = _libc()
    for flags in (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC | _MS_NOSYMFOLLOW, _MS_NOSUID | _MS_NODEV | _MS_NOEXEC):
        if libc.mount(b"localbox-ctl", str(path).encode(), b"tmpfs", flags, opts) == 0:
            return True  # (the second form is for kernels before 5.10, which lack nosymfollow)
    return False


def unmount_control_dir(path: Path) -> None:
    _libc().umount2(str(path).encode(), 2)  # MNT_DETACH: never blocks on a busy mount


ROOT_PREFIX = "localbox-"


def new_root() -> Path:
    """This server's scratch directory; its name carries the server's pid so a later server can tell whether
    the one that made it is still alive (see sweep_leftovers)."""
    return Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))


def sweep_leftovers() -> list[Path]:
    """Free what a crashed (SIGKILLed, OOM-killed) server left behind: its control-dir mounts, its sandboxes'
    cgroups and its scratch directory. A directory is swept only when the server named in it is gone, so servers
    running side by side never touch each other's. Returns the directories removed."""
    swept = []
    for root in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*-*"):
        pid = root.name[len(ROOT_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)) or not root.is_dir():
            continue
        for mountpoint in _mounts_under(root):
            unmount_control_dir(mountpoint)
        for controller in (CGROUP_V1_ROOT / "memory" / "localbox", CGROUP_V1_ROOT / "pids" / "localbox"):
            for sandbox in root.glob("sb-*"):
                cg = controller / sandbox.name
                if cg.is_dir():
                    empty_and_remove(cg)
        if _mounts_under(root):  # never delete through a mount that would not go away
            continue
        shutil.rmtree(root, ignore_errors=True)
        swept.append(root)
    remove_empty_orphan_cgroups()
    return swept


def remove_empty_orphan_cgroups() -> None:
    """Sandbox cgroups of servers that are gone (their name carries the server's pid, whatever its TMPDIR was).
    Names without a pid (older servers) go only when empty and untouched for ten minutes."""
    for controller in (CGROUP_V1_ROOT / "memory" / "localbox", CGROUP_V1_ROOT / "pids" / "localbox"):
        for cg in controller.glob("sb-*"):
            parts = cg.name.split("-")
            try:
                if len(parts) == 3 and parts[1].isdigit():
                    if not _alive(int(parts[1])):
                        empty_and_remove(cg)
                elif time.time() - cg.stat().st_mtime > 600 and not (cg / "cgroup.procs").read_text().strip():
                    cg.rmdir()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _mounts_under(root: Path) -> list[Path]:
    prefix = str(root) + "/"
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            mountpoint = fields[4].replace("\\040", " ")
            if mountpoint.startswith(prefix):
                found.append(Path(mountpoint))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)  # innermost first
