"""Hostile code trying to see or touch what is outside its sandbox: host files, the network, other sandboxes and
host processes (the host's environment: test_sandbox_environment.py).

Each attack is tried from the Jupyter kernel, from a shell command and (for files) through the files API, and each
test ends by checking that the server still serves a fresh sandbox. "Contained" means the secret never shows up in
anything the sandbox can produce, and nothing the sandbox writes shows up on the host.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2b import SandboxException

from tests.localbox.helpers import assert_server_serves, extra_sandbox, output_text, server_pids

pytestmark = pytest.mark.hostile

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------------------------
# Host files


@pytest.fixture()
def host_canaries() -> Iterator[dict[str, str]]:
    """Secret files on the host: one in a host temp dir, one inside the project checkout."""
    secret = "host-secret-" + secrets.token_hex(12)
    tmp_dir = Path(tempfile.mkdtemp(prefix="lb-canary-"))
    tmp_file = tmp_dir / "secret.txt"
    project_file = PROJECT_ROOT / "tests" / "localbox" / f".canary-{uuid.uuid4().hex[:8]}.txt"
    try:
        tmp_file.write_text(secret)
        project_file.write_text(secret)
        yield {"secret": secret, "tmp_dir": str(tmp_dir), "tmp_file": str(tmp_file), "project_file": str(project_file)}
    finally:
        project_file.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _try_files_read(sbx, path: str) -> str:
    try:
        return sbx.files.read(path)
    except SandboxException as exc:
        return f"[refused: {type(exc).__name__}: {exc}]"


def _try_shell(sbx, cmd: str) -> str:
    try:
        result = sbx.commands.run(cmd, timeout=30)
        return result.stdout + result.stderr
    except SandboxException as exc:
        return f"[refused: {exc}] " + str(getattr(exc, "stdout", "")) + str(getattr(exc, "stderr", ""))


def test_host_files_are_not_readable(sandbox, host_canaries, localbox) -> None:
    secret = host_canaries["secret"]
    targets = [host_canaries["tmp_file"], host_canaries["project_file"], str(PROJECT_ROOT / "pytest.ini")]
    seen: list[str] = []
    for target in targets:
        traversal = "/home/user/../../" + target.lstrip("/")
        deep_traversal = "/home/user/" + "../" * 12 + target.lstrip("/")
        kernel = sandbox.run_code(
            "out = []\n"
            f"for p in [{target!r}, {traversal!r}, {deep_traversal!r}]:\n"
            "    try:\n"
            "        out.append(open(p).read())\n"
            "    except OSError as e:\n"
            "        out.append(f'[{type(e).__name__}]')\n"
            "print(out)\n"
        )
        seen.append(output_text(kernel))
        seen.append(_try_shell(sandbox, f"cat {target} {traversal} 2>&1; ls -la {os.path.dirname(target)} 2>&1"))
        for path in (target, traversal, deep_traversal):
            seen.append(_try_files_read(sandbox, path))
    joined = "\n".join(seen)
    assert secret not in joined, "a host file was readable from the sandbox"
    assert "[tool:pytest]" not in joined and "testpaths" not in joined, "the project checkout is visible"
    assert_server_serves(localbox)


def test_listing_host_directories_shows_nothing_of_the_host(sandbox, host_canaries) -> None:
    tmp_dir = host_canaries["tmp_dir"]
    canary_name = Path(host_canaries["project_file"]).name
    try:
        entries = [e.name for e in sandbox.files.list(tmp_dir)]
    except SandboxException:
        entries = []
    assert "secret.txt" not in entries
    try:
        project_entries = [e.name for e in sandbox.files.list(str(PROJECT_ROOT / "tests" / "localbox"))]
    except SandboxException:
        project_entries = []
    assert canary_name not in project_entries
    shell = _try_shell(sandbox, f"ls -la / {PROJECT_ROOT} {tmp_dir} 2>&1; find / -name '.canary-*' 2>/dev/null")
    assert canary_name not in shell and "secret.txt" not in shell


def test_symlink_to_host_file_is_not_followed_by_the_files_api(sandbox, host_canaries, localbox) -> None:
    secret = host_canaries["secret"]
    seen = []
    for i, target in enumerate([host_canaries["tmp_file"], host_canaries["project_file"]]):
        link = f"/home/user/evil-link-{i}"
        sandbox.commands.run(f"ln -s {target} {link}")
        seen.append(_try_files_read(sandbox, link))
        seen.append(_try_shell(sandbox, f"cat {link} 2>&1"))
        seen.append(output_text(sandbox.run_code(f"try:\n    print(open({link!r}).read())\nexcept OSError as e:\n    print(e)")))
    # A symlinked directory, then a path through it.
    sandbox.commands.run(f"ln -s {host_canaries['tmp_dir']} /home/user/evil-dir")
    seen.append(_try_files_read(sandbox, "/home/user/evil-dir/secret.txt"))
    sandbox.commands.run("ln -s / /home/user/root-link")
    seen.append(_try_files_read(sandbox, "/home/user/root-link" + host_canaries["tmp_file"]))
    assert secret not in "\n".join(seen), "the files API followed a symlink out of the jail"
    assert_server_serves(localbox)


def test_writes_through_symlinks_do_not_reach_the_host(sandbox, host_canaries) -> None:
    tmp_dir = Path(host_canaries["tmp_dir"])
    sandbox.commands.run(f"ln -s {tmp_dir} /home/user/escape-dir")
    sandbox.commands.run(f"ln -s {tmp_dir / 'planted-by-link.txt'} /home/user/escape-file")
    for path, data in (
        ("/home/user/escape-dir/planted.txt", "pwned"),
        ("/home/user/escape-file", "pwned"),
        (str(tmp_dir / "planted-abs.txt"), "pwned"),
        ("/home/user/../../" + str(tmp_dir / "planted-trav.txt").lstrip("/"), "pwned"),
    ):
        with contextlib.suppress(SandboxException):
            sandbox.files.write(path, data)
    _try_shell(sandbox, f"echo pwned > {tmp_dir}/planted-shell.txt; echo pwned > /home/user/escape-dir/planted-sh2.txt")
    sandbox.run_code(f"try:\n    open({str(tmp_dir / 'planted-kernel.txt')!r}, 'w').write('pwned')\nexcept OSError:\n    pass")
    assert sorted(p.name for p in tmp_dir.iterdir()) == ["secret.txt"], "the sandbox wrote into a host directory"


def test_system_directories_are_read_only(sandbox) -> None:
    name = "lb-hostile-" + uuid.uuid4().hex[:8]
    targets = [f"/usr/{name}", f"/etc/{name}", f"/bin/{name}", f"/opt/{name}", f"/{name}"]
    for target in targets:
        with pytest.raises(SandboxException):
            sandbox.files.write(target, "x")
        kernel = sandbox.run_code(f"open({target!r}, 'w').write('x')")
        assert kernel.error is not None, f"kernel could write {target}"
        assert kernel.error.name in ("OSError", "PermissionError", "FileNotFoundError"), kernel.error
        shell = _try_shell(sandbox, f"touch {target} 2>&1; test -e {target} && echo EXISTS-{name}")
        assert f"EXISTS-{name}" not in shell, f"shell could create {target}"
    for target in targets:
        assert not os.path.exists(target), f"{target} appeared on the host"
    # The sandbox's own python environment must not be writable either (it is shared by every sandbox).
    probe = sandbox.run_code(
        "import sys, os\n"
        "bad = []\n"
        "for d in {sys.prefix, sys.base_prefix}:\n"
        f"    p = os.path.join(d, {name!r})\n"
        "    try:\n"
        "        open(p, 'w').write('x'); bad.append(p)\n"
        "    except OSError:\n"
        "        pass\n"
        "bad"
    )
    assert probe.text == "[]", probe.text


# ---------------------------------------------------------------------------------------------------------------
# Network


class _Listener:
    """A TCP server on the host that counts connections; the sandbox must never reach it."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with contextlib.suppress(OSError):
                conn.sendall(b"HOST-LISTENER-REACHED\n")
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _host_ip() -> str | None:
    """The host's primary non-loopback address, found without sending anything."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture()
def listener() -> Iterator[_Listener]:
    lst = _Listener("0.0.0.0")
    try:
        yield lst
    finally:
        lst.close()


_CONNECT_CODE = (
    "import socket, time\n"
    "def attempt(host, port):\n"
    "    t = time.monotonic()\n"
    "    try:\n"
    "        s = socket.create_connection((host, port), timeout=3)\n"
    "        data = s.recv(64)\n"
    "        s.close()\n"
    "        return f'CONNECTED {host}:{port} {data!r}'\n"
    "    except OSError as e:\n"
    "        return f'BLOCKED {host}:{port} {type(e).__name__} {time.monotonic() - t:.1f}s'\n"
)


def test_host_loopback_and_control_plane_are_unreachable(sandbox, listener, localbox) -> None:
    server_port = int(localbox.url.rsplit(":", 1)[1])
    targets = [("127.0.0.1", listener.port), ("127.0.0.1", server_port), ("localhost", server_port)]
    host_ip = _host_ip()
    if host_ip:
        targets += [(host_ip, listener.port), (host_ip, server_port)]
    code = _CONNECT_CODE + "".join(f"print(attempt({h!r}, {p}))\n" for h, p in targets)
    kernel = sandbox.run_code(code, timeout=60)
    kernel_text = output_text(kernel)
    assert kernel_text.count("BLOCKED") == len(targets), kernel_text
    assert "CONNECTED" not in kernel_text

    shell_cmds = " ; ".join(
        f"(exec 3<>/dev/tcp/{h}/{p}) 2>/dev/null && echo CONNECTED-{p} || echo BLOCKED-{p}" for h, p in targets
    )
    shell = sandbox.commands.run(f"timeout 20 bash -c '{shell_cmds}'", timeout=60)
    assert "CONNECTED" not in shell.stdout, shell.stdout
    assert shell.stdout.count("BLOCKED") == len(targets)
    assert listener.accepted == 0, "the host listener was reached from the sandbox"


def test_no_outbound_network_and_only_loopback_interface(sandbox) -> None:
    # Exactly one connect attempt to a public address; it must fail fast (no route), not hang.
    kernel = sandbox.run_code(_CONNECT_CODE + "print(attempt('1.1.1.1', 53))\n", timeout=60)
    text = output_text(kernel)
    assert "BLOCKED 1.1.1.1:53" in text, text
    seconds = float(text.split("BLOCKED 1.1.1.1:53")[1].split()[1].rstrip("s"))
    assert seconds < 2.5, f"outbound connect should fail at once (no route), took {seconds}s"
    interfaces = sandbox.commands.run("cat /proc/net/dev").stdout
    names = {line.split(":")[0].strip() for line in interfaces.splitlines()[2:] if ":" in line}
    assert names == {"lo"}, f"the sandbox sees network interfaces {names}"


def test_sandbox_local_loopback_works(sandbox) -> None:
    """Isolation must not break the sandbox's own loopback (dev servers, tests inside the sandbox)."""
    sandbox.commands.run("python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &", timeout=30)
    result = sandbox.run_code(
        "import time, urllib.request\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        print(urllib.request.urlopen('http://127.0.0.1:8765/', timeout=2).status); break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n",
        timeout=60,
    )
    assert "200" in "".join(result.logs.stdout)


