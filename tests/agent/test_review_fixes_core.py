"""Review fixes in the agent core: retries (who owns them, how many, announced), words for a dropped stream,
.env problems and lookup, the uncut tool output for people, and deprecated models in the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import anthropic
import httpx2
import pytest

from agent import claude_client, config
from agent import cli as agent_cli
from agent.config import Settings
from agent.events import ToolFinished, ToolResult
from agent.failures import describe_api_failure
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.agent.test_cli import _cli, _show
from tests.support.claude_standin import (
    Hang,
    Reply,
    Text,
    ToolUse,
    overloaded,
    rate_limited,
    text_reply,
    tool_reply,
)

FAKE_KEY_VALUE = "sk-ant-fake-VALUE-123"


# ---------------------------------------------------------------- A: retries are announced in the plain CLI


def test_plain_cli_announces_a_retry_on_stderr(claude, tmp_path):
    claude.push(overloaded(), text_reply("Made it."))
    proc = _cli(claude, tmp_path, "hello")
    assert proc.returncode == 0, _show(proc)
    assert "Made it." in proc.stdout, _show(proc)
    assert "retrying in" in proc.stderr.lower() and "overloaded" in proc.stderr.lower(), (
        f"a retry must be announced on stderr in plain mode:\n{_show(proc)}")
    assert "retrying" not in proc.stdout.lower(), "retry notices belong on stderr, not in the answer"


# ---------------------------------------------------------------- B: one layer retries, bounded, not silent


def test_every_request_is_an_announced_attempt(claude, provider):
    """The SDK adds no hidden attempts: requests made == 1 + the loop's announced retries (was 2 x 3 = 6)."""
    claude.respond_with(lambda req: Hang(20))

    async def scenario():
        async with agent_session(make_settings(claude, api_timeout_s=1.0, api_max_retries=1), provider) as s:
            return await collect(s, "hello", timeout=60)

    turn = run(scenario())
    notices = [e for e in turn.errors if e.retrying]
    assert turn.done.stop_reason == "error", turn.describe()
    assert len(claude.requests) == 1 + len(notices), (
        f"{len(claude.requests)} requests but {len(notices)} retry notices: the SDK retried silently\n"
        f"{turn.describe()}")
    assert len(claude.requests) <= 3, f"too many attempts for one turn: {len(claude.requests)}"


def test_a_reply_that_never_starts_fails_fast_even_with_a_long_stream_timeout(claude, monkeypatch):
    """AGENT_API_TIMEOUT (silence inside a stream) must not be how long a person waits for the reply to start."""
    monkeypatch.setattr(claude_client, "FIRST_ANSWER_DEADLINE_S", 1.0)  # the real 60 s, shortened for the test
    claude.respond_with(lambda req: Hang(30))
    settings = make_settings(claude, api_timeout_s=300.0)
    assert claude_client.first_answer_deadline(settings) == 1.0

    async def scenario():
        client = claude_client.make_client(settings)
        try:
            await asyncio.wait_for(client.messages.create(
                model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}], stream=True), 15)
        finally:
            await client.close()

    with pytest.raises(anthropic.APITimeoutError):
        run(scenario())
    assert len(claude.requests) == 1, f"the SDK must not retry on its own: {len(claude.requests)} requests"


def test_a_long_retry_after_is_not_waited_out(claude, provider):
    claude.respond_with(lambda req: rate_limited(retry_after=120))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello", timeout=60)

    turn = run(scenario())
    assert len(claude.requests) == 1, f"a 120 s retry-after must end the turn at once: {len(claude.requests)}"
    final = [e for e in turn.errors if not e.retrying]
    assert final and final[-1].kind == "rate_limit" and "2 minutes" in final[-1].message, turn.describe()


