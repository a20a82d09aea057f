"""Plain-words lines for the page: sandbox status, token usage and cost, setup notices.

Pure functions of their inputs (the clock is a parameter) so they are trivial to test and cheap to call
on every timer tick.
"""

from __future__ import annotations

import time
from typing import Any

from agent.events import SandboxStatus, Usage

_STATE_WORDS = {
    "waiting": "waiting for a free sandbox (the demo is busy)",
    "starting": "starting…",
    "ready": "ready",
    "restarted": "ready (fresh)",
    "closed": "closed (a new one starts with your next message)",
    "failed": "failed",
}


def format_remaining(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def sandbox_line(status: SandboxStatus | None, kind: str, now: float | None = None) -> str:
    """E.g. ``Sandbox: local · ready · expires in 14:32`` (the expiry slides forward with every use)."""
    if status is None:
        return f"**Sandbox:** {kind} · not started yet (it starts when you send a message)"
    words = _STATE_WORDS.get(status.state, status.state)
    line = f"**Sandbox:** {status.provider} · {words}"
    if status.state in ("ready", "restarted") and status.expires_at:
        remaining = status.expires_at - (time.time() if now is None else now)
        line += f" · expires in {format_remaining(remaining)}" if remaining > 0 else " · expired (a new one starts with your next message)"
    if status.state == "failed" and status.message:
        line += f" — {status.message}"
    return line


def usage_line(usage: Usage | None) -> str:
    """One short phrase, "≈ $0.04 so far"; the token counts behind it fold out on a click (details on demand)."""
    if usage is None or (usage.input_tokens + usage.output_tokens + usage.cache_read_tokens + usage.cache_write_tokens) == 0:
        return "Nothing spent yet"
    cost = "< $0.01" if usage.cost_usd < 0.005 else f"≈ ${usage.cost_usd:,.2f}"
    parts = [f"{usage.input_tokens:,} tokens read", f"{usage.output_tokens:,} written"]
    if usage.cache_read_tokens:
        parts.append(f"{usage.cache_read_tokens:,} re-read from the cache")
    if usage.cache_write_tokens:
        parts.append(f"{usage.cache_write_tokens:,} stored in the cache")
    detail = " · ".join(parts)
    return (f"<details><summary>{cost} so far</summary>\n\n{detail} (estimated ${usage.cost_usd:.4f} in US dollars "
            "at the model's list price)</details>")


def notices(missing_key: str | None, sandbox_problem: str | None, on_spaces: bool) -> str:
    """The banner above the chat: what is missing and exactly how to fix it. Empty when all is well."""
    lines: list[str] = []
    if missing_key:
        lines.append(f"⚠️ **Setup needed:** {missing_key}")
    if sandbox_problem:
        hint = (
            " On Hugging Face Spaces the local sandbox usually cannot run: add an `E2B_API_KEY` secret in the "
            "Space's settings to use E2B's cloud sandboxes instead."
            if on_spaces
            else " Install bubblewrap (`apt-get install bubblewrap`) or set `E2B_API_KEY` to use E2B's cloud sandboxes."
        )
        lines.append(f"⚠️ **Sandbox unavailable:** {sandbox_problem.rstrip('.')}. Code cannot run until this is fixed.{hint}")
    return "\n\n".join(lines)


def safe_usage(session: Any) -> Usage | None:
    try:
        return session.usage
    except Exception:
        return None