# ---------------------------------------------------------------------------------------------------------------
# Other sandboxes and host processes


def test_sandboxes_cannot_see_each_other(localbox) -> None:
    secret = "sibling-secret-" + secrets.token_hex(8)
    with extra_sandbox(localbox) as first, extra_sandbox(localbox) as second:
        first.files.write("/home/user/mine.txt", secret)
        first.commands.run(f"echo {secret} > /tmp/mine-tmp.txt")
        first.commands.run("sleep 4321", background=True)
        first.run_code(f"kept_secret = {secret!r}")

        assert second.files.exists("/home/user/mine.txt") is False
        assert second.files.exists("/tmp/mine-tmp.txt") is False
        # The needle travels in an env var and grep only answers yes/no, so the secret never appears in argv/ps.
        found = second.commands.run(
            'grep -rqs -- "$NEEDLE" /home /tmp && echo FOUND || echo CLEAN', envs={"NEEDLE": secret}, timeout=60
        )
        assert found.stdout.strip() == "CLEAN", "a file of another sandbox is visible"
        scan = second.commands.run(
            "ps aux 2>&1; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done; true",
            timeout=60,
        )
        assert secret not in scan.stdout
        assert "sleep 4321" not in scan.stdout, "a process of another sandbox is visible"
        kernel = second.run_code("'kept_secret' in globals()")
        assert kernel.text == "False"
        # Positive control: the same probe finds the secret in the sandbox that owns it.
        own = first.commands.run(
            'grep -rqs -- "$NEEDLE" /home /tmp && echo FOUND || echo CLEAN', envs={"NEEDLE": secret}, timeout=60
        )
        assert own.stdout.strip() == "FOUND"
        # The first one still has everything.
        assert first.files.read("/home/user/mine.txt") == secret
        assert any("4321" in " ".join([p.cmd, *p.args]) for p in first.commands.list())


