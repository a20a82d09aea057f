"""API failures: plain-words Error events, Done(stop_reason="error"), a valid transcript, and the next turn works."""

from __future__ import annotations

import json
import re
import time

import pytest

from agent.events import ToolRunning
from tests.agent.helpers import (
    Error,
    TextDelta,
    agent_session,
    assert_valid_transcript,
    collect,
    make_settings,
    run,
)
from tests.support.claude_standin import (
    Hang,
    Reply,
    Text,
    ToolUse,
    forbidden,
    http_error,
    overloaded,
    prompt_too_long,
    rate_limited,
    server_error,
    text_reply,
    unauthorized,
)

TECHNICAL = re.compile(r"Traceback|File \"|Exception|Error code:|\{'type'|request_id|httpx|anthropic\.", re.I)


def _assert_plain(err: Error, claude) -> None:
    assert err.message and len(err.message) < 400, f"error message should be short plain words: {err.message!r}"
    assert not TECHNICAL.search(err.message), f"error message looks technical: {err.message!r}"
    assert claude.api_key not in err.message


def _failed_turn_then_recovery(claude, provider, first_prompt="hello", **settings_changes):
    """Run a turn expected to fail, then a normal turn.

    Returns both turns, the transcript, and how many model requests the failing turn made.
    """

    async def scenario():
        async with agent_session(make_settings(claude, **settings_changes), provider) as s:
            t1 = await collect(s, first_prompt)
            made = len(claude.requests)
            claude.respond_with(None)
            claude.push(text_reply("Back again."))
            t2 = await collect(s, "try again")
            return t1, t2, list(s.messages), made

    return run(scenario())


@pytest.mark.parametrize("response, kinds, words", [
    (unauthorized(), {"auth"}, r"key"),
    (forbidden(), {"auth", "permission"}, r"key|permission|access"),
    (prompt_too_long(), {"bad_request"}, r"new (chat|conversation)"),
])
def test_non_retryable_http_errors(claude, provider, response, kinds, words):
    claude.push(response)
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider)
    errors = t1.errors
    assert errors, f"an Error event is expected; events:\n{t1.describe()}"
    assert errors[-1].kind in kinds, f"kind {errors[-1].kind!r} not in {kinds}"
    _assert_plain(errors[-1], claude)
    assert re.search(words, errors[-1].message, re.I), f"the message should say what to do: {errors[-1].message!r}"
    assert t1.done.stop_reason == "error", t1.describe()
    assert made == 1, f"must not be retried: the failing turn made {made} requests"
    assert t2.text == "Back again." and t2.done.stop_reason == "end_turn", t2.describe()
    assert_valid_transcript(messages)
    assert_valid_transcript(claude.requests[-1].messages)


@pytest.mark.parametrize("make, kind", [
    (lambda: overloaded(), "overloaded"),
    (lambda: server_error(), "server"),
])
def test_retryable_http_errors_exhausted(claude, provider, make, kind):
    claude.respond_with(lambda req: make())
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider)
    errors = t1.errors
    assert errors and errors[-1].kind == kind, f"expected Error(kind={kind!r}); events:\n{t1.describe()}"
    assert not errors[-1].retrying, "the last Error must not claim a retry is coming"
    _assert_plain(errors[-1], claude)
    assert t1.done.stop_reason == "error"
    assert made >= 3, f"a 5xx must be retried (by the loop, announced) before giving up (made {made} requests)"
    assert t2.text == "Back again.", t2.describe()
    assert_valid_transcript(messages)


def test_rate_limit_then_success_through_retry(claude, provider):
    claude.push(rate_limited(retry_after=1), text_reply("Made it after waiting."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello")

    turn = run(scenario())
    assert turn.text == "Made it after waiting.", turn.describe()
    assert turn.done.stop_reason == "end_turn", turn.describe()
    assert len(claude.requests) == 2
    assert claude.requests[1].received_at - claude.requests[0].received_at >= 0.9, "retry-after was not honoured"
    assert all(e.retrying for e in turn.errors), f"only 'retrying' notices are allowed on success: {turn.errors}"


def test_rate_limit_exhausted_says_how_long_to_wait(claude, provider):
    claude.respond_with(lambda req: rate_limited(retry_after=3))
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider, api_max_retries=1)
    final = [e for e in t1.errors if not e.retrying]
    assert final and final[-1].kind == "rate_limit", t1.describe()
    _assert_plain(final[-1], claude)
    assert re.search(r"wait|try again (in|later)", final[-1].message, re.I), (
        f"the message should mention waiting: {final[-1].message!r}")
    assert re.search(r"\b3\s*(s\b|sec)", final[-1].message, re.I), (
        f"the message should say how long to wait (retry-after was 3 s): {final[-1].message!r}")
    assert t1.done.stop_reason == "error"
    assert t2.text == "Back again.", t2.describe()


def test_timeout_when_the_api_never_answers(claude, provider):
    claude.respond_with(lambda req: Hang(20))
    t0 = time.monotonic()
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider, api_timeout_s=1.0, api_max_retries=1)
    assert time.monotonic() - t0 < 30
    errors = t1.errors
    assert errors and errors[-1].kind in ("timeout", "connection"), t1.describe()
    _assert_plain(errors[-1], claude)
    assert t1.done.stop_reason == "error"
    assert t2.text == "Back again.", t2.describe()


