"""What a person does on the page, shared by the browser tests: type and send, read the bot's messages."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

# Screenshots to LOOK at after a run (not compared automatically).
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(tempfile.gettempdir()) / "browser-screenshots"))


def send(page: Any, text: str) -> None:
    box = page.get_by_test_id("textbox")
    box.fill(text)
    box.press("Enter")


def bot_text(page: Any) -> str:
    return "\n".join(page.locator(".bot").all_inner_texts())


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``predicate`` until true; returns the seconds it took. Fails with ``what`` on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_idle(page: Any, timeout: float = 60.0) -> None:
    """The turn is over when the Stop button is gone and the send button is back."""
    page.locator("button.stop-button").wait_for(state="detached", timeout=timeout * 1000)
    page.locator("button.submit-button").wait_for(state="visible", timeout=timeout * 1000)


def ask(page: Any, text: str, answer: str, timeout: float = 60.0) -> None:
    """Send ``text`` and wait until ``answer`` is on the page and the turn is over."""
    send(page, text)
    wait_until(lambda: answer in bot_text(page), timeout, f"the answer {answer!r}")
    wait_idle(page, timeout)
