"""Building and tearing down one sandbox jail: bubblewrap namespaces, cgroup limits, rlimits.

The jail runs the guest daemon (the guest/ package) as an unprivileged uid (1000, "user") in its own user, PID, mount,
network, IPC and UTS namespaces. It sees: read-only /usr (+ the /bin, /lib symlinks), a minimal generated /etc,
the sandbox Python (its base build and /opt/venv, see pythonenv.py), its own size-limited tmpfs /home/user and /tmp,
and one read-write control directory (/run/localbox) where the Jupyter kernel puts its ZeroMQ ipc sockets.
Everything else of the host (the project checkout, other sandboxes, host processes, the host network) is absent.

Which host uid the sandbox runs as matters as much as what it sees: uid 0 on the host, even without capabilities,
may write root-owned kernel files such as /proc/sys/kernel/core_pattern (a way to run a program as host root) or
/proc/sysrq-trigger. A server started by a normal user gets that for free (bubblewrap maps the sandbox user to that
user). A root server makes the jail's user namespace itself (`HostUserNamespace`): the namespace's root is host root,
so bubblewrap can still build the jail, and the sandbox user 1000 is a random unused high host uid with no rights on
anything outside. The guest daemon starts as namespace root with only CAP_SETUID/SETGID/CHOWN, hands its home and
control directory to user 1000 and becomes that user before anything else runs
(guest/privileges.py `become_sandbox_user`).

Modules around this one: capabilities (what the machine allows), userns (a root server's user namespace),
cgroups (limits), scratch (host scratch directories and their cleanup), launcher (starting one jail).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .capabilities import Capabilities, system_binds
from .pythonenv import JAIL_PYTHON, SandboxPython, python_binds

GUEST_SOURCE = Path(__file__).with_name("guest")  # a directory: the in-jail daemon's package
JAIL_CONTROL_DIR = "/run/localbox"
JAIL_HOME = "/home/user"
ROOT_DIR_BYTES = 64 << 20  # /root inside the jail (a tmpfs owned by the sandbox user)
JAIL_UID = 1000
JAIL_GID = 1000


@dataclass(frozen=True)
class JailLimits:
    """Per-sandbox limits; the defaults are what `python -m agent.localbox` uses."""

    memory_bytes: int = 2 << 30
    max_processes: int = 256
    home_bytes: int = 1 << 30
    tmp_bytes: int = 512 << 20
    max_file_bytes: int = 1 << 30
    max_open_files: int = 4096
    output_bytes: int = 16 << 20  # per command / per code execution, stdout+stderr together


_ETC_FROM_HOST = ("ssl", "ca-certificates", "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
                  "localtime", "mime.types", "fonts", "protocols", "services")


def write_etc(root: Path) -> Path:
    """A minimal /etc for jails: our own passwd/group/hosts; only harmless host files are bound next to it."""
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        f"user:x:{JAIL_UID}:{JAIL_GID}:user:{JAIL_HOME}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nuser:x:{JAIL_GID}:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost localbox\n::1 localhost\n")
    (etc / "hostname").write_text("localbox\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    return etc


@dataclass(frozen=True)
class JailPlan:
    """Everything needed to start one jail; `command()` renders the full argv."""

    sandbox_dir: Path
    etc_dir: Path
    python: SandboxPython
    limits: JailLimits
    caps: Capabilities
    egress_port: int = 0  # the guest listens here (jail loopback) and hands the socket to the egress proxy; 0: none
    env: dict[str, str] = field(default_factory=dict)
    userns_fd: int | None = None  # a HostUserNamespace's fd (root servers); None: bubblewrap makes its own

    def with_userns(self, fd: int | None) -> JailPlan:
        return dataclasses.replace(self, userns_fd=fd)

    @property
    def control_dir(self) -> Path:
        return self.sandbox_dir / "ctl"

    def cgroup_dirs(self) -> list[Path]:
        name = self.sandbox_dir.name
        return [d / name for d in (self.caps.cgroup_memory, self.caps.cgroup_pids) if d is not None]

    def bwrap_args(self, guest_fd: int) -> list[str]:
        if self.userns_fd is None:
            user = ["--unshare-all", "--uid", str(JAIL_UID), "--gid", str(JAIL_GID)]
        else:  # bubblewrap runs as the namespace's root; the guest drops to JAIL_UID itself (see module docstring)
            user = ["--userns", str(self.userns_fd), "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                    "--unshare-cgroup-try", "--unshare-net",
                    *(arg for cap in _GUEST_START_CAPS for arg in ("--cap-add", cap))]
        args = [
            self.caps.bwrap or "bwrap",
            *user,
            "--die-with-parent",
            "--new-session",
            "--hostname", "localbox",
            "--clearenv",
            # tmpfs first: later binds must not be hidden by them
            "--size", str(self.limits.home_bytes), "--perms", "0755", "--tmpfs", JAIL_HOME,
            "--size", str(self.limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
            # E2B's code contexts are often created with cwd="/root": give the sandbox user a small one
            "--size", str(ROOT_DIR_BYTES), "--perms", "0700", "--tmpfs", "/root",
            *system_binds(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--dir", "/etc",
            "--perms", "0755", "--dir", "/opt",
            "--perms", "0755", "--dir", "/opt/localbox",
            "--perms", "0755", "--dir", "/run",
        ]
        for name in sorted(os.listdir(self.etc_dir)):
            args += ["--ro-bind", str(self.etc_dir / name), f"/etc/{name}"]
        for name in _ETC_FROM_HOST:
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += python_binds(self.sandbox_dir.parent, self.python)
        args += [
            "--ro-bind", str(GUEST_SOURCE), "/opt/localbox/guest",
            "--bind", str(self.control_dir), JAIL_CONTROL_DIR,
            "--remount-ro", "/",
            "--chdir", JAIL_HOME,
        ]
        for key, value in self.env.items():
            args += ["--setenv", key, value]
        args += [JAIL_PYTHON, "-I", "/opt/localbox/guest", str(guest_fd), *self.guest_limits(),
                 str(self.egress_port)]
        return args

    def guest_limits(self) -> list[str]:
        """Rlimits the guest sets on itself inside the jail: max processes and (without a memory cgroup) max data
        memory per process, as decimal strings; "0" means no limit. Set after the jail's user namespace exists,
        so a normal user's RLIMIT_NPROC counts only this sandbox's processes, not every process the user runs."""
        data = self.limits.memory_bytes if self.caps.cgroup_memory is None else 0
        return [str(self.limits.max_processes), str(data)]

    def command(self, guest_fd: int, options_fd: int | None = None) -> list[str]:
        """`/bin/sh` prologue: join the cgroups, set rlimits, then exec bubblewrap.

        With options_fd, bubblewrap reads its options from that fd (`--args`), so host paths do not show in the
        jail's `ps` (bubblewrap is PID 1 there); write `options_blob()` into it.
        """
        lines = []
        for cg in self.cgroup_dirs():
            lines.append(f'echo $$ > "{cg}/cgroup.procs" || exit 97')
        lines.append(f"ulimit -n {self.limits.max_open_files}")
        lines.append(f"ulimit -f {max(1, self.limits.max_file_bytes // 512)}")
        lines.append("ulimit -c 0")
        lines.append('exec "$@"')
        args = self.bwrap_args(guest_fd)
        if options_fd is not None:
            args = [args[0], "--args", str(options_fd), *args[-_GUEST_ARGC:]]
        return ["/bin/sh", "-c", "\n".join(lines), "localbox-jail", *args]

    def options_blob(self, guest_fd: int) -> bytes:
        """bubblewrap's options (everything between the program name and the guest command), NUL-separated."""
        options = self.bwrap_args(guest_fd)[1:-_GUEST_ARGC]
        return b"".join(o.encode() + b"\0" for o in options)


_GUEST_START_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_SETPCAP")  # SETPCAP: to empty the bounding set


_GUEST_ARGC = 7  # "/opt/venv/bin/python -I /opt/localbox/guest FD NPROC DATA EGRESS_PORT" ends bwrap_args()