def test_host_processes_are_invisible(sandbox, localbox) -> None:
    my_pid = os.getpid()
    host_init = Path("/proc/1/cmdline").read_bytes()
    listing = sandbox.run_code(
        "import os\n"
        "procs = {}\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit():\n"
        "        try:\n"
        "            procs[int(p)] = open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "        except OSError:\n"
        "            pass\n"
        "print(len(procs)); print(procs)\n"
        "print(repr(open('/proc/1/cmdline', 'rb').read()))\n"
    )
    text = output_text(listing)
    count = int(text.splitlines()[0])
    assert count < 40, f"{count} processes visible inside the sandbox: {text[:2000]}"
    for marker in ("pytest", "agent.localbox", "uvicorn", "--api-key", localbox.api_key):
        assert marker not in text, f"host process detail {marker!r} visible in the sandbox"
    assert repr(host_init) not in text or host_init == b"", "the sandbox sees the host's init"
    ps = sandbox.commands.run("ps aux 2>&1 || true").stdout
    assert "pytest" not in ps and "agent.localbox" not in ps
    assert str(my_pid) not in {line.split()[1] for line in ps.splitlines()[1:] if len(line.split()) > 1} or (
        "python" not in ps
    ), "the test process's pid is listed inside the sandbox"


def test_cannot_signal_processes_outside(localbox) -> None:
    """With its own PID namespace, `kill -9 -1` in the sandbox only hits the sandbox."""
    server_pid_list = server_pids(localbox)
    assert server_pid_list, "could not find the server process by its port"
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        with extra_sandbox(localbox) as victim:
            # Guard: `kill -9 -1` as root in the HOST pid namespace would kill every process on the machine.
            # Only fire it once the sandbox provably has its own pid namespace (few processes, not our pids).
            visible = victim.commands.run("ls -d /proc/[0-9]* | wc -l").stdout.strip()
            assert int(visible) < 40, f"{visible} processes visible: no own pid namespace, not running kill -1"
            assert not victim.files.exists(f"/proc/{bystander.pid}"), "host pids visible: not running kill -1"
            with contextlib.suppress(SandboxException):
                victim.commands.run("kill -9 -1; true", timeout=20)
            with contextlib.suppress(SandboxException):
                victim.run_code("import os, signal\nos.kill(-1, signal.SIGKILL)", timeout=20)
            time.sleep(1)
            assert bystander.poll() is None, "a host process was killed from inside the sandbox"
            for pid in server_pid_list:
                assert Path(f"/proc/{pid}").exists(), "the server process was killed from inside the sandbox"
        assert_server_serves(localbox)
    finally:
        bystander.kill()
        bystander.wait()


