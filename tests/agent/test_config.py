"""Settings (agent/config.py): .env lookup and its problems worded plainly (never quoting a key), no-key advice
for the CLI and the page, placeholder keys, and .env.example."""

from __future__ import annotations

import re

import pytest

from agent import config
from agent.config import Settings
from agent.models import DEFAULT_MODEL
from tests.agent.test_cli import ROOT, _cli, _show
from tests.support.claude_standin import (
    text_reply,
)

FAKE_KEY_VALUE = "sk-ant-fake-VALUE-123"


# ---------------------------------------------------------------- a broken .env is named, never silent


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


# ---------------------------------------------------------------- which .env is read


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


# --------------------------------------------------------------------------------------------------
# Key guidance and the example file
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
