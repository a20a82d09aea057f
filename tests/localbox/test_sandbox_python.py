"""The sandbox's own Python, through the unmodified SDK: one whole build inside the jail (every standard module with
a C extension imports, and the shared libpython, if any, is the build's own), and `pip` of its own that installs
into the sandbox user's site, where the already running kernel and the shell both find what it installed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from agent.localbox.capabilities import JailUnavailable
from agent.localbox.pythonenv import SandboxPython, write_layout
from tests.localbox.helpers import SANDBOX_HOME

EVERY_C_EXTENSION = r"""
import importlib, json, os, sys
dynload = [p for p in sys.path if p.endswith("lib-dynload")]
names = sorted({f.split(".")[0] for d in dynload for f in os.listdir(d) if f.endswith(".so")})
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
import hashlib, sqlite3, ssl
ssl.create_default_context()  # loads the CA certificates too
sqlite3.connect(":memory:").execute("select 1")
hashlib.sha3_256(b"x").hexdigest()
maps = open("/proc/self/maps").read().split("\n")
libpython = sorted({line.split()[-1] for line in maps if "libpython" in line})
print(json.dumps({"names": names, "failed": failed, "builtin": sorted(sys.builtin_module_names),
                  "base_prefix": sys.base_prefix, "libpython": libpython}))
"""


def _probe_wheel() -> bytes:
    """A tiny pure-Python wheel (module, console script), so installing it needs no network."""
    files = {
        "localbox_probe/__init__.py": "VALUE = 42\n\ndef main():\n    print('probe-script-ran')\n",
        "localbox_probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: localbox-probe\nVersion: 1.0\n",
        "localbox_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                              "Tag: py3-none-any\n",
        "localbox_probe-1.0.dist-info/entry_points.txt": "[console_scripts]\nlocalbox-probe = localbox_probe:main\n",
    }
    files["localbox_probe-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + \
        "localbox_probe-1.0.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return buffer.getvalue()


def test_every_stdlib_c_extension_imports_in_a_sandbox(sandbox):
    sandbox.files.write("probe_stdlib.py", EVERY_C_EXTENSION)
    result = sandbox.commands.run(f"python {SANDBOX_HOME}/probe_stdlib.py", timeout=120)
    report = json.loads(result.stdout)
    have = set(report["names"]) | set(report["builtin"])
    assert {"_ssl", "_hashlib", "_sqlite3", "_ctypes", "_decimal", "_lzma", "_bz2"} <= have, report["names"]
    assert len(report["names"]) >= 10, report["names"]
    assert report["failed"] == {}, report["failed"]
    # a shared libpython, where the build has one, is that build's own: not another Python's found on the way
    for lib in report["libpython"]:
        assert lib.startswith(report["base_prefix"].rstrip("/") + "/"), report


def test_pip_is_the_sandbox_environments_own(sandbox):
    for command in ("pip --version", "python -m pip --version", "pip3 --version"):
        result = sandbox.commands.run(command, timeout=120)
        assert "/opt/venv/lib/python3." in result.stdout, (command, result.stdout)


def test_pip_installs_into_the_user_site_and_the_running_kernel_sees_it(sandbox):
    before = sandbox.run_code("import localbox_probe", timeout=60)
    assert before.error is not None and before.error.name == "ModuleNotFoundError"
    sandbox.files.write("localbox_probe-1.0-py3-none-any.whl", _probe_wheel())
    result = sandbox.commands.run(
        f"pip install --no-index --disable-pip-version-check {SANDBOX_HOME}/localbox_probe-1.0-py3-none-any.whl",
        timeout=120)
    assert "Successfully installed localbox-probe-1.0" in result.stdout, result.stdout + result.stderr
    where = sandbox.commands.run("python -c 'import localbox_probe; print(localbox_probe.__file__)'", timeout=60)
    assert where.stdout.startswith(f"{SANDBOX_HOME}/.local/lib/python3."), where.stdout
    after = sandbox.run_code("import localbox_probe; localbox_probe.VALUE", timeout=60)
    assert after.error is None, after.error
    assert after.text == "42"
    script = sandbox.commands.run("localbox-probe", timeout=60)  # ~/.local/bin is on PATH, its shebang runs
    assert script.stdout.strip() == "probe-script-ran"


def test_console_scripts_are_the_environments_own_when_it_is_reached_through_a_symlink(tmp_path):
    """A checkout may reach its sandbox environment through a symlink (a git worktree sharing another checkout's
    environments): pip and the other console scripts still run the environment's python inside the jail, not the
    host's Debian pip that the jail's /usr also has."""
    real = tmp_path / "real-venv"
    (real / "bin").mkdir(parents=True)
    (real / "bin" / "python").symlink_to("/usr/bin/python3")
    (real / "bin" / "pip").write_text(f"#!{real}/bin/python\nimport pip\n")
    (real / "bin" / "other").write_text("#!/usr/bin/python3\nprint('not ours')\n")
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / ".venv-sandbox").symlink_to(real)
    python = SandboxPython(venv=tmp_path / "checkout" / ".venv-sandbox", base_prefix=Path("/usr"), version="3.11",
                           executable=Path("/usr/bin/python3.11"))
    root = tmp_path / "server"
    root.mkdir()
    write_layout(root, python)
    copied = sorted(p.name for p in (root / "venv-bin").iterdir())
    assert copied == ["pip", "python", "python3", "python3.11", "sudo"]
    assert (root / "venv-bin" / "pip").read_text() == "#!/opt/venv/bin/python\nimport pip\n"


def test_an_environment_made_from_a_python_this_user_may_not_run_says_so(tmp_path):
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11").mkdir(parents=True)
    private = tmp_path / "private-bin"
    private.mkdir()
    (private / "python3.11").write_text("#!/bin/sh\nexit 0\n")
    (private / "python3.11").chmod(0o600)  # not executable: what another user's pyenv build in /root is to us
    (venv / "pyvenv.cfg").write_text(f"home = {private}\nversion = 3.11.7\n")
    with pytest.raises(JailUnavailable, match="which this user may not run"):
        SandboxPython.locate(venv)
