"""agent.config.is_public: the one switch for a public deployment's safe defaults (Spaces, or beyond loopback)."""

from __future__ import annotations

import pytest

from agent.config import is_loopback_host, is_public, on_spaces


@pytest.mark.parametrize("env", [
    {},
    {"GRADIO_SERVER_NAME": "127.0.0.1"},
    {"GRADIO_SERVER_NAME": "127.0.1.1"},
    {"GRADIO_SERVER_NAME": " localhost "},
    {"GRADIO_SERVER_NAME": "::1"},
    {"SYSTEM": "", "SPACE_ID": " "},
])
def test_a_laptop_page_is_private(env):
    assert not is_public(env)


@pytest.mark.parametrize("env", [
    {"GRADIO_SERVER_NAME": "0.0.0.0"},
    {"GRADIO_SERVER_NAME": "192.168.1.20"},
    {"GRADIO_SERVER_NAME": "::"},
    {"GRADIO_SERVER_NAME": "my-host.example"},
    {"SYSTEM": "spaces"},
    {"SPACE_ID": "someone/demo", "GRADIO_SERVER_NAME": "127.0.0.1"},
])
def test_spaces_and_listening_beyond_loopback_are_public(env):
    assert is_public(env)


def test_helpers():
    assert on_spaces({"SYSTEM": "spaces"}) and on_spaces({"SPACE_ID": "a/b"}) and not on_spaces({})
    assert is_loopback_host("") and is_loopback_host("LOCALHOST") and not is_loopback_host("0.0.0.0")
