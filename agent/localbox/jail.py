"""Building and tearing down one sandbox jail: bubblewrap namespaces, cgroup limits, rlimits.

The jail runs the guest daemon (guest.py) as an unprivileged uid (1000, "user") in its own user, PID, mount,
network, IPC and UTS namespaces. It sees: read-only /usr (+ the /bin, /lib symlinks), a minimal generated /etc,
the sandbox Python at /opt/python (base) and /opt/venv (packages), its own size-limited tmpfs /home/user and /tmp,
and one read-write control directory (/run/localbox) where the Jupyter kernel puts its ZeroMQ ipc sockets.
Everything else of the host (the project checkout, other sandboxes, host processes, the host network) is absent.

Which host uid the sandbox runs as matters as much as what it sees: uid 0 on the host, even without capabilities,
may write root-owned kernel files such as /proc/sys/kernel/core_pattern (a way to run a program as host root) or
/proc/sysrq-trigger. A server started by a normal user gets that for free (bubblewrap maps the sandbox user to that
user). A root server makes the jail's user namespace itself (`HostUserNamespace`): the namespace's root is host root,
so bubblewrap can still build the jail, and the sandbox user 1000 is a random unused high host uid with no rights on
anything outside. The guest daemon starts as namespace root with only CAP_SETUID/SETGID/CHOWN, hands its home and
control directory to user 1000 and becomes that user before anything else runs (guest.py `_become_sandbox_user`).

Memory and process count are capped with cgroup v1 (memory, pids) when those controllers are writable, because
root ignores RLIMIT_NPROC. File size and open files are capped with rlimits set by a tiny /bin/sh prologue that
also moves itself into the cgroups before exec'ing bubblewrap, so every jailed process starts inside them.

Where no cgroup is writable (cgroup v2 hosts, a server run by a normal user) the guest daemon falls back to rlimits
it sets on itself inside the jail (see `guest_limits`): RLIMIT_NPROC, which the kernel counts per user namespace
and so per sandbox (ignored when the server runs as root), and RLIMIT_DATA per process. Sandbox processes also ask
the kernel to kill them first when the machine runs out of memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GUEST_SOURCE = Path(__file__).with_name("guest.py")
JAIL_CONTROL_DIR = "/run/localbox"
JAIL_HOME = "/home/user"
JAIL_PYTHON = "/opt/venv/bin/python"
JAIL_UID = 1000
JAIL_GID = 1000
CGROUP_V1_ROOT = Path("/sys/fs/cgroup")
HOST_UID_BASE = 3_000_000_000  # sandbox users of a root server: HOST_UID_BASE + random, never a real account
HOST_UID_SPAN = 1 << 24


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


@dataclass(frozen=True)
class SandboxPython:
    """Where the sandbox's interpreter lives on the host: a venv (packages) and the base Python it points to."""

    venv: Path
    base_prefix: Path
    version: str  # e.g. "3.11"

    @staticmethod
    def locate(venv: Path) -> SandboxPython:
        cfg = venv / "pyvenv.cfg"
        if not cfg.is_file():
            raise JailUnavailable(
                f"the sandbox Python environment {venv} is missing; run `bash scripts/setup.sh` first"
            )
        home = ""
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
        libs = sorted((venv / "lib").glob("python3.*"))
        if not home or not libs:
            raise JailUnavailable(f"cannot read the sandbox Python environment at {venv}")
        return SandboxPython(venv=venv, base_prefix=Path(home).parent, version=libs[0].name[len("python"):])


class JailUnavailable(Exception):
    """The jail cannot be built on this machine; the message says why in plain words."""


@dataclass(frozen=True)
class Capabilities:
    """What this machine allows, found once at server start."""

    bwrap: str | None
    namespaces: bool
    cgroup_memory: Path | None
    cgroup_pids: Path | None
    problem: str = ""

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None and self.namespaces


def _cgroup_v1_dir(controller: str) -> Path | None:
    base = CGROUP_V1_ROOT / controller
    probe = base / f"localbox-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return base / "localbox"
    except OSError:
        return None


