"""Fixtures for the agent's end-to-end tests: one sandbox provider (embedded local sandbox server) per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def provider() -> Iterator[Any]:
    """The process-wide sandbox factory in local mode (starts agent.localbox lazily; stopped at the end)."""
    from agent.config import Settings
    from agent.sandbox import SandboxProvider

    settings = Settings.from_env().replace(sandbox="local", e2b_api_key=None, e2b_api_url=None,
                                           e2b_sandbox_url=None, e2b_domain=None)
    p = SandboxProvider.from_settings(settings)
    assert p.kind == "local", f"provider should be local for these tests, got {p.kind!r}"
    try:
        yield p
    finally:
        p.close()
