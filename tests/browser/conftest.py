"""Browser test harness: the REAL page (app wiring, AgentSession, embedded local sandbox) in this process,
the Claude stand-in for the model, and Debian's Chromium driven by Playwright.

Gradio's environment for tests (no analytics, short heartbeats, a private cache) is set in tests/conftest.py.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_config(url: str, timeout: float = 60.0) -> None:
    """Gradio prints "Running on" before it answers; the page is usable once /config answers 200."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=5) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, behind a login (AGENT_PASSWORD)
                return
            last = exc
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"the page at {url} did not come up: {last}")


@dataclass
class RunningPage:
    url: str
    demo: Any
    provider: Any
    settings: Any

    @property
    def registry(self):
        return self.demo.registry


def launch_page(settings: Any, provider: Any, **options: Any) -> RunningPage:
    """Build and launch the page like app.py does (lifespan, headers, limits), on a free port, without blocking.

    ``hosting=Hosting(...)`` among the options sets login, limits and the Spaces headers (webui/hosting.py).
    """
    from webui.admission import Caps, SessionPolicy
    from webui.hosting import Hosting
    from webui.lifecycle import make_lifespan
    from webui.liveness import heartbeat_middleware
    from webui.look import launch_options
    from webui.page import PageOptions, build_demo

    options.setdefault("hosting", Hosting())
    # A closed tab's conversation is kept for a short grace (a reload); 3 s here so tab-close tests stay quick.
    # Every test browser comes from 127.0.0.1: the per-visitor cap is lifted unless a test sets its own.
    options.setdefault("sessions", SessionPolicy(reconnect_grace_s=3.0, caps=Caps(per_client=50, total=50)))
    demo = build_demo(settings, provider, PageOptions(**options))
    port = free_port()
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        max_threads=40,
        **launch_options(),
        **options["hosting"].launch_kwargs(make_lifespan(demo.registry, provider),
                                           [heartbeat_middleware(demo.registry.heartbeats)]),
    )
    url = f"http://127.0.0.1:{port}/"
    wait_for_config(url)
    return RunningPage(url, demo, provider, settings)


def serve_page(running: RunningPage) -> Iterator[RunningPage]:
    """Yield a launched page, then close it and its sandbox provider: the body of page fixtures."""
    try:
        yield running
    finally:
        running.demo.close()
        running.provider.close()


def base_settings(**changes: Any) -> Any:
    """Settings from an empty environment (no .env, no E2B): local sandbox, short retries for quick tests."""
    from agent.config import Settings

    return Settings.from_env(env={}, dotenv_path=None).replace(sandbox="local", api_max_retries=0, **changes)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running on the main thread while it
    # is open, which would break later test modules that call asyncio.run().
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed for the browser tests: {CHROMIUM} is missing (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def app(claude_server: Any) -> Iterator[RunningPage]:
    """The real page with a key, talking to the stand-in, with the embedded local sandbox."""
    from agent.sandbox import SandboxProvider
    from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY

    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    yield from serve_page(launch_page(settings, provider))


@pytest.fixture
def page(browser: Any, app: RunningPage) -> Iterator[Any]:
    """A fresh browser context (= a new Gradio session) on the page, closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.goto(app.url)
    pg.get_by_test_id("textbox").wait_for(timeout=30_000)
    try:
        yield pg
    finally:
        context.close()
