"""Settings: one frozen object built from the environment (and ``.env``), overridable per session.

Why frozen: a browser session that brings its own key or picks another model gets its own copy via
``replace(...)``; nothing is shared or mutated between sessions. Keys are excluded from ``repr`` so they
never reach a log by accident.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from agent.models import DEFAULT_MODEL

SandboxChoice = Literal["auto", "local", "e2b"]

APP_NAME = "claude-coding-agent"
CHECKOUT = Path(__file__).resolve().parent.parent  # where app.py and scripts/run.sh live
ENV_FILE_VAR = "AGENT_ENV_FILE"  # an explicit .env path; set but empty: read no .env at all


class EnvFileError(ValueError):
    """A ``.env`` file that cannot be read as a whole: plain words naming the file and line, never a value."""


def find_env_file(env: Mapping[str, str], cwd: Path, checkout: Path = CHECKOUT) -> Path | None:
    """Which ``.env`` to read.

    ``AGENT_ENV_FILE`` when set (empty: none). Otherwise ``.env`` in the working directory, else the one in the
    checkout: the page is started from the checkout (scripts/run.sh), and someone running the CLI from a project
    folder (``PYTHONPATH=<checkout> <checkout>/.venv/bin/python -m agent ...``: the checkout is not installed
    as a package, so Python finds ``agent`` only through PYTHONPATH there) expects the key they put next to
    app.py to work too. A working-directory ``.env`` wins as a whole (the two are not merged), so a project can
    bring its own settings.
    """
    if ENV_FILE_VAR in env:
        raw = env[ENV_FILE_VAR].strip()
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise EnvFileError(f"{ENV_FILE_VAR} names {path}, which is not a file.")
        return path
    for folder in (cwd, checkout):
        if (folder / ".env").is_file():
            return folder / ".env"
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of one ``.env`` file; EnvFileError for a line python-dotenv cannot parse or a binary file.

    python-dotenv itself skips a bad line with a log warning, so a missing closing quote on the key's line used
    to end in "No Anthropic API key is set". The message names the file and line numbers only: the line's text
    may hold a key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EnvFileError(f"{path} is not a text file (it is not UTF-8). A .env file holds NAME=value lines; "
                           "fix or remove it.") from None
    except OSError as exc:
        raise EnvFileError(f"{path} cannot be read ({exc.strerror or 'unreadable'}).") from None
    bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    if bad:
        where = f"line {bad[0]}" if len(bad) == 1 else "lines " + ", ".join(map(str, bad[:5]))
        raise EnvFileError(f"{path}: {where} could not be read (a NAME=value line with an unclosed quote or "
                           "stray characters?). Fix it and start again.")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


_PLACEHOLDER_MARKS = ("your-key", "your_key", "yourkey", "your-api-key", "your_api_key", "...", "<", ">")


def is_placeholder_key(value: str) -> bool:
    """True for an example value such as ``sk-ant-your-key-here`` or ``sk-ant-...``: not a key anyone was given.

    A literal copy of an example file used to count as "a key is set", so the page hid its guidance and the first
    message ended in "Claude rejected the API key". Real keys are letters, digits, ``-`` and ``_`` only, so these
    marks never occur in one.
    """
    low = value.strip().lower()
    return any(mark in low for mark in _PLACEHOLDER_MARKS)


_INTERNET_WORDS = {"registries": "registries", "all": "all", "off": "off", "1": "all", "true": "all", "yes": "all",
                   "on": "all", "0": "off", "false": "off", "no": "off"}


def internet_mode(raw: str | None, default: str) -> str:
    """AGENT_LOCAL_INTERNET: registries, all or off (1/0 and yes/no, the older switch, mean all/off)."""
    if raw is None:
        return default
    mode = _INTERNET_WORDS.get(raw.lower())
    if mode is None:
        raise ValueError(f"AGENT_LOCAL_INTERNET must be registries, all or off, got {raw!r}")
    return mode


def domain_list(raw: str | None) -> tuple[str, ...]:
    """AGENT_LOCAL_ALLOW: domain names separated by commas (or spaces); `*.example.org` covers the names under it."""
    names = tuple(part for part in raw.replace(",", " ").split()) if raw else ()
    for name in names:
        bare = name[2:] if name.startswith("*.") else name
        if not bare or not all(c.isalnum() or c in "-." for c in bare) or bare.replace(".", "").isdigit():
            raise ValueError(f"AGENT_LOCAL_ALLOW must list domain names like example.org or *.example.org, "
                             f"got {name!r}")
    return names


@dataclass(frozen=True)
class Settings:
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_key_placeholder: bool = field(default=False, repr=False)  # the env held an example value, not a key
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
    api_max_retries: int = 2  # the loop's announced retries of a request nothing of which was shown (SDK: none)
    api_timeout_s: float = 300.0  # longest silence tolerated inside a model stream (its start: at most 60 s)
    local_internet: str = "registries"  # what local sandboxes reach: registries, all (public addresses) or off
    local_allow_domains: tuple[str, ...] = ()  # extra domains local sandboxes reach (example.org, *.example.org)
    local_allow_unisolated: bool = False  # run local sandboxes without the bubblewrap jail (unsafe; last resort)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
        """Read settings from ``env`` (default ``os.environ``) over the values of a ``.env`` file (real env wins).

        ``dotenv_path=".env"`` (the default) means the lookup of ``find_env_file``; another path reads exactly
        that file if it exists; ``None`` reads none. Raises ValueError (EnvFileError) with plain words for a
        setting or a ``.env`` file that cannot be used.
        """
        source = os.environ if env is None else env
        values: dict[str, str] = {}
        if dotenv_path is not None:
            if str(dotenv_path) == ".env":
                path = find_env_file(source, Path.cwd())
            else:
                path = Path(dotenv_path) if Path(dotenv_path).is_file() else None
            if path is not None:
                values.update(read_env_file(path))
        values.update(source)

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
        key = get("ANTHROPIC_API_KEY")
        placeholder = key is not None and is_placeholder_key(key)
        return cls(
            anthropic_api_key=None if placeholder else key,
            anthropic_key_placeholder=placeholder,
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
            local_internet=internet_mode(get("AGENT_LOCAL_INTERNET"), d.local_internet),
            local_allow_domains=domain_list(get("AGENT_LOCAL_ALLOW")),
            local_allow_unisolated=flag("AGENT_LOCAL_UNISOLATED", d.local_allow_unisolated),
        )

    def replace(self, **changes) -> Settings:
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

    def missing_key_message(self, where: Literal["page", "cli"] = "page") -> str | None:
        """Plain words telling a person how to add an Anthropic key, or None when one is set.

        ``where`` picks the advice: the page can take a pasted key in its Settings, the terminal cannot.
        """
        if self.anthropic_api_key:
            return None
        why = ("ANTHROPIC_API_KEY holds the example placeholder, not a key. " if self.anthropic_key_placeholder
               else "No Anthropic API key is set. ")
        if where == "cli":
            return why + (
                "Export it in the shell (export ANTHROPIC_API_KEY=...), or put ANTHROPIC_API_KEY=... in a .env "
                "file in this folder or next to app.py in the checkout."
            )
        return why + (
            "Put ANTHROPIC_API_KEY=... in a .env file next to app.py "
            "(or export it in the shell), or paste your own key in Settings."
        )


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of the ``.env`` file ``Settings.from_env`` reads, overlaid by the real environment.

    For settings read outside ``Settings`` (the page's hosting options, guardrails), so a value put in ``.env``
    counts the same as an exported one. EnvFileError for a ``.env`` that cannot be read.
    """
    source = os.environ if env is None else env
    path = find_env_file(source, Path.cwd())
    values = read_env_file(path) if path is not None else {}
    values.update(source)
    return values


