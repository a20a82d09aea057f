"""Status lines and notices under the chat (webui/status.py)."""

from __future__ import annotations

from agent.events import SandboxStatus, Usage
from webui.status import format_remaining, notices, sandbox_line, usage_line


def test_sandbox_line_and_usage_line():
    assert "not started yet" in sandbox_line(None, "local")
    st = SandboxStatus("ready", "local", "sbx1", expires_at=1000.0 + 872)
    assert sandbox_line(st, "local", now=1000.0) == "**Sandbox:** local · ready · expires in 14:32"
    failed = SandboxStatus("failed", "e2b", message="The sandbox service rejected the API key.")
    assert "failed — The sandbox service rejected" in sandbox_line(failed, "e2b")
    assert format_remaining(3725) == "1:02:05"
    assert usage_line(None) == "Nothing spent yet"
    line = usage_line(Usage(1200, 340, 50, 9000, 0.04234))
    assert "<summary>≈ $0.04 so far</summary>" in line  # one short phrase; the counts fold out on a click
    assert "1,200 tokens read" in line and "9,000 re-read from the cache" in line and "50 stored in" in line
    assert "$0.0423" in line
    assert "<summary>< $0.01 so far</summary>" in usage_line(Usage(10, 5, 0, 0, 0.0001))


def test_notices_explain_how_to_fix():
    assert notices(None, None, False) == ""
    text = notices("No Anthropic API key is set. Put ANTHROPIC_API_KEY=...", "The local sandbox cannot run", True)
    assert "ANTHROPIC_API_KEY" in text and "E2B_API_KEY" in text and "Spaces" in text
