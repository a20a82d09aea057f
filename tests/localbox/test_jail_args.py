"""The bubblewrap command line of a jail, for both ways a server builds it: a server run by a normal user (bubblewrap
makes the user namespace and maps the sandbox user to that user) and a root server (it hands bubblewrap its own
user namespace, where the sandbox user is an unused high host uid and the guest drops its few start capabilities
itself). What the jail may see is the same in both: nothing of the host's homes or the project checkout beyond the
guest package and the sandbox's Python packages."""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
from pathlib import Path

import pytest

from agent.localbox import jail, pythonenv
from agent.localbox.capabilities import Capabilities
from agent.localbox.egress import proxy_env
from agent.localbox.egress_policy import InternetMode
from agent.localbox.jail import JailLimits, JailPlan
from agent.localbox.pythonenv import SandboxPython
from agent.localbox.sandbox import JAIL_ENV

PROJECT = Path(jail.__file__).resolve().parents[2]
LIMITS = JailLimits(home_bytes=123 << 20, tmp_bytes=45 << 20)
SERVER_JAIL_ENV = {**JAIL_ENV, **proxy_env(InternetMode.REGISTRIES)}  # what a server gives each jail (control.py)
BIND_OPTIONS = ("--bind", "--ro-bind", "--dev-bind", "--bind-try", "--ro-bind-try", "--dev-bind-try")


def _plan(tmp_path: Path, *, userns_fd: int | None, egress_port: int = 3128) -> JailPlan:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11").mkdir(parents=True)
    (venv / "bin").mkdir()
    python = SandboxPython(venv=venv, base_prefix=Path("/usr"), version="3.11",
                           executable=Path("/usr/bin/python3.11"), system_site=(Path("/usr/lib/python3/dist-packages"),))
    root = tmp_path / "server"
    root.mkdir()
    pythonenv.write_layout(root, python)
    sandbox_dir = root / "sb-1-abc"
    (sandbox_dir / "ctl").mkdir(parents=True)
    caps = Capabilities(bwrap="/usr/bin/bwrap", namespaces=True, cgroup_memory=None, cgroup_pids=None)
    return JailPlan(sandbox_dir=sandbox_dir, etc_dir=jail.write_etc(root), python=python, limits=LIMITS,
                    caps=caps, egress_port=egress_port, env={"HOME": "/home/user"}, userns_fd=userns_fd)


def _pairs(args: list[str], option: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == option]


def _binds(args: list[str]) -> list[tuple[str, str]]:
    return [pair for option in BIND_OPTIONS for pair in _pairs(args, option)]


def test_a_normal_users_server_lets_bubblewrap_make_the_user_namespace(tmp_path) -> None:
    args = _plan(tmp_path, userns_fd=None).bwrap_args(guest_fd=7)
    assert "--unshare-all" in args and "--share-net" not in args  # its own network namespace, always
    assert _pairs(args, "--uid")[0][0] == "1000" and args[args.index("--gid") + 1] == "1000"
    assert "--userns" not in args and "--cap-add" not in args


def test_a_root_server_hands_over_its_user_namespace_and_only_the_start_capabilities(tmp_path) -> None:
    args = _plan(tmp_path, userns_fd=9).bwrap_args(guest_fd=7)
    assert args[args.index("--userns") + 1] == "9"
    assert "--unshare-all" not in args and "--uid" not in args and "--share-net" not in args
    for namespace in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try"):
        assert namespace in args
    added = [args[i + 1] for i, a in enumerate(args) if a == "--cap-add"]
    assert sorted(added) == ["CAP_CHOWN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"]


@pytest.mark.parametrize("userns_fd", [None, 9], ids=["normal-user server", "root server"])
def test_both_branches_build_the_same_closed_jail(tmp_path, userns_fd) -> None:
    plan = _plan(tmp_path, userns_fd=userns_fd)
    args = plan.bwrap_args(guest_fd=7)
    for flag in ("--die-with-parent", "--new-session", "--clearenv"):
        assert flag in args
    assert args[-7:] == ["/opt/venv/bin/python", "-I", "/opt/localbox/guest", "7", "256", str(2 << 30), "3128"]
    # the size-limited tmpfs mounts come before every bind (a later tmpfs would hide binds under it)
    tmpfs = [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]
    assert tmpfs == ["/home/user", "/tmp", "/root"]  # /root: the sandbox user's own small one (code contexts)
    first_bind = min(i for i, a in enumerate(args) if a in BIND_OPTIONS)
    assert max(i for i, a in enumerate(args) if a == "--tmpfs") < first_bind
    assert args[args.index("/home/user") - 3:args.index("/home/user")] == ["--perms", "0755", "--tmpfs"]
    assert str(123 << 20) in args and str(45 << 20) in args
    assert tuple(args[args.index("--remount-ro"):args.index("--remount-ro") + 2]) == ("--remount-ro", "/")
    # the only writable bind is the sandbox's control directory
    assert _pairs(args, "--bind") == [(str(plan.control_dir), "/run/localbox")]
    # the base interpreter's own site-packages are hidden behind an empty directory
    assert (str(plan.sandbox_dir.parent / "empty"), "/usr/lib/python3/dist-packages") in _binds(args)