_LOOPBACK_NAMES = frozenset({"localhost", "::1", "[::1]", "ip6-localhost"})


def on_spaces(env: Mapping[str, str] | None = None) -> bool:
    """True when running as a Hugging Face Space (the platform sets ``SYSTEM=spaces`` and ``SPACE_ID``)."""
    source = os.environ if env is None else env
    return source.get("SYSTEM", "").strip() == "spaces" or bool(source.get("SPACE_ID", "").strip())


def is_loopback_host(host: str) -> bool:
    """True for an address only this machine can reach (``127.0.0.0/8``, ``::1``, ``localhost``); empty = default."""
    name = host.strip().lower()
    return not name or name in _LOOPBACK_NAMES or name.startswith("127.")


def is_public(env: Mapping[str, str] | None = None) -> bool:
    """True when strangers may reach the page: on Spaces, or when it listens beyond loopback.

    The one switch for the safe defaults of a public deployment (security headers for Spaces, guardrails,
    access). ``GRADIO_SERVER_NAME`` is where the page listens (default ``127.0.0.1``); ``0.0.0.0``, a LAN
    address or a host name other than localhost count as public.
    """
    source = os.environ if env is None else env
    return on_spaces(source) or not is_loopback_host(source.get("GRADIO_SERVER_NAME", ""))
