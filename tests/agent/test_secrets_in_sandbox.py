"""The app's keys stay out of the sandbox even when they sit in the app's own environment, as on a real host:
code in the sandbox finds them in no environment (its own, /proc/1, any process it can see), no command line
and no file it can read.

The keys are generated per run in their real shapes (never written out: a key-shaped literal must not be
committed); the app reads ANTHROPIC_API_KEY from its environment and sends it to the Claude stand-in.
"""

from __future__ import annotations

import secrets

from tests.agent.helpers import agent_session, collect, run
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

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
