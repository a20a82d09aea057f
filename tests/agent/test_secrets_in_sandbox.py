"""The app's keys stay out of the sandbox even when they sit in the app's own environment, as on a real host:
code in the sandbox finds them in no environment (its own, /proc/1, any process it can see), no command line
and no file it can read.

The keys are generated per run in their real shapes (never written out: a key-shaped literal must not be
committed); the app reads ANTHROPIC_API_KEY from its environment and sends it to the Claude stand-in.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from tests.agent.helpers import agent_session, collect, run
from tests.support.claude_standin import ToolUse, text_reply, tool_reply
from tests.support.procs import command_lines, process_tree

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Everything the sandbox can show: environments and command lines of every process it can see, then every
# line in its readable files that has a key's shape (the pattern is built here so the command holds no key).
_SHOW = (
    "env; echo; for f in /proc/1/environ /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat $f 2>/dev/null; "
    "echo; done | tr '\\0' '\\n'; grep -rhoaIsE '{pattern}' /home /tmp /root /etc /var /run /opt /srv /mnt "
    "2>/dev/null | head -50; echo scan-done"
)
_PYTHON_SHOW = "import os\nprint(sorted(os.environ.items()))\nprint(open('/proc/1/environ', 'rb').read())"


def test_keys_in_the_apps_environment_are_not_visible_in_the_sandbox(claude, monkeypatch):
    from agent.config import Settings
    from agent.sandbox import SandboxProvider

    anthropic_key = "sk-" + "ant-api03-" + "".join(secrets.choice(_ALPHABET) for _ in range(93)) + "AA"
    e2b_key = "e2b" + "_" + secrets.token_hex(20)
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_key)
    monkeypatch.setenv("E2B_API_KEY", e2b_key)
    monkeypatch.setenv("AGENT_ENV_FILE", "")
    # The app's settings come from this environment; only the sandbox kind and the stand-in's address differ
    # (the embedded local sandbox server is started below, while the keys are in the environment).
    settings = Settings.from_env(dotenv_path=None).replace(
        sandbox="local", anthropic_base_url=claude.base_url, api_max_retries=0,
        e2b_api_url=None, e2b_sandbox_url=None, e2b_domain=None)
    assert settings.anthropic_api_key == anthropic_key
    pattern = "(sk-" + "ant-|e2b" + "_)[A-Za-z0-9_-]{20,}"
    claude.push(tool_reply(ToolUse("run_command", {"command": _SHOW.format(pattern=pattern)})),
                tool_reply(ToolUse("execute_code", {"code": _PYTHON_SHOW})), text_reply("Looked."))
    provider = SandboxProvider.from_settings(settings)
    try:
        async def scenario():
            async with agent_session(settings, provider) as s:
                return await collect(s, "look for keys")

        turn = run(scenario())
    finally:
        provider.close()
    assert claude.requests[0].api_key == anthropic_key, "the app did not use the key from its environment"
    shell = turn.finished_by_name("run_command").result.display_output
    python = turn.finished_by_name("execute_code").result.display_output
    assert "HOME=" in shell and "scan-done" in shell, f"the search did not run: {shell[-500:]!r}"
    assert "HOME" in python, f"the Python look did not run: {python[-500:]!r}"
    for seen in (shell, python):
        for secret in (anthropic_key, e2b_key, anthropic_key[20:60], e2b_key[8:40]):
            assert secret not in seen, "a key from the app's environment is visible inside the sandbox"
        for name in ("ANTHROPIC_API_KEY", "E2B_API_KEY"):
            assert name not in seen, f"{name} is set inside the sandbox"


# What the embedded sandbox server may take from the app's environment: what Python and the server need to run
# (LC_* too), plus what the app gives it (its own key, unbuffered output, the checkout on PYTHONPATH).
_SERVER_MAY_INHERIT = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP",
                       "LD_LIBRARY_PATH", "PYTHONPATH"}
_SERVER_IS_GIVEN = {"LOCALBOX_API_KEY", "PYTHONUNBUFFERED"}


def test_the_local_sandbox_server_is_started_without_the_apps_keys_or_other_settings(monkeypatch):
    """The first of three independent safeguards: the server process the app starts holds none of the app's
    environment beyond what it needs, so no key is there for a jail to inherit. Read from the running server's
    /proc/<pid>/environ (the environment it was started with)."""
    from agent.config import Settings
    from agent.sandbox import SandboxProvider

    token = secrets.token_hex(16)
    planted = {
        "ANTHROPIC_API_KEY": "sk-" + "ant-api03-" + "".join(secrets.choice(_ALPHABET) for _ in range(93)) + "AA",
        "E2B_API_KEY": "e2b" + "_" + secrets.token_hex(20),
        "GITHUB_TOKEN": "gh-" + secrets.token_hex(18),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "DB_PASSWORD": secrets.token_urlsafe(12),
        "DATABASE_URL": f"postgresql://app:{token}@db.internal/app",  # a secret no name pattern would catch
        "SOME_HOST_SETTING": "setting-" + secrets.token_hex(8),
    }
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_ENV_FILE", "")
    settings = Settings.from_env(dotenv_path=None).replace(sandbox="local", e2b_api_url=None, e2b_sandbox_url=None,
                                                           e2b_domain=None)
    provider = SandboxProvider.from_settings(settings)
    try:
        port = str(urlsplit(run(provider.sdk_options())["api_url"]).port)
        ours = process_tree([os.getpid()])
        pids = [pid for pid, argv in command_lines() if pid in ours and b"agent.localbox" in argv
                and port.encode() in argv]
        assert len(pids) == 1, f"cannot tell the server the app started (port {port}): {pids}"
        raw = Path(f"/proc/{pids[0]}/environ").read_bytes().decode(errors="replace")
    finally:
        provider.close()
    environ = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
    assert environ.get("LOCALBOX_API_KEY") and environ.get("PATH") == os.environ["PATH"], \
        "the server did not get what it needs"
    for name, value in planted.items():
        assert name not in environ and value not in raw, f"{name} of the app's environment reached the server"
    unexpected = {n for n in environ if n not in _SERVER_MAY_INHERIT | _SERVER_IS_GIVEN and not n.startswith("LC_")}
    assert not unexpected, f"the server inherited more of the app's environment than it needs: {sorted(unexpected)}"
