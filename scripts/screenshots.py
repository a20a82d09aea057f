"""Take the README's screenshots of the real page: `.venv/bin/python scripts/screenshots.py [OUT_DIR]`.

The page runs in this process with the embedded local sandbox and the Claude stand-in's demo conversation (no key
needed); Debian's Chromium (Playwright) visits it like a person would. Writes small PNGs (256 colours) into
docs/screenshots/ by default: the first view, a tool step, a chart, a table (dark mode), the preview, a phone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if "GRADIO_TEMP_DIR" not in os.environ:  # a private cache folder, removed at exit
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="gradio-screenshots-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)

from PIL import Image  # noqa: E402  (Gradio's dependency; after the environment above)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, base_settings, launch_page  # noqa: E402
from tests.support.claude_standin import ClaudeStandin, demo_responder  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _save(page, path: Path, clip: dict | None = None) -> None:
    page.screenshot(path=str(path), clip=clip)
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


def _ask(page, text: str) -> None:
    box = page.get_by_test_id("textbox")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(1500)
    page.locator("button.stop-button").wait_for(state="detached", timeout=120_000)
    page.wait_for_timeout(1500)


def _open(browser, url: str, **context):
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.get_by_test_id("textbox").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    return page


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from agent.sandbox import SandboxProvider

    out.mkdir(parents=True, exist_ok=True)
    claude = ClaudeStandin(responder=demo_responder).start()
    settings = base_settings(anthropic_api_key="sk-ant-screenshots", anthropic_base_url=claude.base_url)
    provider = SandboxProvider.from_settings(settings)
    app = launch_page(settings, provider)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = _open(browser, app.url, viewport=DESKTOP)
            _save(page, out / "first-view.png")

            _ask(page, "Run a shell command and show me the result")
            page.locator(".bot .thought-group > .title").filter(has_not_text="Thinking").first.click()
            page.wait_for_timeout(800)
            _save(page, out / "tool-step.png")
            page.context.close()

            page = _open(browser, app.url, viewport=DESKTOP)
            _ask(page, "Draw a chart of a sine and a cosine")
            page.locator(".bot img").first.scroll_into_view_if_needed()
            _save(page, out / "chart.png")
            page.context.close()

            page = _open(browser, app.url, viewport=DESKTOP, color_scheme="dark")
            _ask(page, "Show me a table of cities")
            page.locator(".bot .agent-table").first.scroll_into_view_if_needed()
            _save(page, out / "table-dark.png")
            page.context.close()

            page = _open(browser, app.url, viewport=DESKTOP)
            _ask(page, "Create a React counter app with increment and decrement buttons")
            frame = page.locator("#preview-frame iframe")
            frame.wait_for(timeout=30_000)
            page.frame_locator("#preview-frame iframe").locator("button").first.wait_for(timeout=30_000)
            frame.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            _save(page, out / "preview.png")
            page.context.close()

            page = _open(browser, app.url, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
            _save(page, out / "phone-dark.png")
            page.context.close()
            browser.close()
    finally:
        app.demo.close()
        provider.close()
        claude.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
