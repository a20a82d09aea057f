"""AGENT_LOCAL_INTERNET / AGENT_LOCAL_ALLOW: read by the app's settings, handed to the embedded sandbox server,
and what the system prompt tells Claude about the sandbox's internet."""

from __future__ import annotations

import pytest

from agent.config import Settings
from agent.prompts import SYSTEM_PROMPT, system_prompt


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=None)


def test_registries_is_the_default() -> None:
    assert settings().local_internet == "registries"
    assert settings().local_allow_domains == ()


@pytest.mark.parametrize(("raw", "mode"), [("registries", "registries"), ("ALL", "all"), ("off", "off"),
                                           ("1", "all"), ("true", "all"), ("0", "off"), ("no", "off")])
def test_modes_and_the_older_yes_no_values(raw: str, mode: str) -> None:
    assert settings(AGENT_LOCAL_INTERNET=raw).local_internet == mode


def test_an_unknown_mode_is_a_plain_error() -> None:
    with pytest.raises(ValueError, match="AGENT_LOCAL_INTERNET must be registries, all or off"):
        settings(AGENT_LOCAL_INTERNET="some")


def test_extra_domains_are_a_comma_list() -> None:
    assert settings(AGENT_LOCAL_ALLOW="github.com, *.githubusercontent.com").local_allow_domains == (
        "github.com", "*.githubusercontent.com")
    for bad in ("10.0.0.1", "http://x.org", "a b/c"):
        with pytest.raises(ValueError, match="AGENT_LOCAL_ALLOW"):
            settings(AGENT_LOCAL_ALLOW=bad)


def test_the_system_prompt_says_what_the_sandbox_can_reach() -> None:
    assert "only the package registries" in SYSTEM_PROMPT and "network policy" in SYSTEM_PROMPT
    assert "github.com" in system_prompt("local", "registries", ("github.com",))
    assert "never this machine or private networks" in system_prompt("local", "all")
    off = system_prompt("local", "off")
    assert "no internet access" in off and "registries" not in off
    assert "may be limited" in system_prompt("e2b")  # another server's rules are not this app's to know


@pytest.mark.parametrize(("env", "expected"), [
    ({"AGENT_SANDBOX": "local", "AGENT_LOCAL_INTERNET": "off"}, "no internet access"),
    ({"AGENT_SANDBOX": "local", "AGENT_LOCAL_ALLOW": "example.org"}, "(PyPI, npm, Debian) and example.org"),
    ({"AGENT_SANDBOX": "e2b", "E2B_API_KEY": "k"}, "may be limited"),
])
def test_a_session_tells_claude_the_rules_of_its_own_sandboxes(env: dict[str, str], expected: str) -> None:
    from agent.sandbox import SandboxProvider
    from agent.session import AgentSession

    chosen = settings(**env)
    provider = SandboxProvider.from_settings(chosen)
    try:
        assert expected in AgentSession(chosen, provider).system_prompt
    finally:
        provider.close()


def test_the_provider_starts_the_local_server_with_these_rules() -> None:
    from agent.sandbox import SandboxProvider

    provider = SandboxProvider.from_settings(settings(AGENT_SANDBOX="local", AGENT_LOCAL_INTERNET="0",
                                                      AGENT_LOCAL_ALLOW="example.org"))
    try:
        server = provider._local_server()
        args = list(server._process.args)
        assert args[args.index("--internet") + 1] == "off"
        assert args[args.index("--allow-domain") + 1] == "example.org"
    finally:
        provider.close()
