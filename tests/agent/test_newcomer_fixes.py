"""Fixes for what a newcomer following the README ran into (review D).

- the CLI's plain mode saves each artifact (a chart, ...) to a file and prints its path;
- ``python app.py`` with a busy port or a non-numeric GRADIO_* setting is one plain line and exit status 2, and
  stops the embedded local sandbox server;
- the CLI's no-key advice does not mention the page's Settings; a placeholder key counts as no key;
- ``.env.example`` sets no key and names the real default model;
- the stand-in's demo answers the page's first example (a counter app) by writing a page and serving it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import PlainPrinter
from agent.config import Settings
from agent.events import Artifact, ToolFinished, ToolResult, ToolRunning
from agent.models import DEFAULT_MODEL
from tests.agent.helpers import agent_session, collect, make_settings
from tests.agent.test_cli import _assert_nothing_left, _cli, _show
from tests.support.claude_standin import RecordedRequest, ToolUse, demo_responder, text_reply, tool_reply

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # a PNG-looking payload of 2 KB (never decoded)

# --------------------------------------------------------------------------------------------------
# 1. The CLI saves artifacts
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


# --------------------------------------------------------------------------------------------------
# 5 / 7. Key guidance and the example file
# --------------------------------------------------------------------------------------------------


def test_cli_and_page_get_their_own_no_key_advice():
    s = Settings()
    page, cli = s.missing_key_message(), s.missing_key_message("cli")
    assert page and "Settings" in page, page
    assert cli and "Settings" not in cli and "ANTHROPIC_API_KEY" in cli, cli
    assert Settings(anthropic_api_key="sk-test").missing_key_message("cli") is None


def test_cli_missing_key_line_does_not_mention_settings(claude, tmp_path):
    env = claude.env()
    env.pop("ANTHROPIC_API_KEY")
    proc = _cli(claude, tmp_path, "hello", env=env)
    assert proc.returncode == 2, _show(proc)
    assert "ANTHROPIC_API_KEY" in proc.stderr and "Settings" not in proc.stderr, _show(proc)


def test_placeholder_key_counts_as_no_key(tmp_path):
    from agent.config import is_placeholder_key

    for value in ("sk-ant-your-key-here", "sk-ant-...", "<your key>", "your_key"):
        assert is_placeholder_key(value), value
        s = Settings.from_env({"ANTHROPIC_API_KEY": value}, dotenv_path=None)
        assert s.anthropic_api_key is None, value
        message = s.missing_key_message("cli")
        assert message and "placeholder" in message, message
    real_looking = "sk-ant-api03-Ab1_cD2-eF3gH4"
    assert not is_placeholder_key(real_looking)
    assert Settings.from_env({"ANTHROPIC_API_KEY": real_looking}, dotenv_path=None).anthropic_api_key == real_looking


def test_env_example_sets_no_key_and_names_the_default_model(tmp_path):
    example = ROOT / ".env.example"
    copy = tmp_path / ".env"
    copy.write_text(example.read_text())
    s = Settings.from_env({}, dotenv_path=copy)
    assert s.anthropic_api_key is None and s.missing_key_message(), "a literal copy must still get the key advice"
    models = set(re.findall(r"claude-[a-z]+-[0-9][0-9a-z.-]*", example.read_text()))
    assert models <= {DEFAULT_MODEL}, f".env.example suggests {models}, the default is {DEFAULT_MODEL}"


# --------------------------------------------------------------------------------------------------
# 2. app.py: bad GRADIO_* values and a busy port
# --------------------------------------------------------------------------------------------------


def _app(env_changes: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "E2B_", "GRADIO_"))}
    env.update(AGENT_ENV_FILE="", AGENT_SANDBOX="local", PYTHONUNBUFFERED="1", ANTHROPIC_API_KEY="test-key",
               GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=os.environ["GRADIO_TEMP_DIR"],  # the run's own
               **env_changes)
    try:
        return subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"app.py did not exit within {timeout}s:\nstdout: {exc.stdout!r}\n"
                             f"stderr: {exc.stderr!r}") from None


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
    marker = f"NEWCOMER_APP_MARKER_{uuid.uuid4().hex}"
    try:
        proc = _app({"GRADIO_SERVER_PORT": str(port), marker: "1"})
    finally:
        holder.close()
    assert proc.returncode == 2, _show(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, _show(proc)
    assert f"Port {port} is already in use" in proc.stderr and "GRADIO_SERVER_PORT" in proc.stderr, _show(proc)
    _assert_nothing_left(marker)


# --------------------------------------------------------------------------------------------------
# 6. The stand-in's demo: the page's first example, end to end
# --------------------------------------------------------------------------------------------------

COUNTER_PROMPT = "Create a React counter app with increment and decrement buttons"
FETCH = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/index.html').read().decode())\""

# Runs the page's script in node with a small stand-in DOM, clicks the buttons and prints the counts.
_NODE_HARNESS = r"""
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const byId = {};
function el(tag) {
  const node = { tag, children: [], attrs: {}, textContent: "", className: "", onclick: null,
    append(...kids) { for (const k of kids) { this.children.push(k); if (k.id) byId[k.id] = k; } },
    setAttribute(k, v) { this.attrs[k] = v; } };
  Object.defineProperty(node, "innerHTML", { set(v) { this.children = []; } });
  return node;
}
const root = el("div");
global.document = { createElement: el, getElementById: (id) => (id === "root" ? root : byId[id]) };
eval(script);
const seen = [byId.count.textContent];
byId.increment.onclick(); byId.increment.onclick(); seen.push(byId.count.textContent);
byId.decrement.onclick(); seen.push(byId.count.textContent);
console.log(seen.join(","));
"""


def test_demo_answers_the_counter_example_with_a_served_page(claude, provider, tmp_path):
    def responder(req: RecordedRequest):
        results = req.tool_results()
        if results and results[0].get("tool_use_id") == "toolu_fetch":
            return text_reply("checked")
        if "check the counter page" in req.last_user_text():
            return tool_reply(ToolUse("run_command", {"command": FETCH}, id="toolu_fetch"))
        return demo_responder(req)

    claude.respond_with(responder)

    async def scenario():
        async with agent_session(make_settings(claude), provider, tag="counter") as session:
            first = await collect(session, COUNTER_PROMPT, timeout=120)
            check = await collect(session, "check the counter page", timeout=120)
            return first, check

    first, check = asyncio.run(scenario())
    assert first.done.stop_reason == "end_turn", first.describe()
    calls = {f.name: f for f in first.finished}
    assert set(calls) == {"write_file", "run_command"}, first.describe()
    assert not any(f.result.is_error for f in first.finished), first.describe()
    assert "background" in calls["run_command"].result.output.lower(), first.describe()
    assert "Preview" in first.text and "8000" in first.text, first.text
    run_inputs = [r.input for r in first.of(ToolRunning)]
    server_call = next(i for i in run_inputs if "command" in i)
    assert server_call["command"] == "python3 -m http.server 8000" and server_call["background"] is True
    page = check.finished[0].result.output
    assert 'id="root"' in page and "increment" in page and "decrement" in page, check.describe()
    assert "http://" not in page.split("<script>")[1], "the page must work offline (no CDN)"

    html = tmp_path / "index.html"
    html.write_text(page[page.index("<!doctype html>"):])
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS)
    run = subprocess.run(["node", str(harness), str(html)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "0,2,1", f"the counter does not count: {run!r}"


def test_demo_keeps_its_other_scenarios():
    def first_call(prompt: str) -> str | None:
        req = RecordedRequest(0, "/v1/messages", {}, {"messages": [{"role": "user", "content": prompt}]}, 0.0)
        reply = demo_responder(req)
        names = [b.name for b in reply.blocks if isinstance(b, ToolUse)]
        return names[0] if names else None

    assert first_call(COUNTER_PROMPT) == "write_file"
    assert first_call("please draw a chart") == "execute_code"
    assert first_call("start a server") == "run_command"
    assert first_call("hello there") is None
    assert first_call("do something") == "execute_code"  # the tour


# --------------------------------------------------------------------------------------------------
# Starting app.py with the wrong Python, setup's progress, the CLI's files for --json
# --------------------------------------------------------------------------------------------------


def test_app_with_a_python_lacking_its_packages_says_to_use_run_sh():
    """``python app.py`` with the system Python: one line naming scripts/run.sh, no traceback."""
    # -S: no site-packages, so gradio & co. are missing as they are for a Python outside the app's venv
    proc = subprocess.run([sys.executable, "-S", str(ROOT / "app.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin")})
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "This Python does not have the app's packages. Start the app with: bash scripts/run.sh"], proc.stderr


def test_setup_shows_pips_progress_while_installing(tmp_path):
    """scripts/setup.sh lets pip print what it collects and installs instead of running it quietly."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    for name in ("requirements.txt", "requirements-sandbox.txt"):
        (tmp_path / name).write_text("example-package==1.0\n")
    fake = tmp_path / "fakepython"
    # A stand-in Python: "-m venv DIR" makes DIR/bin/python (itself); "-m pip install" behaves like pip: quiet
    # with -q, otherwise one progress line per requirement file. Anything else (the module checks) succeeds.
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi\n'
        'if [ "$1 $2 $3" = "-m pip install" ]; then\n'
        '  case " $* " in *" -q "*) exit 0;; esac\n'
        '  echo "Collecting example-package==1.0 (fake pip: $*)"; exit 0\n'
        "fi\n"
        "exit 0\n")
    fake.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bwrap", "node", "npm", "git", "apt-get", "sudo"):  # present, so setup installs no Debian package
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(fake), "SANDBOX_PYTHON": str(fake)}
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress = [ln for ln in proc.stdout.splitlines() if ln.startswith("Collecting example-package")]
    assert len(progress) == 2, f"pip's progress is not shown for the app's and the sandbox's packages:\n{proc.stdout}"


def test_saved_files_include_the_uncut_output(tmp_path):
    printer = PlainPrinter(io.StringIO(), io.StringIO(), outputs_dir=tmp_path / "out")
    result = ToolResult(output="short", full_output="long " * 1000, artifacts=(Artifact("image/png", PNG),))
    saved = printer.save_files(ToolFinished("toolu_x", "run_command", result, 1.0))
    assert saved == [str(tmp_path / "out" / "toolu_x-1.png"), str(tmp_path / "out" / "toolu_x.txt")]
    assert Path(saved[1]).read_text() == "long " * 1000
