"""`python -m agent` as a real subprocess: stand-in over ANTHROPIC_BASE_URL, the embedded local sandbox."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent import cli as agent_cli
from agent.cli import PlainPrinter
from agent.events import Artifact, ToolFinished, ToolResult
from tests.support.claude_standin import (
    ToolUse,
    text_reply,
    tool_reply,
    unauthorized,
)
from tests.support.procs import ProcessTree

ROOT = Path(__file__).resolve().parents[2]


def _cli(claude, tmp_path: Path, *args: str, env: dict | None = None, stdin: str | None = None,
         timeout: float = 120, dotenv: bool = False,
         started: Callable[[subprocess.Popen], None] | None = None) -> subprocess.CompletedProcess:
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
    cmd = [sys.executable, "-m", "agent", *args]
    with subprocess.Popen(cmd, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        if started is not None:
            started(proc)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"`python -m agent {' '.join(args)}` did not finish in {timeout}s;\n"
                                 f"stdout: {out!r}\nstderr: {err!r}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def test_json_mode_lines_parse_and_add_up(claude, tmp_path):
    claude.push(tool_reply(ToolUse("run_command", {"command": "env"}, id="toolu_env"), text="Checking."),
                text_reply(" Environment listed, bye.", chunks=4))
    trees: list[ProcessTree] = []
    proc = _cli(claude, tmp_path, "--json", "--model", "claude-test-model", "show the environment",
                started=lambda p: trees.append(ProcessTree(p.pid, "the CLI")))
    assert proc.returncode == 0, _show(proc)
    assert claude.requests[0].body["model"] == "claude-test-model", "--model must choose the model"
    assert any("agent.localbox" in c for c in trees[0].seen.values()), \
        f"the leftover check did not see the sandbox server: {trees[0].seen}"
    trees[0].assert_all_gone()
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
    env = claude.env()
    env.update({"AGENT_SANDBOX": "local", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--json", "wait a minute"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = ProcessTree(proc.pid, "the CLI")
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
        tree.poll()
        assert any("agent.localbox" in c for c in tree.seen.values()), \
            f"the leftover check cannot see the server: {tree.seen}"
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
    tree.assert_all_gone()


# ---------------------------------------------------------------- the uncut output reaches people


def test_to_dict_carries_full_output_only_when_cut():
    cut = ToolFinished(id="t", name="read_file", duration=0.1,
                       result=ToolResult(output="head ... cut ... tail", full_output="head MIDDLE tail"))
    assert cut.to_dict()["result"]["full_output"] == "head MIDDLE tail"
    whole = ToolFinished(id="t", name="read_file", duration=0.1, result=ToolResult(output="all"))
    assert "full_output" not in whole.to_dict()["result"]


def _big_read(claude) -> None:
    claude.push(tool_reply(ToolUse("run_command", {"command": "python3 -c \"print('x'*30000+'THE-END')\" > big.txt"})),
                tool_reply(ToolUse("read_file", {"path": "big.txt"}, id="toolu_bigread")),
                text_reply("ok"))


def test_json_mode_carries_the_uncut_read_file_output(claude, tmp_path):
    _big_read(claude)
    env = dict(claude.env(), AGENT_MAX_OUTPUT_CHARS="2000")
    proc = _cli(claude, tmp_path, "--json", "read it", env=env)
    assert proc.returncode == 0, _show(proc)
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    read = [e for e in events if e["type"] == "tool_finished" and e["id"] == "toolu_bigread"]
    assert read, _show(proc)
    result = read[0]["result"]
    assert "THE-END" in result.get("full_output", "") and len(result["full_output"]) > 30000, (
        f"the uncut text must be in the JSON: keys {sorted(result)}")
    assert len(result["output"]) < 3000, "output stays what the model got"


def test_plain_mode_points_to_the_uncut_output(claude, tmp_path):
    _big_read(claude)
    env = dict(claude.env(), AGENT_MAX_OUTPUT_CHARS="2000")
    proc = _cli(claude, tmp_path, "read it", env=env)
    assert proc.returncode == 0, _show(proc)
    saved = [Path(w.rstrip(")")) for ln in proc.stdout.splitlines() if "full output" in ln
             for w in ln.split() if "agent-outputs" in w]
    assert saved and saved[0].is_file(), f"the plain output must say where the full text is:\n{_show(proc)}"
    try:
        assert saved[0].read_text().rstrip().endswith("THE-END")
    finally:
        shutil.rmtree(saved[0].parent, ignore_errors=True)
    assert len(proc.stdout) < 10000, "the terminal must stay readable (no 30 KB dump)"


# ---------------------------------------------------------------- deprecated models


def test_deprecated_model_warning():
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    old = next(iter(DEPRECATED_MODELS))
    line = agent_cli.deprecation_warning(old)
    assert line and old in line and "deprecated" in line and "\n" not in line
    assert agent_cli.deprecation_warning("claude-test-model") is None


def test_cli_warns_about_a_deprecated_model(claude, tmp_path):
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    old = next(iter(DEPRECATED_MODELS))
    claude.push(text_reply("Hi."))
    proc = _cli(claude, tmp_path, "--model", old, "hello")
    assert proc.returncode == 0, _show(proc)
    warned = [ln for ln in proc.stderr.splitlines() if "deprecated" in ln]
    assert len(warned) == 1 and old in warned[0], _show(proc)
    assert os.linesep not in warned[0]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # a PNG-looking payload of 2 KB (never decoded)

# --------------------------------------------------------------------------------------------------
# The CLI saves artifacts
# --------------------------------------------------------------------------------------------------


def test_plain_printer_saves_each_artifact_and_prints_its_path(tmp_path):
    out = io.StringIO()
    printer = PlainPrinter(out, io.StringIO(), outputs_dir=tmp_path)
    result = ToolResult(output="drew", artifacts=(Artifact("image/png", PNG), Artifact("image/svg+xml", "<svg/>"),
                                                  Artifact("text/html", "<table></table>")))
    printer.show(ToolFinished("toolu_abc", "execute_code", result, 2.8))
    line = out.getvalue().strip()
    paths = re.findall(r"→ (\S+?)\]", line)
    assert len(paths) == 3, f"each artifact's tag must name the file it was saved to: {line!r}"
    png, svg, html = map(Path, paths)
    assert png == tmp_path / "toolu_abc-1.png" and png.read_bytes() == PNG, line
    assert svg.suffix == ".svg" and svg.read_text() == "<svg/>", line
    assert html.suffix == ".html" and html.read_text() == "<table></table>", line
    assert "[image/png, 2 KB → " in line, line


def test_the_terminal_and_the_page_save_an_output_with_the_same_extension(tmp_path):
    """One helper (agent.presenter.file_extension) names saved outputs for both: the type's usual extension, else
    the output's own name's, else what the system knows for the type, else .bin."""
    from webui.artifacts import ArtifactStore

    cases = [("image/png", "", ".png"), ("image/bmp", "", ".bmp"), ("image/SVG+xml; charset=utf-8", "", ".svg"),
             ("application/x-unknown-kind", "data.parquet", ".parquet"),
             ("application/x-unknown-kind", "", ".bin"), ("application/x-unknown-kind", "odd.name/../x", ".bin")]
    printer = PlainPrinter(io.StringIO(), io.StringIO(), outputs_dir=tmp_path / "cli")
    page = ArtifactStore(root=tmp_path / "page")
    for i, (mime, name, expected) in enumerate(cases, 1):
        artifact = Artifact(mime, b"data", name=name)
        in_terminal = Path(printer._save_artifact(f"toolu_{i}", 1, artifact).removeprefix(" → "))
        on_page = page._write(artifact)
        assert (in_terminal.suffix, on_page.suffix) == (expected, expected), (mime, name)


@pytest.fixture
def short_tmpdir() -> Iterator[Path]:
    """A short TMPDIR for the CLI (pytest's tmp_path is too long for the local sandbox's socket paths)."""
    folder = Path(tempfile.mkdtemp(prefix="nc-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_cli_plain_mode_saves_a_real_chart(claude, tmp_path, short_tmpdir):
    code = "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 0])\nplt.show()\n"
    claude.push(tool_reply(ToolUse("execute_code", {"code": code}, id="toolu_chart")), text_reply("Here it is."))
    work = tmp_path / "work"
    work.mkdir()
    env = claude.env()
    env["TMPDIR"] = str(short_tmpdir)
    proc = _cli(claude, work, "plot a sine wave", env=env)
    assert proc.returncode == 0, _show(proc)
    found = re.search(r"\[image/png, [^\]]*→ (\S+)\]", proc.stdout)
    assert found, f"the chart's line must say where the PNG was saved:\n{_show(proc)}"
    saved = Path(found.group(1))
    assert saved.parent.parent == work / "agent-outputs" and re.fullmatch(r"\d{8}-\d{6}", saved.parent.name), saved
    assert saved.name == "toolu_chart-1.png" and saved.read_bytes().startswith(b"\x89PNG"), saved
    assert not list(short_tmpdir.glob("agent-outputs*")), "nothing is left in the temp folder"


def test_cli_json_events_carry_the_paths_of_saved_files(claude, tmp_path, short_tmpdir):
    claude.push(tool_reply(ToolUse("execute_code", {"code": "from IPython.display import SVG, display\n"
                                                            "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))"},
                                   id="toolu_svg")),
                text_reply("ok"))
    env = claude.env()
    env["TMPDIR"] = str(short_tmpdir)
    work = tmp_path / "work"
    work.mkdir()
    proc = _cli(claude, work, "--json", "--out", "svgs", "draw", env=env)
    assert proc.returncode == 0, _show(proc)
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    finished = [e for e in events if e["type"] == "tool_finished"]
    assert finished and finished[0]["result"]["artifacts"], _show(proc)
    saved = [Path(p) for p in finished[0]["saved"]]
    assert saved == [work / "svgs" / "toolu_svg-1.svg"], _show(proc)
    assert saved[0].read_text().startswith("<svg"), saved
    assert not list(short_tmpdir.glob("agent-outputs*")), "nothing is left in the temp folder"


def test_saved_files_include_the_uncut_output(tmp_path):
    printer = PlainPrinter(io.StringIO(), io.StringIO(), outputs_dir=tmp_path / "out")
    result = ToolResult(output="short", full_output="long " * 1000, artifacts=(Artifact("image/png", PNG),))
    saved = printer.save_files(ToolFinished("toolu_x", "run_command", result, 1.0))
    assert saved == [str(tmp_path / "out" / "toolu_x-1.png"), str(tmp_path / "out" / "toolu_x.txt")]
    assert Path(saved[1]).read_text() == "long " * 1000
