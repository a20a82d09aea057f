"""Every kind of output shows well on the real page: an SVG chart inline, a DataFrame as a themed table (light and
dark), a long command output in a bounded scroll box with a link to all of it, no notes meant for the model, and
no Share button that only errors off Spaces. Desktop 1280×900 unless a test says otherwise; screenshots go to SHOTS.
"""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest

from tests.browser.page_helpers import SHOTS, bot_text, send
from tests.browser.test_page import wait_idle, wait_until
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

pytestmark = pytest.mark.browser

SVG_CODE = (
    "from IPython.display import SVG, display\n"
    "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"120\" viewBox=\"0 0 320 120\">"
    "<rect x=\"10\" y=\"10\" width=\"300\" height=\"100\" fill=\"#e4572e\"/></svg>'))\n"
)
TABLE_CODE = (
    "import pandas as pd\n"
    "df = pd.DataFrame({'city': ['Oslo', 'Lima', 'Pune'] * 20, 'temp_c': [4.5, 19.0, 31.2] * 20})\n"
    "df\n"
)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _level(css_colour: str) -> float:
    """Mean of the red, green and blue of ``rgb(r, g, b)`` / ``rgba(...)``: 0 is black, 255 white."""
    numbers = re.findall(r"[\d.]+", css_colour)
    return sum(float(n) for n in numbers[:3]) / 3 if len(numbers) >= 3 else -1.0


def _ask(page: Any, claude: Any, call: ToolUse, answer: str) -> None:
    claude.push(tool_reply(call), text_reply(answer))
    send(page, "Please do it")
    wait_until(lambda: answer in bot_text(page), 60, "the final answer")
    wait_idle(page)


def _open_last_step(page: Any) -> Any:
    """Open the turn's last tool step the way a person does: a finished step folds up by itself just after the
    turn ends (at most a moment after the Stop button goes), then one click opens it."""
    title = page.locator(".bot .thought-group > .title").filter(has_not_text="Thinking").last
    group = title.locator("xpath=..")
    wait_until(lambda: group.evaluate("(g) => g.children.length") == 1, 10, "the finished step to fold up")
    title.click()
    wait_until(lambda: group.evaluate("(g) => g.children.length") > 1, 10, "the step to open")
    return group


def test_svg_chart_shows_inline_as_an_image(page, claude):
    _ask(page, claude, ToolUse("execute_code", {"code": SVG_CODE}), "Here is the SVG.")
    img = page.locator(".bot img[src^='data:image/svg+xml']").first
    img.wait_for(timeout=10_000)
    wait_until(lambda: page.evaluate("(el) => el.naturalWidth", img.element_handle()) > 0, 10, "the SVG to load")
    box = img.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 30, f"the SVG is not shown at a visible size: {box}"
    img.scroll_into_view_if_needed()
    _shot(page, "svg-chart")


def test_dataframe_is_a_themed_scrollable_table_sized_to_its_content(page, claude):
    _ask(page, claude, ToolUse("execute_code", {"code": TABLE_CODE}), "Here is the table.")
    region = page.locator(".bot .agent-table").first
    region.wait_for(timeout=10_000)
    assert page.locator(".bot iframe").count() == 0, "the table is still a framed page"
    table = region.locator("table")
    assert table.locator("tbody tr").count() == 60 and "Oslo" in table.inner_text()
    sizes = region.evaluate("(el) => ({h: el.clientHeight, sh: el.scrollHeight, w: el.clientWidth,"
                            " tw: el.querySelector('table').offsetWidth, overflow: getComputedStyle(el).overflowY})")
    assert sizes["h"] < sizes["sh"] and sizes["overflow"] in ("auto", "scroll"), f"not a bounded scroll box: {sizes}"
    assert sizes["tw"] < 600, f"the table is stretched instead of sized to its content: {sizes}"
    font = table.evaluate("(el) => getComputedStyle(el).fontFamily")
    assert "serif" not in font.replace("sans-serif", ""), f"the table uses a serif font: {font}"
    region.scroll_into_view_if_needed()
    _shot(page, "table-light")


def test_table_follows_dark_mode(browser, app, claude):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        page.goto(app.url)
        page.get_by_test_id("textbox").wait_for(timeout=30_000)
        _ask(page, claude, ToolUse("execute_code", {"code": TABLE_CODE}), "Here is the table.")
        region = page.locator(".bot .agent-table").first
        region.wait_for(timeout=10_000)
        # a header cell and a cell of an odd and an even row: each is light text on a dark background
        cells = region.evaluate(
            "(el) => { const bg = (e) => { for (; e; e = e.parentElement)"
            " { const c = getComputedStyle(e).backgroundColor; if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent')"
            " return c; } return 'none'; };"
            " return [el.querySelector('thead th'), ...el.querySelectorAll('tbody tr:nth-child(-n+2) td')]"
            ".map((cell) => ({text: getComputedStyle(cell).color, bg: bg(cell)})); }")
        assert len(cells) > 2
        for colours in cells:
            text_level, bg_level = _level(colours["text"]), _level(colours["bg"])
            assert text_level > 150 and bg_level < 100, f"the table is not dark with light text: {cells}"
        region.scroll_into_view_if_needed()
        _shot(page, "table-dark-phone")
    finally:
        context.close()


def test_long_output_scrolls_in_a_bounded_box_with_a_link_to_all_of_it(page, claude):
    command = "seq 1 5000 | sed 's/^/line /'"
    _ask(page, claude, ToolUse("run_command", {"command": command}), "Printed the lines.")
    group = _open_last_step(page)
    pre = group.locator("pre").last
    pre.wait_for(timeout=10_000)
    height = pre.evaluate("(el) => ({h: el.clientHeight, sh: el.scrollHeight})")
    assert height["h"] <= 0.6 * 900 + 2 and height["sh"] > height["h"], f"the output box is not bounded: {height}"
    link = group.get_by_text("Download the full output")
    link.wait_for(timeout=5_000)
    href = link.get_attribute("href") or ""
    url = page.url.rstrip("/") + href if href.startswith("/") else href
    with urllib.request.urlopen(url, timeout=20) as resp:
        full = resp.read().decode()
    assert full.startswith("line 1\n") and "line 2500\n" in full and full.rstrip().endswith("line 5000"), full[:200]
    _shot(page, "long-output")


def test_notes_for_the_model_and_share_buttons_are_not_shown(page, claude):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\n"
    _ask(page, claude, ToolUse("execute_code", {"code": code}), "Here is the chart.")
    page.locator(".bot img").first.wait_for(timeout=10_000)
    _open_last_step(page)
    assert "displayed to the user" not in bot_text(page)
    share = page.locator("button[aria-label='Share']")
    assert all(not b.is_visible() for b in share.all()), "a Share button is shown although this is not a Space"
