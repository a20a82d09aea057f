"""What the guest does to itself before serving: rlimits, dropping to the sandbox user, refusing ptrace."""

from __future__ import annotations

import os
import resource
import sys


def forbid_tracing() -> None:
    """Sandbox code runs as the same uid as this daemon; a non-dumpable process cannot be ptraced or have its fds
    opened through /proc by it, so sandbox code cannot hijack the host channel (it can only kill the daemon)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def limit_self(max_processes: int, max_data_bytes: int) -> None:
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
_OWNED_BY_SANDBOX_USER = ("/home/user", "/root", "/run/localbox")


def become_sandbox_user() -> None:
    """Started as the user namespace's root by a root server (userns.HostUserNamespace): give the sandbox user its
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


def prepare_home() -> None:
    """Create the user site (where `pip install` puts packages inside a jail; see pythonenv.py on the host) now,
    as the sandbox user: Python adds it to sys.path only if it exists when Python starts, and the kernel starts
    before anything is installed."""
    import site

    for path in (site.getusersitepackages(), os.path.join(site.getuserbase(), "bin")):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            pass
