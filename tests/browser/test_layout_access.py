"""Layout and access on the real page: a phone opens at the top, the message box keeps its hint and name and gets
the focus back, step titles are real buttons, every icon button has a name, Settings is readable and the only
thing called Settings, "New sandbox" asks first, and the preview opens by itself (with a readable page in dark mode
while nothing answers). Desktop 1280×900 unless a test says otherwise; screenshots go to SHOTS.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.browser.test_page import live_sandbox_ids, wait_idle, wait_until
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

pytestmark = pytest.mark.browser

PLACEHOLDER = "Ask for code, a chart, or an app…"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _open(browser: Any, app: Any, **context: Any) -> Any:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.goto(app.url)
    page.get_by_test_id("textbox").wait_for(timeout=30_000)
    return page


def _level(css_colour: str) -> float:
    numbers = re.findall(r"[\d.]+", css_colour)
    return sum(float(n) for n in numbers[:3]) / 3 if len(numbers) >= 3 else -1.0


def test_phone_opens_at_the_top_with_title_status_and_input_reachable(browser, app):
    page = _open(browser, app, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                 color_scheme="dark")
    try:
        page.wait_for_timeout(1500)  # what the page does after load (focus, scrolling) has happened
        assert page.evaluate("window.scrollY") == 0, "the phone view does not open at the top"
        for what in (page.get_by_role("heading", name="Claude coding agent"), page.locator("#sandbox-status")):
            box = what.bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= 844, f"not in the first view: {box}"
        assert page.evaluate("document.activeElement === document.body"), "a field took the focus (and the keyboard)"
        _shot(page, "phone-first-view-dark")
        # No scroll trap: the chat's own scroll box is shorter than the screen, so a swipe on it still moves the
        # page; the message box is reachable by scrolling the page.
        for box_selector in ("#chatbot", "[role=log]"):
            height = page.locator(box_selector).first.evaluate("(el) => el.getBoundingClientRect().height")
            assert height < 0.6 * 844, f"the chat box {box_selector} ({height:.0f} px) fills the phone screen"
        box = page.get_by_test_id("textbox")
        box.scroll_into_view_if_needed()
        assert box.is_visible() and box.is_editable()
    finally:
        page.context.close()


def test_on_a_phone_a_long_step_title_keeps_its_duration_on_one_line(browser, app, claude):
    page = _open(browser, app, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                 color_scheme="dark")
    try:
        command = "echo a fairly long command line && echo that wraps on a phone"
        claude.push(tool_reply(ToolUse("run_command", {"command": command})), text_reply("Done."))
        send(page, "run it")
        wait_until(lambda: "Done." in bot_text(page), 60, "the answer")
        wait_idle(page)
        title = page.locator(".bot .thought-group > .title").filter(has_text="fairly long").first
        wait_until(lambda: title.locator(".duration").count() == 1 and " s" in title.locator(".duration").inner_text(),
                   10, "the step's duration")
        lines = title.locator(".duration").evaluate(
            "(el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)")
        assert lines < 1.5, f"the duration {title.locator('.duration').inner_text()!r} wraps over {lines:.1f} lines"
        title.scroll_into_view_if_needed()
        _shot(page, "phone-step-title-dark")
    finally:
        page.context.close()


def test_message_box_keeps_its_hint_and_name_and_gets_the_focus_back(page, claude):
    box = page.get_by_test_id("textbox")
    assert page.evaluate("document.activeElement && document.activeElement.dataset.testid") == "textbox", \
        "the message box is not focused on a desktop"
    claude.push(text_reply("Hello there."))
    send(page, "hello")
    wait_until(lambda: "Hello there." in bot_text(page), 30, "the answer")
    wait_idle(page)
    wait_until(lambda: page.evaluate("document.activeElement && document.activeElement.dataset.testid")
               == "textbox", 5, "the focus to come back to the message box")
    assert box.get_attribute("placeholder") == PLACEHOLDER, "the hint is gone after the first message"
    claude.push(text_reply("Hello again."))
    page.get_by_role("button", name="Retry").last.click()
    wait_until(lambda: "Hello again." in bot_text(page), 30, "the retried answer")
    wait_idle(page)
    assert box.get_attribute("placeholder") == PLACEHOLDER, "the hint is gone after Retry"
    assert page.get_by_role("textbox", name="Message").count() == 1, "the message box has no accessible name"


def test_step_titles_are_buttons_that_open_with_space_and_tell_their_state(page, claude):
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo hi"})), text_reply("Done."))
    send(page, "say hi")
    wait_until(lambda: "Done." in bot_text(page), 60, "the answer")
    wait_idle(page)
    title = page.locator(".bot .thought-group > .title").filter(has_text="echo hi").first
    wait_until(lambda: title.get_attribute("aria-expanded") in ("true", "false"), 5, "aria-expanded on the title")
    page.wait_for_timeout(1000)  # a finished step folds up by itself shortly after the turn
    title.focus()
    before = title.get_attribute("aria-expanded")
    page.keyboard.press("Space")
    wait_until(lambda: title.get_attribute("aria-expanded") not in (None, before), 5, "Space to toggle the step")
    opened = title.locator("xpath=..").evaluate("(g) => g.children.length > 1")
    assert opened == (title.get_attribute("aria-expanded") == "true"), "aria-expanded does not match the step"
    page.keyboard.press("Space")
    wait_until(lambda: title.get_attribute("aria-expanded") == before, 5, "Space to toggle it back")
    assert page.evaluate("window.scrollY") == 0, "Space scrolled the page instead of toggling the step"
    inner = title.locator("button")
    assert inner.count() == 0 or inner.first.get_attribute("tabindex") == "-1", "a second, unnamed button inside"


def test_every_icon_button_has_a_name(page, claude):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
    claude.push(tool_reply(ToolUse("execute_code", {"code": code})), text_reply("A chart."))
    send(page, "chart")
    wait_until(lambda: "A chart." in bot_text(page), 60, "the answer")
    wait_idle(page)
    page.wait_for_timeout(300)
    unnamed = page.evaluate(
        "() => [...document.querySelectorAll('button')].filter((b) => b.offsetParent !== null"
        " && b.getAttribute('aria-hidden') !== 'true' && !(b.getAttribute('aria-label') || '').trim()"
        " && !b.textContent.trim() && !b.querySelector('img[alt]:not([alt=\"\"])'))"
        ".map((b) => b.outerHTML.slice(0, 160))")
    assert unnamed == [], f"icon buttons without a name: {unnamed}"


def test_settings_are_readable_and_the_only_settings(page):
    assert page.get_by_text("Settings", exact=True).count() == 1, "two things are called Settings"
    footer = page.locator("footer").inner_text().strip()
    assert not footer.endswith("·"), f"the footer ends with a dangling separator: {footer!r}"
    page.get_by_text("Settings", exact=True).click()
    model = page.locator("#settings input").first
    model.wait_for(timeout=5_000)
    clipped = model.evaluate("(el) => el.scrollWidth > el.clientWidth + 1")
    assert not clipped, f"the model name is cut off: {model.input_value()!r}"
    assert page.get_by_text("Kept in this tab only, never stored.").is_visible(), "the key hint is not readable"
    _shot(page, "settings")


def test_new_sandbox_asks_first_and_says_at_once_what_happened(page, claude, app):
    before = set(app.registry.keys())
    claude.push(tool_reply(ToolUse("write_file", {"path": "keep.txt", "content": "x"})), text_reply("Saved."))
    send(page, "save a file")
    wait_until(lambda: "Saved." in bot_text(page), 60, "the answer")
    wait_idle(page)
    found: list[str] = []
    wait_until(lambda: bool(found.extend(set(app.registry.keys()) - before) or found), 10,
               "the browser session in the page's registry")
    session = app.registry.get(found[0])
    first_id = session.agent.sandbox_status().sandbox_id

    page.get_by_role("button", name="New sandbox").click()
    question = page.locator("#new-sandbox-confirm").first
    question.wait_for(state="visible", timeout=5_000)
    assert "Delete this sandbox and all its files?" in question.inner_text()
    time.sleep(1.0)
    assert session.agent.sandbox_status().sandbox_id == first_id, "the sandbox was deleted before confirming"
    page.get_by_role("button", name="Cancel").click()
    question.wait_for(state="hidden", timeout=5_000)
    assert first_id in live_sandbox_ids(app.provider), "Cancel deleted the sandbox"

    page.get_by_role("button", name="New sandbox").click()
    page.get_by_role("button", name="Yes, delete it").click()
    note = page.locator("#new-sandbox-note")
    note.wait_for(state="visible", timeout=2_000)
    assert "deleted" in note.inner_text() and "fresh sandbox" in note.inner_text()
    wait_until(lambda: first_id not in live_sandbox_ids(app.provider), 20, "the old sandbox to go", interval=0.25)
    _shot(page, "new-sandbox-done")


def test_preview_opens_by_itself_and_shows_a_readable_page_while_nothing_answers(browser, app, claude):
    page = _open(browser, app, viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        claude.push(tool_reply(ToolUse("run_command", {"command": "echo 'will listen on localhost:8123'"})),
                    text_reply("Your app will be on port 8123."))
        send(page, "make an app")
        wait_until(lambda: "port 8123" in bot_text(page), 60, "the answer")
        wait_idle(page)
        frame_el = page.locator("#preview-frame iframe")
        frame_el.wait_for(timeout=15_000)  # opened without any click
        frame = page.frame_locator("#preview-frame iframe")
        heading = frame.locator("h1")
        heading.wait_for(timeout=15_000)
        assert "Nothing is running on port 8123 yet" in heading.inner_text()
        colours = frame.locator("body").evaluate(
            "(b) => ({text: getComputedStyle(b).color, bg: getComputedStyle(b).backgroundColor})")
        assert abs(_level(colours["text"]) - _level(colours["bg"])) > 120, f"hard to read: {colours}"
        frame_el.scroll_into_view_if_needed()
        _shot(page, "preview-nothing-yet-dark")
    finally:
        page.context.close()


def test_preview_opens_by_itself_on_a_server_a_reply_started(page, claude):
    command = ("mkdir -p site && echo '<h1>Hello from the sandbox</h1>' > site/index.html && "
               "(nohup python -m http.server 8000 --directory site >/tmp/http.log 2>&1 &) && sleep 0.5 && "
               "echo serving on 8000")
    claude.push(tool_reply(ToolUse("run_command", {"command": command})), text_reply("It is served on port 8000."))
    send(page, "serve a page")
    wait_until(lambda: "served on port 8000" in bot_text(page), 60, "the answer")
    wait_idle(page)
    heading = page.frame_locator("#preview-frame iframe").locator("h1")
    heading.wait_for(timeout=20_000)
    assert heading.inner_text() == "Hello from the sandbox"
    page.locator("#preview-frame iframe").scroll_into_view_if_needed()
    _shot(page, "preview")