# ---------------------------------------------------------------------------------------------------------------
# Privileges


def test_no_privileges_inside(sandbox, localbox) -> None:
    """Code in the sandbox holds no capabilities: it cannot mount, change kernel settings, touch devices or leave
    its cgroups (which would lift its memory and process caps)."""
    host_hostname = socket.gethostname()
    status = sandbox.commands.run("grep ^Cap /proc/self/status").stdout
    sets = dict(line.split(":") for line in status.splitlines())
    assert set(sets) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}, status
    assert all(int(v, 16) == 0 for v in sets.values()), f"the sandbox holds capabilities (in some set): {status}"
    kernel_caps = sandbox.run_code(
        "[l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]"
    ).text
    assert kernel_caps == "0000000000000000", f"the kernel has effective capabilities: {kernel_caps}"

    attempts = {
        "mount": "mount -t tmpfs none /mnt",
        # write back the value already there: harmless if it wrongly succeeds; these files exist on every kernel
        "sysctl": "cat /proc/sys/fs/dir-notify-enable > /proc/sys/fs/dir-notify-enable",
        "core_pattern": "cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern",
        "sysrq-trigger": "[ -e /proc/sysrq-trigger ] && printf '' > /proc/sysrq-trigger",
        "hostname": "hostname lb-evil-name",
        "kcore": "head -c 16 /proc/kcore > /dev/null",
        # rc=0 when ANY of them exists / accepts our pid:
        "block device": "for d in /dev/sda /dev/vda /dev/nvme0n1 /dev/mem /dev/kmsg; do [ -e $d ] && exit 0; done; exit 1",
        "cgroup escape": "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; "
        "do echo $$ 2>/dev/null > $f && exit 0; done; exit 1",
    }
    for name, cmd in attempts.items():
        result = sandbox.commands.run(f"({cmd}) >/dev/null 2>&1; echo rc=$?", timeout=30)
        assert result.stdout.strip() != "rc=0", f"{name} succeeded inside the sandbox: {cmd}"
    assert socket.gethostname() == host_hostname, "the sandbox changed the host's hostname"
    assert_server_serves(localbox)