@pytest.mark.parametrize("end", ["error", "drop", "drop_dirty"])
def test_stream_breaks_after_some_text(claude, provider, end):
    claude.push(Reply((Text("Partial answer that ", chunks=3, delay=0.02),), end=end))
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider)
    assert t1.text == "Partial answer that ", (
        f"the text already shown must be kept and never repeated; events:\n{t1.describe()}")
    errors = [e for e in t1.errors if not e.retrying]
    assert errors, f"a broken stream ({end}) must end with an Error event; events:\n{t1.describe()}"
    assert errors[-1].kind in ("overloaded", "connection", "server"), errors[-1]
    _assert_plain(errors[-1], claude)
    assert t1.done.stop_reason == "error", t1.describe()
    assert t2.text == "Back again.", t2.describe()
    assert "Partial answer that" in json.dumps(messages), "the partial reply must stay in the transcript"
    assert_valid_transcript(messages)
    assert_valid_transcript(claude.requests[-1].messages)


def test_stream_breaks_inside_a_tool_call(claude, provider):
    """A tool_use whose input never completed must not run, and must not leave the transcript invalid."""
    claude.push(Reply((Text("Let me run this."),
                       ToolUse("run_command", {"command": "echo should-not-run"}, id="toolu_cut", chunk=4, delay=0.01)),
                      end="drop"))
    t1, t2, messages, made = _failed_turn_then_recovery(claude, provider)
    assert not [e for e in t1.of(ToolRunning) if e.id == "toolu_cut"], "an incomplete tool call must not run"
    assert t1.done.stop_reason == "error", t1.describe()
    assert t2.text == "Back again.", t2.describe()
    assert_valid_transcript(messages)
    assert_valid_transcript(claude.requests[-1].messages)


def test_key_never_appears_in_events(claude, provider):
    claude.push(unauthorized())

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello")

    turn = run(scenario())
    dumped = json.dumps([e.to_dict() for e in turn.events])
    assert claude.api_key not in dumped
    assert turn.of(TextDelta) == [] and turn.done.stop_reason == "error"


# ----- keys in error text -------------------------------------------------------------------------------------
# Keys are generated here in their real shapes (never written out: a key-shaped literal must not be committed).

_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _anthropic_shaped_key() -> str:
    """``sk-ant-api03-`` then 95 characters of letters, digits, ``-`` and ``_`` (as Anthropic's keys are)."""
    import secrets

    body = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(93)) + "AA"
    return "sk-" + "ant-" + "api03-" + body


def _e2b_shaped_key() -> str:
    """``e2b_`` then 40 hex digits (as E2B's keys are)."""
    import secrets

    return "e2b" + "_" + secrets.token_hex(20)


def _assert_no_key_left(text: str, *keys: str) -> None:
    for key in keys:
        body = key.split("-", 3)[-1] if key.startswith("sk-") else key[4:]
        pieces = {body[i:i + 8] for i in range(len(body) - 7)}
        left = [p for p in pieces if p in text]
        assert not left, f"part of a key survived ({len(left)} pieces of 8 characters): {text!r}"


def test_scrub_blanks_real_shaped_keys_wherever_they_stand():
    from agent.failures import scrub

    for _ in range(20):  # random bodies: a '-' or '_' anywhere in the key must not let its tail through
        ant, e2b = _anthropic_shaped_key(), _e2b_shaped_key()
        assert len(ant) >= 108 and len(e2b) == 44
        for text in (
            f"invalid x-api-key: {ant}",
            f"Authorization: Bearer {ant}\nsandbox key {e2b}.",
            f'{{"error": {{"message": "key \'{ant}\' and \\"{e2b}\\" rejected"}}}}',
            f"https://api.e2b.test/sandboxes?api_key={e2b}&next={ant}",
            f"{'x' * 150} {ant}",  # a key across the length limit
            f"({e2b}),[{ant}]",
        ):
            out = scrub(text)
            _assert_no_key_left(out, ant, e2b)
            assert "[key]" in out, out


def test_an_api_error_quoting_the_key_is_told_without_it(claude, provider):
    key = _anthropic_shaped_key()
    claude.push(http_error(400, "invalid_request_error", f"invalid request: header x-api-key={key} is malformed"))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "hello")

    turn = run(scenario())
    error = turn.of(Error)[0]
    assert "[key]" in error.detail and "malformed" in error.detail, error.detail  # the operator's detail, scrubbed
    _assert_no_key_left(json.dumps([e.to_dict() for e in turn.events]), key)


def test_a_sandbox_error_quoting_a_key_is_told_without_it():
    from e2b import NotFoundException, SandboxException

    from agent.sandbox.facade import translated_errors

    key = _e2b_shaped_key()
    for raised in (SandboxException(f"request with key {key} failed"), NotFoundException(f"no file for {key}")):
        with pytest.raises(Exception) as info, translated_errors():
            raise raised
        assert type(info.value).__module__.startswith("agent."), type(info.value)
        _assert_no_key_left(str(info.value), key)
