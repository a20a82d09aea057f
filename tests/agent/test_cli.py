"""`python -m agent` as a real subprocess: stand-in over ANTHROPIC_BASE_URL, the embedded local sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.support.claude_standin import ToolUse, text_reply, tool_reply, unauthorized

ROOT = Path(__file__).resolve().parents[2]


def _cli(claude, tmp_path: Path, *args: str, env: dict | None = None, stdin: str | None = None,
         timeout: float = 120, dotenv: bool = False) -> subprocess.CompletedProcess:
    """Run the CLI in ``tmp_path`` with the stand-in and a local sandbox.

    Without ``dotenv`` no .env is read at all (AGENT_ENV_FILE set empty): not the working directory's, and not
    the checkout's, which the CLI falls back to and a developer may have filled with real settings.
    """
    env = dict(claude.env() if env is None else env)
    env.update(AGENT_SANDBOX="local", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    if dotenv:
        env.pop("AGENT_ENV_FILE", None)
    else:
        env["AGENT_ENV_FILE"] = ""
    try:
        return subprocess.run([sys.executable, "-m", "agent", *args], cwd=tmp_path, env=env, input=stdin,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`python -m agent {' '.join(args)}` did not finish in {timeout}s;\n"
                             f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}") from None


def _processes_with_marker(marker: str) -> list[str]:
    """Command lines of live processes whose environment carries ``marker`` (the CLI and anything it started)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {cmdline[:160]}")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _assert_nothing_left(marker: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := _processes_with_marker(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "the CLI left processes behind (embedded server / sandbox not shut down):\n" + "\n".join(left)


def _show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def test_json_mode_lines_parse_and_add_up(claude, tmp_path):
    claude.push(tool_reply(ToolUse("run_command", {"command": "env"}, id="toolu_env"), text="Checking."),
                text_reply(" Environment listed, bye.", chunks=4))
    marker = f"B2_CLI_MARKER_{uuid.uuid4().hex}"
    env = claude.env()
    env[marker] = "1"
    proc = _cli(claude, tmp_path, "--json", "--model", "claude-test-model", "show the environment", env=env)
    assert proc.returncode == 0, _show(proc)
    assert claude.requests[0].body["model"] == "claude-test-model", "--model must choose the model"
    _assert_nothing_left(marker)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    events = []
    for ln in lines:
        try:
            events.append(json.loads(ln))
        except ValueError:
            raise AssertionError(f"--json printed a line that is not JSON: {ln!r}\n{_show(proc)}") from None
    text = "".join(e["text"] for e in events if e["type"] == "text")
    assert text == "Checking. Environment listed, bye.", f"text events must add up to the reply: {text!r}"
    assert events[-1]["type"] == "done", f"the last line must be the done event: {events[-1]}"
    assert events[-1]["stop_reason"] == "end_turn"
    assert events[-1]["usage"]["input_tokens"] > 0, events[-1]
    tool_events = [e for e in events if e["type"].startswith("tool_")]
    assert tool_events and all(e.get("id") == "toolu_env" and e.get("name") == "run_command" for e in tool_events)
    finished = [e for e in events if e["type"] == "tool_finished"]
    assert finished and "HOME=" in finished[0]["result"]["output"], finished
    for secret in (claude.api_key, "ANTHROPIC_API_KEY"):
        assert secret not in proc.stdout and secret not in proc.stderr, (
            f"{secret} leaked (the CLI's own environment must not reach the sandbox or the output)")


def test_plain_mode_prints_text_and_tool_steps(claude, tmp_path):
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo hello-from-tool"})),
                text_reply("All good here.", chunks=3))
    proc = _cli(claude, tmp_path, "say hi with a command")
    assert proc.returncode == 0, _show(proc)
    assert "All good here." in proc.stdout, _show(proc)
    assert "Ran a command: echo hello-from-tool" in proc.stdout and "hello-from-tool" in proc.stdout, _show(proc)
    assert "Traceback" not in proc.stdout + proc.stderr


def test_failure_exits_non_zero_with_one_plain_line(claude, tmp_path):
    claude.push(unauthorized())
    proc = _cli(claude, tmp_path, "hello")
    assert proc.returncode != 0, _show(proc)
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err_lines) == 1, f"exactly one plain line on stderr is expected:\n{_show(proc)}"
    assert "Traceback" not in proc.stdout + proc.stderr and "key" in err_lines[0].lower(), _show(proc)
    assert claude.api_key not in proc.stdout + proc.stderr


def test_missing_key_is_a_plain_message(claude, tmp_path):
    env = claude.env()
    env.pop("ANTHROPIC_API_KEY")
    proc = _cli(claude, tmp_path, "hello", env=env)
    assert proc.returncode != 0, _show(proc)
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err_lines) == 1 and "ANTHROPIC_API_KEY" in err_lines[0], _show(proc)
    assert "Settings" not in err_lines[0], f"the CLI has no Settings to paste a key into:\n{_show(proc)}"
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not claude.requests, "no request should be sent without a key"


def test_interactive_chat_ends_cleanly_at_end_of_input(claude, tmp_path):
    claude.push(text_reply("First reply."), text_reply("Second reply."))
    proc = _cli(claude, tmp_path, stdin="hello\nand again\n")
    assert proc.returncode == 0, _show(proc)
    assert "First reply." in proc.stdout and "Second reply." in proc.stdout, _show(proc)
    assert "Traceback" not in proc.stdout + proc.stderr
    second = claude.requests[1].messages
    assert [m["role"] for m in second] == ["user", "assistant", "user"], "the chat must be multi-turn"


def test_ctrl_c_during_a_tool_stops_cleanly(claude, tmp_path):
    claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 60"}, id="toolu_long")))
    marker = f"B2_CLI_MARKER_{uuid.uuid4().hex}"
    env = claude.env()
    env.update({marker: "1", "AGENT_SANDBOX": "local", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--json", "wait a minute"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if '"tool_running"' in line:
                break
        assert any('"tool_running"' in ln for ln in seen), f"the tool never started: {seen}"
        running = _processes_with_marker(marker)
        assert any("agent.localbox" in c for c in running), f"the leftover check cannot see the server: {running}"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 15, f"Ctrl-C took {took:.1f}s to end the CLI"
    assert proc.returncode != 0, f"an interrupted run must exit non-zero; stdout: {out[-500:]!r}"
    err_lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(err_lines) <= 1 and "Traceback" not in out + err, f"stderr: {err!r}"
    _assert_nothing_left(marker)
