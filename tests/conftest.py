"""Shared fixtures live in tests/support/*_fixtures.py, one module per area, registered here."""

pytest_plugins = [
    "tests.support.localbox_fixtures",  # a real local E2B-compatible sandbox server (agent.localbox)
    "tests.support.claude_fixtures",  # a scripted stand-in for the Anthropic Messages API
]
