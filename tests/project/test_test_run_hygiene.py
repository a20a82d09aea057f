"""A test run is quiet and tidy: no warnings that third-party code raises about itself, no temp folders left.

Each check runs pytest in a subprocess (the project's own pytest.ini) on a tiny test, with TMPDIR pointing at an
empty folder of its own, and looks at what that run printed and left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = '''
import warnings

import gradio  # noqa: F401  (gradio's own import-time warnings count too)


def test_a_library_warns_about_itself():
    # what gradio's queue does on every event with the installed pandas: a warning issued inside gradio's code
    warnings.warn_explicit("'future.no_silent_downcasting' is deprecated", FutureWarning, "queueing.py", 176,
                           module="gradio.queueing")
'''


def _pytest(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_TEMP_DIR", "PYTEST_ADDOPTS")}
    env["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240)


def test_third_party_warnings_about_their_own_code_are_not_shown(tmp_path):
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    probe = probe_dir / "test_probe.py"
    probe.write_text(_PROBE)
    run_tmp = tmp_path / "tmp"
    run_tmp.mkdir()
    proc = _pytest(["-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT), str(probe)], run_tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "warning" not in proc.stdout.lower(), proc.stdout


def test_test_runs_remove_their_temp_folders(tmp_path):
    """A page test, and one that starts app.py in a subprocess (Gradio makes its cache folder there)."""
    run_tmp = tmp_path / "tmp"
    run_tmp.mkdir()
    proc = _pytest(["tests/webui/test_status.py", "tests/webui/test_app_startup.py",
                    "-k", "sandbox_line_and_usage_line or busy_port"], run_tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout, proc.stdout
    left = sorted(p.name for p in run_tmp.iterdir())
    assert left == [], f"the test run left these in its temp folder: {left}"
