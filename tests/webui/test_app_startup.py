"""Starting the app (python app.py): a broken configuration, a busy port or a Python without the app's packages is one plain line and exit status 2, and the embedded local sandbox server stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.agent.test_cli import _show
from tests.support.procs import ProcessTree

ROOT = Path(__file__).resolve().parents[2]


def test_a_broken_configuration_stops_the_app_with_one_plain_line(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env_file = tmp_path / ".env"
    env_file.write_text('ANTHROPIC_API_KEY="sk-ant-unclosed\n')
    root = Path(__file__).resolve().parents[2]
    for extra in ({"AGENT_ENV_FILE": str(env_file)}, {"AGENT_ENV_FILE": "", "AGENT_MAX_CONCURRENT": "many"}):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AGENT_", "E2B_"))}
        env.update(extra, GRADIO_SERVER_PORT="0")
        done = subprocess.run([sys.executable, str(root / "app.py")], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Configuration problem:"), done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "sk-ant-unclosed" not in done.stderr


# --------------------------------------------------------------------------------------------------
# app.py: bad GRADIO_* values and a busy port
# --------------------------------------------------------------------------------------------------


def _app(env_changes: dict[str, str], timeout: float = 150,
         trees: list[ProcessTree] | None = None) -> subprocess.CompletedProcess:
    """Run app.py to its end; ``trees`` gets a watch on every process it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "E2B_", "GRADIO_"))}
    env.update(AGENT_ENV_FILE="", AGENT_SANDBOX="local", PYTHONUNBUFFERED="1", ANTHROPIC_API_KEY="test-key",
               GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=os.environ["GRADIO_TEMP_DIR"],  # the run's own
               **env_changes)
    cmd = [sys.executable, str(ROOT / "app.py")]
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        if trees is not None:
            trees.append(ProcessTree(proc.pid, "app.py"))
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"app.py did not exit within {timeout}s:\nstdout: {out!r}\nstderr: {err!r}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_app_rejects_non_numeric_gradio_settings_plainly():
    for name, value in (("GRADIO_SERVER_PORT", "abc"), ("GRADIO_MAX_THREADS", "abc"), ("GRADIO_SERVER_PORT", "70000")):
        proc = _app({name: value})
        assert proc.returncode == 2, f"{name}={value}: {_show(proc)}"
        assert "Traceback" not in proc.stdout + proc.stderr, _show(proc)
        assert f"Configuration problem: {name}" in proc.stderr, _show(proc)


def test_app_on_a_busy_port_says_so_and_stops_the_local_server():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    trees: list[ProcessTree] = []
    try:
        proc = _app({"GRADIO_SERVER_PORT": str(port)}, trees=trees)
    finally:
        holder.close()
    assert proc.returncode == 2, _show(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, _show(proc)
    assert f"Port {port} is already in use" in proc.stderr and "GRADIO_SERVER_PORT" in proc.stderr, _show(proc)
    assert any("agent.localbox" in c for c in trees[0].seen.values()), \
        f"the leftover check did not see the sandbox server: {trees[0].seen}"
    trees[0].assert_all_gone()


def test_app_with_a_python_lacking_its_packages_says_to_use_run_sh():
    """``python app.py`` with the system Python: one line naming scripts/run.sh, no traceback."""
    # -S: no site-packages, so gradio & co. are missing as they are for a Python outside the app's venv
    proc = subprocess.run([sys.executable, "-S", str(ROOT / "app.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin")})
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "This Python does not have the app's packages. Start the app with: bash scripts/run.sh"], proc.stderr