@pytest.mark.parametrize("userns_fd", [None, 9], ids=["normal-user server", "root server"])
def test_nothing_of_the_hosts_homes_or_the_project_is_mounted(tmp_path, userns_fd) -> None:
    plan = _plan(tmp_path, userns_fd=userns_fd)
    allowed_from_project = {PROJECT / "agent" / "localbox" / "guest"}
    homes = [Path("/home"), Path("/root"), Path.home()]
    for source, target in _binds(plan.bwrap_args(guest_fd=7)):
        src = Path(source).resolve()
        assert not any(src == h or h in src.parents for h in homes), f"{source} (a home) is mounted at {target}"
        if src == PROJECT or PROJECT in src.parents:
            assert src in allowed_from_project, f"{source} (project checkout) is mounted at {target}"
        assert not target.startswith(("/home", "/root")), f"{source} is mounted at {target}, a home inside the jail"


@pytest.mark.parametrize("userns_fd", [None, 9], ids=["normal-user server", "root server"])
def test_the_jails_environment_is_cleared_then_only_the_plans_variables_are_set(tmp_path, userns_fd) -> None:
    """The third safeguard against host variables in a sandbox (test_sandbox_environment.py lists all three), on
    the argument list: bubblewrap's options clear the environment before setting exactly the plan's variables."""
    plan = dataclasses.replace(_plan(tmp_path, userns_fd=userns_fd), env=SERVER_JAIL_ENV)
    options = plan.bwrap_args(guest_fd=7)[1:-7]
    assert options.count("--clearenv") == 1
    setenv_at = [i for i, a in enumerate(options) if a == "--setenv"]
    assert setenv_at and options.index("--clearenv") < min(setenv_at)
    assert len(setenv_at) == len(plan.env) and dict(_pairs(options, "--setenv")) == plan.env
    assert "--unsetenv" not in options


def test_bubblewrap_gives_the_jail_only_the_plans_variables_whatever_it_was_started_with(tmp_path) -> None:
    """The third safeguard on its own, run for real: bubblewrap started with secrets in its own environment (as if
    the launcher passed the server's on) starts the jail's program with the plan's variables only, plus the PWD
    bubblewrap sets for --chdir."""
    plan = dataclasses.replace(_plan(tmp_path, userns_fd=None), env=SERVER_JAIL_ENV)
    canary = "canary-" + secrets.token_hex(8)
    started_with = {"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": canary, "LOCALBOX_CANARY": canary}
    result = subprocess.run([*plan.bwrap_args(guest_fd=7)[:-7], "/usr/bin/env", "-0"], env=started_with,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    seen = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if item)
    assert seen == {**plan.env, "PWD": jail.JAIL_HOME}
    assert canary.encode() not in result.stdout


def test_options_travel_by_pipe_so_host_paths_stay_out_of_the_jails_ps(tmp_path) -> None:
    plan = _plan(tmp_path, userns_fd=None)
    command = plan.command(guest_fd=7, options_fd=5)
    assert command[:2] == ["/bin/sh", "-c"]
    bwrap_argv = command[4:]
    assert bwrap_argv[:3] == ["/usr/bin/bwrap", "--args", "5"]
    assert not any(str(tmp_path) in arg for arg in bwrap_argv), bwrap_argv
    blob = plan.options_blob(guest_fd=7).split(b"\0")[:-1]
    assert [b.decode() for b in blob] == plan.bwrap_args(guest_fd=7)[1:-7]


def test_a_base_python_outside_usr_is_mounted_whole_at_its_own_path(tmp_path) -> None:
    """A pyenv or /opt build finds its own libpython (RUNPATH) and standard library inside the jail: its whole
    prefix is mounted read-only at the same path, not just its bin/ (Debian's libpython would then be loaded, and
    `import ssl` fails with an undefined symbol)."""
    prefix = Path("/opt/pythons/3.11.7")
    python = SandboxPython(venv=tmp_path / "venv", base_prefix=prefix, version="3.11",
                           executable=prefix / "bin" / "python3.11")
    args = pythonenv.python_binds(tmp_path, python)
    assert ("/opt/pythons/3.11.7", "/opt/pythons/3.11.7") in _pairs(args, "--ro-bind")
    made = [args[i + 1] for i, a in enumerate(args) if a == "--dir"]
    assert made[:2] == ["/opt", "/opt/pythons"]  # its parents, world-traversable so the sandbox user reaches it
    assert args.index("/opt/pythons") < args.index("/opt/pythons/3.11.7")
    assert not python.inside_usr
