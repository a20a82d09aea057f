"""Fixtures for the scripted Claude stand-in server, shared by every test area.

``claude`` (function-scoped) is a fresh script on one session-wide :class:`ClaudeStandin`::

    def test_hello(claude):
        claude.push(text_reply("Hi there", chunks=3))
        client = anthropic.Anthropic(base_url=claude.base_url, api_key=claude.api_key)
        ...
        assert claude.requests[0].body["model"] == ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.claude_standin import ClaudeStandin, Responder, Response

FAKE_ANTHROPIC_KEY = "test-key-standin"  # obviously fake; tests check it never leaks into events or sandboxes


class ClaudeScript:
    """One test's view of the shared stand-in: push replies, read what the agent sent."""

    api_key = FAKE_ANTHROPIC_KEY

    def __init__(self, server: ClaudeStandin) -> None:
        self.server = server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def push(self, *responses: Response) -> None:
        self.server.push(*responses)

    def respond_with(self, responder: Responder | None) -> None:
        self.server.respond_with(responder)

    @property
    def requests(self):  # list[RecordedRequest]
        return self.server.requests

    @property
    def marks(self):  # list[Mark]
        return self.server.marks

    @property
    def pending(self) -> int:
        return self.server.pending

    def wait_for(self, label: str, request: int | None = None, timeout: float = 10.0) -> bool:
        return self.server.wait_for(label, request, timeout)

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (e.g. ``python -m agent``) that should talk to this stand-in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "E2B_"))}
        env.update(ANTHROPIC_BASE_URL=self.base_url, ANTHROPIC_API_KEY=self.api_key)
        return env


@pytest.fixture(scope="session")
def claude_server() -> Iterator[ClaudeStandin]:
    server = ClaudeStandin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def claude(claude_server: ClaudeStandin) -> Iterator[ClaudeScript]:
    claude_server.reset()
    try:
        yield ClaudeScript(claude_server)
    finally:
        claude_server.reset()
