"""Settings: one frozen object built from the environment (and ``.env``), overridable per session.

Why frozen: a browser session that brings its own key or picks another model gets its own copy via
``replace(...)``; nothing is shared or mutated between sessions. Keys are excluded from ``repr`` so they
never reach a log by accident.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

from dotenv import dotenv_values

from agent.models import DEFAULT_MODEL

SandboxChoice = Literal["auto", "local", "e2b"]

APP_NAME = "claude-coding-agent"


@dataclass(frozen=True)
class Settings:
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    model: str = DEFAULT_MODEL

    e2b_api_key: str | None = field(default=None, repr=False)
    e2b_api_url: str | None = None
    e2b_sandbox_url: str | None = None
    e2b_domain: str | None = None
    e2b_template: str | None = None  # None: the code interpreter's default template
    sandbox: SandboxChoice = "auto"

    max_tool_steps: int = 25  # model<->tool round trips per user turn
    max_tool_output_chars: int = 16000  # what one tool result may put into the model's context
    tool_timeout_s: float = 120.0  # one execute_code / run_command call
    sandbox_idle_timeout_s: int = 900  # sandbox lifetime, restarted on every use (sliding)
    max_tokens: int = 16000  # output tokens per model request
    thinking: bool = True  # adaptive thinking, summarized
    api_max_retries: int = 4  # SDK retries before a stream starts (429/5xx/connection)
    api_timeout_s: float = 300.0  # longest silence tolerated on a model stream
    local_allow_internet: bool = False  # local sandboxes share the host network (off: loopback only)
    local_allow_unisolated: bool = False  # run local sandboxes without the bubblewrap jail (unsafe; last resort)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> "Settings":
        """Read settings from ``env`` (default ``os.environ``) over the values in ``.env`` (real env wins)."""
        values: dict[str, str] = {}
        if dotenv_path is not None:
            path = Path(dotenv_path)
            if not path.is_file() and not path.is_absolute():
                path = Path(__file__).resolve().parent.parent / path  # next to app.py when run from elsewhere
            if path.is_file():
                values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        values.update(os.environ if env is None else env)

        def get(name: str) -> str | None:
            v = values.get(name)
            return v.strip() if v and v.strip() else None

        def num(name: str, default, cast):
            raw = get(name)
            if raw is None:
                return default
            try:
                return cast(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None

        def flag(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            return raw.lower() in ("1", "true", "yes", "on")

        sandbox = (get("AGENT_SANDBOX") or "auto").lower()
        if sandbox not in ("auto", "local", "e2b"):
            raise ValueError(f"AGENT_SANDBOX must be auto, local or e2b, got {sandbox!r}")

        d = cls()
        return cls(
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            model=get("ANTHROPIC_MODEL") or DEFAULT_MODEL,
            e2b_api_key=get("E2B_API_KEY"),
            e2b_api_url=get("E2B_API_URL"),
            e2b_sandbox_url=get("E2B_SANDBOX_URL"),
            e2b_domain=get("E2B_DOMAIN"),
            e2b_template=get("E2B_TEMPLATE"),
            sandbox=sandbox,  # type: ignore[arg-type]
            max_tool_steps=num("AGENT_MAX_TOOL_STEPS", d.max_tool_steps, int),
            max_tool_output_chars=num("AGENT_MAX_OUTPUT_CHARS", d.max_tool_output_chars, int),
            tool_timeout_s=num("AGENT_TOOL_TIMEOUT", d.tool_timeout_s, float),
            sandbox_idle_timeout_s=num("AGENT_SANDBOX_TIMEOUT", d.sandbox_idle_timeout_s, int),
            max_tokens=num("AGENT_MAX_TOKENS", d.max_tokens, int),
            thinking=flag("AGENT_THINKING", d.thinking),
            api_max_retries=num("AGENT_API_RETRIES", d.api_max_retries, int),
            api_timeout_s=num("AGENT_API_TIMEOUT", d.api_timeout_s, float),
            local_allow_internet=flag("AGENT_LOCAL_INTERNET", d.local_allow_internet),
            local_allow_unisolated=flag("AGENT_LOCAL_UNISOLATED", d.local_allow_unisolated),
        )

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (per-session model choice, the user's own key, ...)."""
        return dataclasses.replace(self, **changes)

    @property
    def kind(self) -> Literal["local", "e2b"]:
        """Which sandbox provider these settings select (auto: E2B when any E2B setting is present)."""
        if self.sandbox != "auto":
            return self.sandbox
        if self.e2b_api_key or self.e2b_api_url or self.e2b_sandbox_url or self.e2b_domain:
            return "e2b"
        return "local"

    def missing_key_message(self) -> str | None:
        """Plain words telling a person how to add an Anthropic key, or None when one is set."""
        if self.anthropic_api_key:
            return None
        return (
            "No Anthropic API key is set. Put ANTHROPIC_API_KEY=... in a .env file next to app.py "
            "(or export it in the shell), or paste your own key in Settings."
        )