def test_a_short_rate_limit_is_retried_and_announced(claude, provider):
    claude.push(rate_limited(retry_after=1), text_reply("After the wait."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello", timeout=60)

    turn = run(scenario())
    assert turn.text == "After the wait.", turn.describe()
    notices = [e for e in turn.errors if e.retrying]
    assert len(notices) == 1 and notices[0].kind == "rate_limit" and notices[0].retry_after == 1, turn.describe()


# ---------------------------------------------------------------- C: a connection dropped mid-reply


def test_transport_errors_while_streaming_are_a_dropped_reply():
    req = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    raw = describe_api_failure(httpx2.RemoteProtocolError("peer closed connection"), "m")
    assert "dropped in the middle of the reply" in raw.message and raw.kind == "connection"
    wrapped = describe_api_failure(anthropic.APIConnectionError(request=req), "m", mid_stream=True)
    assert "dropped in the middle of the reply" in wrapped.message
    before = describe_api_failure(anthropic.APIConnectionError(request=req), "m")
    assert "Could not reach" in before.message, "before the stream opens it is a reachability problem"
    slow = describe_api_failure(anthropic.APITimeoutError(request=req), "m", mid_stream=True)
    assert "middle of the reply" in slow.message and slow.kind == "timeout"


def test_a_socket_closed_mid_reply_says_the_connection_dropped(claude, provider):
    claude.push(Reply((Text("Partial answer ", chunks=2, delay=0.02),), end="drop_dirty"))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello")

    turn = run(scenario())
    final = [e for e in turn.errors if not e.retrying]
    assert final and "dropped in the middle of the reply" in final[-1].message, turn.describe()
    assert "ANTHROPIC_BASE_URL" not in final[-1].message, final[-1].message


# ---------------------------------------------------------------- D: a broken .env is named, never silent


def test_unclosed_quote_in_env_names_file_and_line(claude, tmp_path):
    (tmp_path / ".env").write_text(f"AGENT_THINKING=1\nANTHROPIC_API_KEY=\"{FAKE_KEY_VALUE}\n")
    env = claude.env()
    env.pop("ANTHROPIC_API_KEY")
    proc = _cli(claude, tmp_path, "hello", env=env, dotenv=True)
    assert proc.returncode == 2, _show(proc)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, _show(proc)
    assert ".env" in lines[0] and "line 2" in lines[0], f"the file and line must be named: {lines[0]!r}"
    assert "No Anthropic API key" not in lines[0]
    assert FAKE_KEY_VALUE not in proc.stdout + proc.stderr, "the key's value must never be printed"
    assert not claude.requests


def test_binary_env_is_a_plain_message(claude, tmp_path):
    (tmp_path / ".env").write_bytes(b"\xff\xfe\x00\x89PNG\x00\x00garbage")
    env = claude.env()
    proc = _cli(claude, tmp_path, "hello", env=env, dotenv=True)
    assert proc.returncode == 2, _show(proc)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and ".env" in lines[0] and "Traceback" not in proc.stderr, _show(proc)


def test_read_env_file_never_quotes_the_line(tmp_path):
    path = tmp_path / ".env"
    path.write_text(f"OK=1\nANTHROPIC_API_KEY='{FAKE_KEY_VALUE}\nB=2\n")
    with pytest.raises(config.EnvFileError) as info:
        config.read_env_file(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)
    assert FAKE_KEY_VALUE not in str(info.value)
    path.write_text("A=1\n# comment\nexport B='two words'\n")
    assert config.read_env_file(path) == {"A": "1", "B": "two words"}


# ---------------------------------------------------------------- E: which .env is read


def test_env_file_lookup(tmp_path):
    cwd, checkout = tmp_path / "project", tmp_path / "checkout"
    cwd.mkdir()
    checkout.mkdir()
    assert config.find_env_file({}, cwd, checkout) is None
    (checkout / ".env").write_text("ANTHROPIC_MODEL=from-checkout\n")
    assert config.find_env_file({}, cwd, checkout) == checkout / ".env", "the checkout's .env is the fallback"
    (cwd / ".env").write_text("ANTHROPIC_MODEL=from-cwd\n")
    assert config.find_env_file({}, cwd, checkout) == cwd / ".env", "the working directory's .env wins"
    assert config.find_env_file({"AGENT_ENV_FILE": ""}, cwd, checkout) is None, "AGENT_ENV_FILE= reads none"
    other = tmp_path / "other.env"
    other.write_text("ANTHROPIC_MODEL=explicit\n")
    assert config.find_env_file({"AGENT_ENV_FILE": str(other)}, cwd, checkout) == other
    with pytest.raises(config.EnvFileError):
        config.find_env_file({"AGENT_ENV_FILE": str(tmp_path / "missing.env")}, cwd, checkout)


def test_cli_reads_the_working_directory_env(claude, tmp_path):
    claude.push(text_reply("Hi."))
    (tmp_path / ".env").write_text("ANTHROPIC_MODEL=claude-from-dotenv\n")
    env = claude.env()
    env.pop("ANTHROPIC_MODEL", None)
    proc = _cli(claude, tmp_path, "hello", env=env, dotenv=True)
    assert proc.returncode == 0, _show(proc)
    assert claude.requests[0].body["model"] == "claude-from-dotenv"


def test_settings_from_env_with_explicit_env_file(tmp_path, monkeypatch):
    path = tmp_path / "agent.env"
    path.write_text("AGENT_MAX_TOOL_STEPS=7\n")
    s = Settings.from_env(env={"AGENT_ENV_FILE": str(path)})
    assert s.max_tool_steps == 7
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AGENT_MAX_TOOL_STEPS=9\n")
    assert Settings.from_env(env={}).max_tool_steps == 9
    assert Settings.from_env(env={"AGENT_ENV_FILE": ""}).max_tool_steps == Settings().max_tool_steps


# ---------------------------------------------------------------- F: the uncut output reaches people


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


# ---------------------------------------------------------------- G: deprecated models


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
