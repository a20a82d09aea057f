"""scripts/setup.sh gives every local sandbox Node, npm and git: it asks apt for Debian's `nodejs`, `npm` and `git`
when a sandbox would not find them, i.e. when they are not in the host's /usr (all a jail sees of the host's
programs), even if the host's own PATH has them elsewhere (nvm, /opt).

The script runs in a bubblewrap mount namespace over a read-only view of this machine: the host's own node, npm and
git in /usr are hidden (a non-executable /dev/null on top), /usr/local/bin is an empty tmpfs, and `apt-get` is a
stand-in that records what it was asked to install. Nothing on the host changes. (That Debian's packages then
really give a working node, npm and git was checked once in a fresh Debian 12 root made with debootstrap, see
docs/localbox.md.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("node", "npm", "git")


def run_setup(tmp_path: Path, in_usr: tuple[str, ...], on_path: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run setup.sh where `in_usr` programs exist in /usr/local/bin and `on_path` ones only in a directory outside
    /usr that is on PATH. Returns (output, the apt-get command lines it ran)."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    for name in ("requirements.txt", "requirements-sandbox.txt"):
        (project / name).write_text("example-package==1.0\n")
    fake_python = tmp_path / "fakepython"  # "-m venv DIR" makes DIR/bin/python; everything else succeeds
    fake_python.write_text('#!/bin/sh\nif [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; '
                           'fi\nexit 0\n')
    elsewhere = tmp_path / "elsewhere-bin"  # like ~/.nvm/versions/node/vX/bin: on PATH, not in any jail
    elsewhere.mkdir()
    record = tmp_path / "apt.log"
    (elsewhere / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {record}\n')
    for tool in on_path:
        (elsewhere / tool).write_text("#!/bin/sh\nexit 0\n")
    stand_in = tmp_path / "stand-in"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    for path in (fake_python, stand_in, *elsewhere.iterdir()):
        path.chmod(0o755)

    jail = ["bwrap", "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev", "--bind", str(tmp_path), str(tmp_path),
            "--tmpfs", "/usr/local/bin"]
    if os.getuid() != 0:
        jail += ["--unshare-user", "--uid", "0", "--gid", "0"]  # setup then runs apt-get itself, without sudo
    for tool in TOOLS:
        host_copy = Path("/usr/bin") / tool
        if os.path.lexists(host_copy):
            jail += ["--ro-bind", "/dev/null", str(host_copy)]  # hide this machine's own
    for tool in in_usr:
        jail += ["--ro-bind", str(stand_in), f"/usr/local/bin/{tool}"]
    env = {"PATH": f"{elsewhere}:/usr/bin:/bin", "PYTHON": str(fake_python), "SANDBOX_PYTHON": str(fake_python)}
    proc = subprocess.run([*jail, "bash", "scripts/setup.sh"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, record.read_text().splitlines() if record.exists() else []


def installed(apt_calls: list[str]) -> set[str]:
    installs = [line for line in apt_calls if line.startswith("install ")]
    return {word for line in installs for word in line.split()[1:] if not word.startswith("-")}


def test_setup_installs_node_npm_and_git_that_sandboxes_would_not_find(tmp_path: Path) -> None:
    out, apt_calls = run_setup(tmp_path, in_usr=(), on_path=TOOLS)  # the host has them, but outside /usr
    assert apt_calls[0] == "update", apt_calls
    assert {"nodejs", "npm", "git"} <= installed(apt_calls), apt_calls
    assert "-y" in apt_calls[1] and "--no-install-recommends" in apt_calls[1]
    assert "installing Debian packages:" in out


def test_setup_installs_only_what_is_missing_from_usr(tmp_path: Path) -> None:
    _, apt_calls = run_setup(tmp_path, in_usr=("node", "git"), on_path=())
    assert "npm" in installed(apt_calls), apt_calls
    assert not {"nodejs", "git"} & installed(apt_calls), apt_calls


def test_setup_asks_apt_for_nothing_when_sandboxes_have_them_all(tmp_path: Path) -> None:
    _, apt_calls = run_setup(tmp_path, in_usr=TOOLS, on_path=())
    assert not {"nodejs", "npm", "git"} & installed(apt_calls), apt_calls
