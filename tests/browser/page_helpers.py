"""What a person does on the page, shared by the browser tests: type and send, read the bot's messages."""

from __future__ import annotations

import os
import tempfile
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
