"""What people read about a turn, in plain words: step titles from each tool's templates, one duration format,
API failures that say what to do (operator details kept apart), the CLI's wording of the same facts."""

from __future__ import annotations

import re

import anthropic
import httpx2

import agent.tools  # noqa: F401  (defines the built-in tools and their display hints)
from agent.failures import NEW_CHAT, describe_api_failure
from agent.presenter import duration, in_terminal, step_title

OPERATOR_WORDS = re.compile(r"ANTHROPIC_|E2B_|_KEY\b|_URL\b|https?://|\(\d{3}\)|HTTP \d")


def test_step_titles_read_as_what_happened():
    assert step_title("execute_code", {"code": "print(1)"}, finished=True) == "Ran Python code"
    assert step_title("execute_code", {"code": "x", "language": "javascript"}, finished=False) == "Running JavaScript code"
    assert step_title("run_command", {"command": "npm install react"}, finished=True) == "Ran a command: npm install react"
    assert step_title("run_command", {}, finished=False) == "Running a command"  # before its input arrived
    assert step_title("write_file", {"path": "counter-app/index.html"}, finished=True) == "Wrote counter-app/index.html"
    assert step_title("edit_file", {"path": "app.py"}, finished=True) == "Edited app.py"
    assert step_title("edit_file", {}, finished=False) == "Editing a file"
    assert step_title("read_file", {"path": "data.csv"}, finished=True) == "Read data.csv"
    assert step_title("list_files", {"path": "src"}, finished=True) == "Looked at the files in src"
    assert step_title("list_files", {"path": "."}, finished=True) == "Looked at the files in the workspace"
    long = step_title("run_command", {"command": "echo " + "x" * 200}, finished=True)
    assert long.startswith("Ran a command: echo xxx") and long.endswith("…") and len(long) < 90


def test_a_tool_without_templates_still_gets_a_plain_title():
    assert step_title("web_search", {"query": "cats"}, finished=True) == "Web search: cats"
    assert step_title("web_search", {}, finished=False) == "Web search"


def test_durations_have_one_format():
    assert [duration(s) for s in (0.004, 0.04, 0.4, 1.23, 12.4, 59.4, 59.6, 125, 180)] == [
        "0.01 s", "0.04 s", "0.4 s", "1.2 s", "12 s", "59 s", "1 min", "2 min 5 s", "3 min"]


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "https://api.anthropic.com/v1/messages")


def _status(code: int, etype: str, message: str = "x") -> anthropic.APIStatusError:
    response = httpx2.Response(code, request=_request(), json={"type": "error", "error": {"type": etype, "message": message}})
    return anthropic.APIStatusError(message, response=response, body={"type": "error", "error": {"type": etype, "message": message}})


def test_failures_say_what_to_do_and_keep_operator_details_apart():
    cases = [
        anthropic.APIConnectionError(request=_request()),
        _status(401, "authentication_error"),
        _status(403, "permission_error"),
        _status(429, "rate_limit_error"),
        _status(529, "overloaded_error"),
        _status(404, "not_found_error"),
        _status(400, "invalid_request_error", "prompt is too long: 300000 tokens"),
        _status(500, "api_error"),
    ]
    for exc in cases:
        failure = describe_api_failure(exc, "claude-test")
        assert not OPERATOR_WORDS.search(failure.message), failure.message
        assert failure.detail, f"no operator detail for {failure.message!r}"
        assert "_error" not in failure.detail, f"an SDK error type in the details: {failure.detail!r}"
    assert "ANTHROPIC_BASE_URL" in describe_api_failure(cases[0], "m").detail
    assert "ANTHROPIC_API_KEY" in describe_api_failure(cases[1], "m").detail
    assert "Settings" in describe_api_failure(cases[1], "m").message  # a control that exists on the page
    assert NEW_CHAT in describe_api_failure(cases[6], "m").message
    assert "Start a new chat" not in describe_api_failure(cases[6], "m").message


def test_the_terminal_says_how_to_start_over_in_its_own_terms():
    said = in_terminal(f"The conversation is too long for the model. {NEW_CHAT}")
    assert "New chat" not in said and "python -m agent" in said


def test_counts_are_said_in_plain_words_not_file_s() -> None:
    from agent.presenter import count_of

    assert [count_of(n, "file") for n in (0, 1, 2)] == ["no files", "1 file", "2 files"]


def test_a_stopped_step_is_not_titled_as_if_it_still_ran() -> None:
    from agent.presenter import stopped_title

    assert stopped_title("Running a command: npm install react") == "Stopped while running a command: npm install react"
    assert stopped_title("Looking at the files in src") == "Stopped while looking at the files in src"
    assert stopped_title("Web search: cats") == "Stopped: Web search: cats"
