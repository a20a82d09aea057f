"""Nothing is left behind: killing a sandbox, its expiry and stopping the server free every process, and the
cgroups/directories named after a sandbox disappear with it.

Processes started in a sandbox are found from the host by a unique `sleep N` command line, so the check does not
depend on how the server names or arranges its jails.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from e2b import CommandExitException, SandboxException
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import extra_sandbox, server_pids, wait_for
from tests.support.procs import command_lines, process_tree


def _unique_sleep() -> str:
    return str(random.randint(700000, 799999))


def _host_pids_running_sleep(seconds: str) -> list[int]:
    return [pid for pid, argv in command_lines() if argv[0].endswith(b"sleep") and seconds.encode() in argv]


def _host_paths_named_after(sandbox_id: str) -> list[Path]:
    """Cgroups and temp/run directories whose name contains the sandbox id (how the server names them is its
    business; whatever it named after the sandbox must go with it)."""
    hits: list[Path] = []
    roots = [Path("/sys/fs/cgroup"), Path("/tmp"), Path("/run"), Path("/dev/shm")]
    for root in roots:
        if not root.is_dir():
            continue
        stack = [(root, 0)]
        while stack:
            path, depth = stack.pop()
            try:
                children = list(path.iterdir())
            except OSError:
                continue
            for child in children:
                if sandbox_id in child.name:
                    hits.append(child)
                elif depth < 4 and child.is_dir() and not child.is_symlink():
                    stack.append((child, depth + 1))
    return hits


def test_kill_frees_processes_and_named_resources(localbox) -> None:
    seconds = _unique_sleep()
    sbx = Sandbox.create(**localbox.sdk_options())
    sandbox_id = sbx.sandbox_id
    try:
        sbx.commands.run(f"sleep {seconds}", background=True)
        sbx.run_code(f"import subprocess; p = subprocess.Popen(['sleep', '{seconds}'])")
        wait_for(lambda: len(_host_pids_running_sleep(seconds)) == 2, timeout=15, what="both sleeps to be running")
        named = _host_paths_named_after(sandbox_id)
    finally:
        sbx.kill()
    wait_for(lambda: not _host_pids_running_sleep(seconds), timeout=20, what="the sandbox's processes to be killed")
    if named:
        wait_for(
            lambda: not any(p.exists() for p in named),
            timeout=20,
            what=f"resources named after the sandbox to be removed: {named}",
        )
    assert not _host_paths_named_after(sandbox_id)


def test_expiry_frees_processes(localbox) -> None:
    seconds = _unique_sleep()
    with extra_sandbox(localbox, timeout=3) as sbx:
        sbx.commands.run(f"sleep {seconds}", background=True)
        wait_for(lambda: _host_pids_running_sleep(seconds), timeout=10, what="the sleep to start")
        wait_for(
            lambda: not _host_pids_running_sleep(seconds),
            timeout=30,
            what="the expired sandbox's processes to be killed",
        )
        assert not _host_paths_named_after(sbx.sandbox_id)


def test_kill_while_a_command_runs_is_reported_as_sandbox_gone(localbox) -> None:
    """The cloud reports a command cut short by a kill as the sandbox being gone, not as exit code 137."""
    outcome: list[BaseException | str] = []
    sbx = Sandbox.create(**localbox.sdk_options())

    def run() -> None:
        try:
            sbx.commands.run("sleep 60", timeout=90)
            outcome.append("finished normally")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: any("sleep 60" in " ".join([p.cmd, *p.args]) for p in sbx.commands.list()), timeout=10,
             what="the command to start")
    sbx.kill()
    worker.join(timeout=30)
    assert not worker.is_alive(), "commands.run kept waiting after the sandbox was killed"
    assert outcome and isinstance(outcome[0], SandboxException), outcome
    assert not isinstance(outcome[0], CommandExitException), f"a kill surfaced as an exit code: {outcome[0]}"


def test_server_stop_frees_everything() -> None:
    from agent.localbox import start_server

    seconds = _unique_sleep()
    server = start_server()
    try:
        sandboxes = [Sandbox.create(**server.sdk_options()) for _ in range(2)]
        for sbx in sandboxes:
            sbx.commands.run(f"sleep {seconds}", background=True)
            sbx.run_code("1 + 1")
        wait_for(lambda: len(_host_pids_running_sleep(seconds)) == 2, timeout=15, what="sleeps to run")
        roots = server_pids(server)
        assert roots, "could not find the server process by its port"
        tree = process_tree(roots)
        assert len(tree) > len(roots), "the server's jails should be its descendants"
    finally:
        server.stop()
    server.stop()  # idempotent

    def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in tree)

    wait_for(all_gone, timeout=20, what="every process of the stopped server to exit")
    assert not _host_pids_running_sleep(seconds)


def _alive(pid: int) -> bool:
    """A pid that still exists and is not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_kill_during_run_code_is_reported_as_sandbox_killed(localbox) -> None:
    """A kill (or expiry) while code runs surfaces as the SDK's 'sandbox was killed' error, promptly."""
    outcome: list[BaseException | str] = []
    sbx = Sandbox.create(**localbox.sdk_options())

    def run() -> None:
        try:
            sbx.run_code("import time\ntime.sleep(60)", timeout=90)
            outcome.append("finished normally")
        except BaseException as exc:
            outcome.append(exc)

    sbx.run_code("print('warm')")
    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.5)  # the sleep is running
    sbx.kill()
    worker.join(timeout=30)
    assert not worker.is_alive(), "run_code kept waiting after the sandbox was killed"
    assert outcome and isinstance(outcome[0], SandboxException), outcome
    assert "killed" in str(outcome[0]).lower() or "not found" in str(outcome[0]).lower(), outcome[0]


def test_a_crashed_servers_leftovers_are_swept_by_the_next_server() -> None:
    """SIGKILL leaves no chance to clean up: the jails die with the server (bubblewrap's --die-with-parent), but
    its control-dir mounts, cgroups and scratch directory stay until the next server starts and sweeps them."""
    import os
    import signal
    import tempfile

    from agent.localbox import start_server

    crashed = start_server()
    server_pid = crashed._process.pid
    try:
        sbx = Sandbox.create(**crashed.sdk_options())
        sbx.run_code("1 + 1")
        roots = list(Path(tempfile.gettempdir()).glob(f"localbox-{server_pid}-*"))
        assert len(roots) == 1, roots
        root = roots[0]
        assert _mounts_below(root), "expected the sandbox's control-dir mount"
        cgroups = [Path("/sys/fs/cgroup", c, "localbox", sb.name) for sb in root.glob("sb-*") for c in ("memory", "pids")]
        cgroups = [cg for cg in cgroups if cg.is_dir()]
    finally:
        os.kill(server_pid, signal.SIGKILL)
        crashed._process.wait()
    assert _mounts_below(root) and root.exists(), "the SIGKILLed server left nothing behind?"

    with start_server() as fresh, extra_sandbox(fresh) as sbx:
        assert sbx.run_code("1 + 1").text == "2"
    assert not _mounts_below(root), "the crashed server's mounts are still there"
    assert not root.exists(), "the crashed server's scratch directory is still there"
    assert not [cg for cg in cgroups if cg.exists()], "the crashed server's cgroups are still there"


def _mounts_below(root: Path) -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(f"{root}/")]