def test_sandbox_user_is_nobody_on_the_host(sandbox) -> None:
    """Uid 0 on the host may write root-owned kernel files even without capabilities (core_pattern runs a program
    as host root), so the sandbox user must map to an unprivileged host uid, whoever started the server."""
    marker = f"lb-owner-{uuid.uuid4().hex[:8]}"
    handle = sandbox.commands.run(f"exec -a {marker} sleep 120", background=True)
    try:
        host_pid = _wait_for_host_pid(marker)
        host_uid = int(Path(f"/proc/{host_pid}/status").read_text().split("\nUid:")[1].split()[0])
        assert host_uid != 0, "sandbox code runs as root on the host"
        assert host_uid != os.getuid() or os.getuid() != 0
        rows = [line.split() for line in sandbox.commands.run("cat /proc/self/uid_map").stdout.splitlines()]
        assert ["1000", str(host_uid), "1"] in rows, rows
    finally:
        handle.kill()


def _wait_for_host_pid(marker: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if (proc / "cmdline").read_bytes().startswith(marker.encode()):
                        return int(proc.name)
        time.sleep(0.1)
    raise AssertionError(f"the sandbox process {marker} is not visible on the host")


_PLANT_FULL_SOCKETS = r'''
import os, socket, stat, time
d = "/run/localbox"; keep = []
seen = set(os.listdir(d))
end = time.time() + 60
while time.time() < end:
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if n.endswith("-1") and n not in seen:
            try:
                if not stat.S_ISSOCK(os.lstat(p).st_mode):
                    continue
            except OSError:
                continue
            seen.add(n)
            os.unlink(p)
            srv = socket.socket(socket.AF_UNIX); srv.bind(p); srv.listen(0)
            for _ in range(2):  # fill the tiny backlog and never accept
                c = socket.socket(socket.AF_UNIX); c.setblocking(False)
                try:
                    c.connect(p)
                except OSError:
                    pass
                keep.append(c)
            keep.append(srv)
            open("/home/user/planted.log", "a").write(n + "\n")
    time.sleep(0.002)
'''


def test_a_planted_socket_in_the_control_dir_cannot_freeze_the_server(localbox) -> None:
    """Sandbox code swaps the restarting kernel's socket for one with a full backlog: the server used to block in
    connect() on its only event loop, freezing every sandbox. Now only that sandbox's kernel start fails."""
    with extra_sandbox(localbox) as attacker:
        attacker.files.write("/home/user/plant.py", _PLANT_FULL_SOCKETS)
        watcher = attacker.commands.run("python3 /home/user/plant.py", background=True)
        time.sleep(0.5)
        with contextlib.suppress(Exception):
            attacker.run_code("import os; os.kill(os.getpid(), 9)", timeout=10)
        def restart_the_kernel() -> None:  # the next run_code makes the server start a new kernel
            with contextlib.suppress(Exception):
                attacker.run_code("1", timeout=30)

        threading.Thread(target=restart_the_kernel, daemon=True).start()
        began = time.monotonic()
        time.sleep(3)
        assert attacker.files.exists("/home/user/planted.log"), "the attack did not get to plant its socket"
        assert_server_serves(localbox)
        assert time.monotonic() - began < 30, "the server was frozen by a socket planted in a sandbox"
        watcher.kill()
