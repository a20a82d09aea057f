"""Fixtures for a real local sandbox server (agent.localbox), shared by every test area.

`localbox` starts ONE server per test session as a child process (real bubblewrap jails, real sockets) and
stops it at the end; `sandbox` creates a fresh `e2b_code_interpreter.Sandbox` on it for one test and kills it
afterwards. If the jail cannot be built on this machine the fixture fails loudly (it never skips).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent.localbox import LocalboxUnavailable, LocalServer, start_server


def serve(options: tuple[str, ...] = ()) -> Iterator[LocalServer]:
    """Start a server (failing the test loudly if it cannot), yield it, stop it: the body of server fixtures."""
    try:
        server = start_server(options=options)
    except LocalboxUnavailable as exc:
        pytest.fail(f"the local sandbox server cannot start here: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def localbox() -> Iterator[LocalServer]:
    """A started local E2B-compatible server; use `localbox.sdk_options()` with the unmodified SDK."""
    yield from serve()


def sandbox_for(localbox: LocalServer, timeout: int = 300) -> Iterator[Any]:
    """Create an `e2b_code_interpreter.Sandbox` on ``localbox``, yield it, kill it: the body of sandbox fixtures
    (a module may share one sandbox between its tests with a module-scoped fixture built on this)."""
    from e2b_code_interpreter import Sandbox

    sbx = Sandbox.create(timeout=timeout, **localbox.sdk_options())
    try:
        yield sbx
    finally:
        try:
            sbx.kill()
        except Exception:  # already killed by the test: nothing left to free
            pass


@contextlib.asynccontextmanager
async def async_sandbox_for(localbox: LocalServer) -> AsyncIterator[Any]:
    """An `e2b_code_interpreter.AsyncSandbox` on ``localbox`` for the body of an ``async with``, killed after it."""
    from e2b_code_interpreter import AsyncSandbox

    sbx = await AsyncSandbox.create(**localbox.sdk_options())
    try:
        yield sbx
    finally:
        await sbx.kill()


@pytest.fixture
def sandbox(localbox: LocalServer) -> Iterator[Any]:
    """A fresh `e2b_code_interpreter.Sandbox` on the session's local server, killed after the test."""
    yield from sandbox_for(localbox)