def detect(python: SandboxPython) -> Capabilities:
    """Check bubblewrap, namespaces and cgroups by actually trying them (fast: one tiny jail)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Capabilities(None, False, None, None, "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)")
    probe = [bwrap, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc", "--dev", "/dev",
             "/bin/true"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=20)
        ok = result.returncode == 0
        why = result.stderr.decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        ok, why = False, str(exc)
    if not ok:
        return Capabilities(bwrap, False, None, None,
                            f"bubblewrap cannot create namespaces on this machine ({why or 'unknown reason'})")
    return Capabilities(bwrap, True, _cgroup_v1_dir("memory"), _cgroup_v1_dir("pids"))


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{name}"]
    return args


_ETC_FROM_HOST = ("ssl", "ca-certificates", "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
                  "localtime", "mime.types", "fonts", "protocols", "services")


def write_etc(root: Path, allow_internet: bool) -> Path:
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
    allow_internet: bool
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
        py = self.python
        pyvenv_cfg = self.sandbox_dir.parent / "pyvenv.cfg"
        if self.userns_fd is None:
            user = ["--unshare-all", *(["--share-net"] if self.allow_internet else []),
                    "--uid", str(JAIL_UID), "--gid", str(JAIL_GID)]
        else:  # bubblewrap runs as the namespace's root; the guest drops to JAIL_UID itself (see module docstring)
            user = ["--userns", str(self.userns_fd), "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                    "--unshare-cgroup-try", *([] if self.allow_internet else ["--unshare-net"]),
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
            *_system_binds(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--dir", "/etc",
            "--perms", "0755", "--dir", "/opt",
            "--perms", "0755", "--dir", "/opt/localbox",
            "--perms", "0755", "--dir", "/run",
        ]
        for name in sorted(os.listdir(self.etc_dir)):
            args += ["--ro-bind", str(self.etc_dir / name), f"/etc/{name}"]
        for name in _ETC_FROM_HOST + (("resolv.conf",) if self.allow_internet else ()):
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += [
            "--ro-bind", str(py.base_prefix), "/opt/python",
            "--perms", "0755", "--dir", "/opt/venv",
            "--perms", "0755", "--dir", "/opt/venv/bin",
            "--ro-bind", str(py.venv / "lib"), "/opt/venv/lib",
            "--ro-bind", str(pyvenv_cfg), "/opt/venv/pyvenv.cfg",
            "--symlink", f"/opt/python/bin/python{py.version}", "/opt/venv/bin/python",
            "--symlink", f"/opt/python/bin/python{py.version}", "/opt/venv/bin/python3",
            "--ro-bind", str(GUEST_SOURCE), "/opt/localbox/guest.py",
            "--bind", str(self.control_dir), JAIL_CONTROL_DIR,
            "--remount-ro", "/",
            "--chdir", JAIL_HOME,
        ]
        for key, value in self.env.items():
            args += ["--setenv", key, value]
        args += ["/opt/venv/bin/python", "-I", "/opt/localbox/guest.py", str(guest_fd), *self.guest_limits()]
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


class HostUserNamespace:
    """A user namespace for one jail of a root server: namespace uid/gid 0 is host root (bubblewrap needs it to
    build the jail) and namespace uid/gid 1000 is `host_uid`, an unused high uid, so the sandbox user is nobody on
    the host. Made by a short-lived `unshare --user` child whose maps we write; `fd` keeps the namespace alive
    for bubblewrap's `--userns` until `close()`."""

    def __init__(self) -> None:
        self.host_uid = HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN)
        holder = subprocess.Popen(["unshare", "--user", "--", "cat"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ns_path = f"/proc/{holder.pid}/ns/user"
            own = os.readlink("/proc/self/ns/user")
            deadline = time.monotonic() + 5
            while os.readlink(ns_path) == own:  # until `unshare` has made the namespace
                if holder.poll() is not None or time.monotonic() > deadline:
                    raise JailUnavailable("cannot create a user namespace for the sandbox (unshare --user failed)")
                time.sleep(0.0005)
            mapping = f"0 0 1\n{JAIL_UID} {self.host_uid} 1\n"
            Path(f"/proc/{holder.pid}/uid_map").write_text(mapping)
            Path(f"/proc/{holder.pid}/gid_map").write_text(mapping.replace(str(JAIL_UID), str(JAIL_GID), 1))
            self.fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            holder.stdin.close()
            holder.wait()

    def close(self) -> None:
        os.close(self.fd)


def write_pyvenv_cfg(root: Path, python: SandboxPython) -> None:
    """The venv's own pyvenv.cfg names the host path of the base Python; jails get one naming /opt/python."""
    (root / "pyvenv.cfg").write_text(
        f"home = /opt/python/bin\ninclude-system-site-packages = false\nversion = {python.version}\n"
    )


def create_cgroups(plan: JailPlan) -> None:
    limits = plan.limits
    for cg in plan.cgroup_dirs():
        cg.parent.mkdir(exist_ok=True)
        cg.mkdir(exist_ok=True)
        if "memory" in cg.parts:
            (cg / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            swap = cg / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(limits.memory_bytes))
                except OSError:
                    pass
        else:
            (cg / "pids.max").write_text(str(limits.max_processes))


def destroy_cgroups(plan: JailPlan) -> None:
    """SIGKILL whatever is still inside the sandbox's cgroups, then remove them."""
    for cg in plan.cgroup_dirs():
        _empty_and_remove(cg)


_GUEST_ARGC = 6  # "/opt/venv/bin/python -I /opt/localbox/guest.py FD NPROC DATA" ends bwrap_args()
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


async def launch(plan: JailPlan, isolated: bool = True) -> tuple[asyncio.subprocess.Process, socket.socket]:
    """Start the jail; returns the launcher process and the host end of the guest's socket.

    With isolated=False (only behind --allow-unisolated) the guest runs directly on the host as this user, in a
    scratch home directory: NOT a sandbox, for machines without namespaces, loudly warned about at start.
    """
    plan.control_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(plan.control_dir, 0o700)
    host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = guest_end.fileno()
    options_r, options_w = os.pipe()
    userns: HostUserNamespace | None = None
    try:
        if isolated:
            mount_control_dir(plan.control_dir)
            create_cgroups(plan)
            if os.geteuid() == 0:
                userns = await asyncio.to_thread(HostUserNamespace)  # waits on a child: not on the event loop
                plan = plan.with_userns(userns.fd)
            blob = plan.options_blob(fd)
            if len(blob) >= 65536:  # a pipe holds 64 KiB: write it without blocking or fall back to argv
                command = plan.command(fd)
            else:
                os.write(options_w, blob)
                command = plan.command(fd, options_r)
            env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
        else:
            home = plan.sandbox_dir / "home"
            home.mkdir(exist_ok=True)
            env = {**plan.env, "HOME": str(home), "PATH": f"{plan.python.venv}/bin:/usr/local/bin:/usr/bin:/bin",
                   "USER": os.environ.get("USER", "root")}
            command, cwd = [str(plan.python.venv / "bin" / "python"), "-I", str(GUEST_SOURCE), str(fd)], str(home)
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(fd, options_r) + ((plan.userns_fd,) if plan.userns_fd is not None else ()),
            cwd=cwd,
            env=env,
            start_new_session=True,
            **({"extra_groups": []} if os.geteuid() == 0 else {}),  # host root's groups stay outside
        )
    finally:
        if userns is not None:
            userns.close()
        guest_end.close()
        os.close(options_r)
        os.close(options_w)
    return proc, host_end


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
                    _empty_and_remove(cg)
        if _mounts_under(root):  # never delete through a mount that would not go away
            continue
        shutil.rmtree(root, ignore_errors=True)
        swept.append(root)
    _remove_empty_orphan_cgroups()
    return swept


def _remove_empty_orphan_cgroups() -> None:
    """Sandbox cgroups of servers that are gone (their name carries the server's pid, whatever its TMPDIR was).
    Names without a pid (older servers) go only when empty and untouched for ten minutes."""
    for controller in (CGROUP_V1_ROOT / "memory" / "localbox", CGROUP_V1_ROOT / "pids" / "localbox"):
        for cg in controller.glob("sb-*"):
            parts = cg.name.split("-")
            try:
                if len(parts) == 3 and parts[1].isdigit():
                    if not _alive(int(parts[1])):
                        _empty_and_remove(cg)
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


def _empty_and_remove(cg: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        except OSError:
            break
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    try:
        cg.rmdir()
    except OSError:
        pass
