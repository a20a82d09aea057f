"""What this machine allows a jail: bubblewrap, namespaces, writable cgroup v1 controllers (found by trying)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .jail import SandboxPython

CGROUP_V1_ROOT = Path("/sys/fs/cgroup")


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


def cgroup_v1_dir(controller: str) -> Path | None:
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
    probe = [bwrap, "--unshare-all", "--die-with-parent", *system_binds(), "--proc", "/proc", "--dev", "/dev",
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
    return Capabilities(bwrap, True, cgroup_v1_dir("memory"), cgroup_v1_dir("pids"))


def system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{name}"]
    return args
