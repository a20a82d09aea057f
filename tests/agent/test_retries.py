"""Retries and dropped replies: who owns a retry, how many, that each is announced (the page's notice, the plain
CLI's stderr), a long retry-after ends the turn instead of waiting, and a stream cut mid-reply is worded as a
dropped connection."""

from __future__ import annotations

import asyncio

import anthropic
import httpx2
import pytest

from agent import claude_client
from agent.failures import describe_api_failure
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.agent.test_cli import _cli, _show
from tests.support.claude_standin import (
    Hang,
    Reply,
    Text,
    overloaded,
    rate_limited,
    text_reply,
)

# ---------------------------------------------------------------- retries are announced in the plain CLI


def test_plain_cli_announces_a_retry_on_stderr(claude, tmp_path):
    claude.push(overloaded(), text_reply("Made it."))
    proc = _cli(claude, tmp_path, "hello")
    assert proc.returncode == 0, _show(proc)
    assert "Made it." in proc.stdout, _show(proc)
    assert "retrying in" in proc.stderr.lower() and "overloaded" in proc.stderr.lower(), (
        f"a retry must be announced on stderr in plain mode:\n{_show(proc)}")
    assert "retrying" not in proc.stdout.lower(), "retry notices belong on stderr, not in the answer"


# ---------------------------------------------------------------- one layer retries, bounded, not silent


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


# ---------------------------------------------------------------- a connection dropped mid-reply


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
