"""The Files panel on the real page: the list follows each turn (no button to press), and a download is one click."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

pytestmark = pytest.mark.browser


def test_files_a_reply_wrote_are_listed_and_download_in_one_click(page, claude):
    claude.push(
        tool_reply(ToolUse("write_file", {"path": "counter-app/index.html", "content": "<p>count</p>\n"})),
        text_reply("Wrote the page."),
    )
    page.get_by_text("Files", exact=True).first.click()
    send(page, "Write a page")
    deadline = time.monotonic() + 60
    while "Wrote the page." not in bot_text(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    page.locator("button.stop-button").wait_for(state="detached", timeout=30_000)
    picked = page.locator("#file-choice input")
    picked.wait_for(timeout=10_000)
    deadline = time.monotonic() + 15
    while picked.input_value() != "/home/user/counter-app/index.html" and time.monotonic() < deadline:
        time.sleep(0.2)  # no "List workspace files" pressed: the turn's end refreshes the list
    assert picked.input_value() == "/home/user/counter-app/index.html", page.locator("#files").inner_text()
    assert "1 file in" in page.locator("#files").inner_text()

    with page.expect_download(timeout=20_000) as one:
        page.get_by_role("button", name="Download file").click()  # the one click
    assert one.value.suggested_filename == "index.html"
    assert open(one.value.path(), encoding="utf-8").read() == "<p>count</p>\n"

    with page.expect_download(timeout=30_000) as everything:
        page.get_by_role("button", name="Download all (.zip)").click()
    names = zipfile.ZipFile(io.BytesIO(open(everything.value.path(), "rb").read())).namelist()
    assert "counter-app/index.html" in names, names
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "files-panel-one-click.png"))
