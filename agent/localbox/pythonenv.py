"""The sandbox's Python as a jail sees it: one interpreter build, whole, plus the project's packages.

The interpreter, its shared libraries and its standard library must come from one build that is visible inside
the jail. `scripts/setup.sh` builds `.venv-sandbox` from Debian's own `/usr/bin/python3`, which lives in the jail's
read-only `/usr` like every library it links to. A base interpreter elsewhere (a pyenv or /opt build) is mounted
read-only at its own path, so its RUNPATH and its standard library resolve to the same build inside as outside.

Inside the jail:
- `/opt/venv` is the package environment: `lib/` is `.venv-sandbox/lib` (read-only), `pyvenv.cfg` is generated
  (its `home` is the base interpreter's directory), and `bin/` is generated too: `python`, `python3` and
  `python3.X` point at the base interpreter, and every console script of the environment (`pip`, `ipython`,
  `jupyter`...) is copied with its first line naming `/opt/venv/bin/python`.
- The user site (`~/.local/lib/python3.X/site-packages`, scripts in `~/.local/bin`) is on, so `pip install` (the
  environment's own pip) falls back to it because `/opt/venv` is read-only, as on E2B. The guest creates that
  directory at start, so a kernel already running sees packages installed later.
- The base interpreter's own site-packages directories (Debian's `dist-packages`) are hidden behind empty
  read-only directories: the sandbox gets the project's packages and its own, not whatever the host installed.
- `bin/sudo` says plainly that there is no root here (the host's sudo, if any, would fail with a cryptic message
  about setuid and nosuid mounts), and what to do instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .capabilities import JailUnavailable

JAIL_VENV = "/opt/venv"
JAIL_PYTHON = f"{JAIL_VENV}/bin/python"
NO_SUDO = """#!/bin/sh
echo "sudo: not available in this sandbox: everything runs as 'user' and there is no root. Python packages install \
with pip (into ~/.local), npm packages into the project folder; system packages (apt) cannot be installed." >&2
exit 1
"""
_ASK_BASE = ("import json, site, sys; print(json.dumps({'prefix': sys.prefix, 'version': '%d.%d' % "
             "sys.version_info[:2], 'executable': sys.executable, 'site': site.getsitepackages()}))")


@dataclass(frozen=True)
class SandboxPython:
    """Where the sandbox's interpreter lives on the host: a venv (packages) and the base Python it was made from."""

    venv: Path
    base_prefix: Path  # the base interpreter's installation prefix: /usr for Debian's python3
    version: str  # e.g. "3.11"
    executable: Path  # the base interpreter itself, e.g. /usr/bin/python3.11
    system_site: tuple[Path, ...] = ()  # the base's own site-packages directories, hidden inside jails

    @staticmethod
    def locate(venv: Path) -> SandboxPython:
        cfg = venv / "pyvenv.cfg"
        if not cfg.is_file():
            raise JailUnavailable(
                f"the sandbox Python environment {venv} is missing; run `bash scripts/setup.sh` first"
            )
        values = {}
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
        home = values.get("home", "")
        libs = sorted((venv / "lib").glob("python3.*"))
        if not home or not libs:
            raise JailUnavailable(f"cannot read the sandbox Python environment at {venv}")
        version = libs[0].name[len("python"):]
        base = Path(home) / f"python{version}"
        try:  # ask the base interpreter itself: its prefix and site directories are its build's business
            answer = subprocess.run([str(base), "-I", "-c", _ASK_BASE], capture_output=True, text=True, timeout=30)
            facts = json.loads(answer.stdout)
        except PermissionError:  # e.g. a pyenv build in root's home, for a server run by another user
            raise JailUnavailable(f"the sandbox Python environment {venv} was made from {base}, which this user may "
                                  f"not run; make it from a Python every user can run (`bash scripts/setup.sh` "
                                  f"uses /usr/bin/python3)") from None
        except (OSError, ValueError, subprocess.TimeoutExpired):
            raise JailUnavailable(f"the sandbox Python environment {venv} was made from {base}, which does not "
                                  f"run any more; run `bash scripts/setup.sh` again") from None
        return SandboxPython(venv=venv, base_prefix=Path(facts["prefix"]), version=facts["version"],
                             executable=Path(facts["executable"]).resolve(),
                             system_site=tuple(Path(p) for p in facts["site"]))

    @property
    def inside_usr(self) -> bool:
        """True when the base build is part of the host's /usr, which every jail sees anyway."""
        return self.base_prefix == Path("/usr") or Path("/usr") in self.base_prefix.parents


def write_layout(root: Path, python: SandboxPython) -> None:
    """Files every jail of this server shares (under the server's scratch dir `root`): the jail's pyvenv.cfg, its
    generated bin/ and an empty directory that hides the base's own site-packages."""
    (root / "pyvenv.cfg").write_text(
        f"home = {python.executable.parent}\ninclude-system-site-packages = true\nversion = {python.version}\n"
    )
    (root / "empty").mkdir(exist_ok=True)
    bin_dir = root / "venv-bin"
    if bin_dir.exists():
        shutil.rmtree(bin_dir)
    bin_dir.mkdir()
    for name in ("python", "python3", f"python{python.version}"):
        (bin_dir / name).symlink_to(python.executable)
    (bin_dir / "sudo").write_text(NO_SUDO)
    (bin_dir / "sudo").chmod(0o755)
    venv_bin = (python.venv / "bin").resolve()
    pythons = {"python", "python3", f"python{python.version}"}
    for script in sorted(venv_bin.iterdir()):
        if script.name in pythons or not script.is_file() or script.is_symlink():
            continue
        try:
            first, _, rest = script.read_bytes().partition(b"\n")
        except OSError:
            continue
        if first.startswith(b"#!") and _names_venv_python(first[2:].strip().decode(errors="replace"), venv_bin,
                                                           pythons):
            target = bin_dir / script.name
            target.write_bytes(f"#!{JAIL_PYTHON}\n".encode() + rest)
            target.chmod(0o755)


def _names_venv_python(interpreter: str, venv_bin: Path, pythons: set[str]) -> bool:
    """Whether a script's first line names the environment's own python, by whatever path the environment was made
    or is reached (a venv given through a symlink, e.g. a checkout sharing another's environments)."""
    path = Path(interpreter)
    if not path.is_absolute() or path.name not in pythons:
        return False
    try:
        return path.parent.resolve() == venv_bin
    except OSError:
        return False


def python_binds(root: Path, python: SandboxPython) -> list[str]:
    """bubblewrap options that show the sandbox Python inside a jail (after /usr is bound)."""
    args = []
    if not python.inside_usr:  # its own path, reachable by the sandbox user through world-readable parents
        for parent in reversed(python.base_prefix.parents[:-1]):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(python.base_prefix), str(python.base_prefix)]
    for site_dir in python.system_site:
        if site_dir.is_dir():
            args += ["--ro-bind", str(root / "empty"), str(site_dir)]
    return args + [
        "--perms", "0755", "--dir", JAIL_VENV,
        "--ro-bind", str(root / "venv-bin"), f"{JAIL_VENV}/bin",
        "--ro-bind", str(python.venv / "lib"), f"{JAIL_VENV}/lib",
        "--ro-bind", str(root / "pyvenv.cfg"), f"{JAIL_VENV}/pyvenv.cfg",
    ]
