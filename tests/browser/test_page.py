"""The real chat page in Chromium: streaming, tool steps, charts, Stop, session isolation, tab close, failures.

Each test opens a fresh browser context (a new Gradio session, so a new AgentSession and sandbox) on the page
launched by the ``app`` fixture (tests/browser/conftest.py) and scripts the model with the Claude stand-in.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.browser.conftest import base_settings, launch_page
from tests.browser.page_helpers import SHOTS, ask, bot_text, send, wait_idle, wait_until
from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY
from tests.support.claude_standin import ToolUse, overloaded, text_reply, tool_reply

pytestmark = pytest.mark.browser



# ----- helpers ------------------------------------------------------------------------------------------------


def new_session_key(app: Any, before: set[str], timeout: float = 10.0) -> str:
    found: list[str] = []

    def appeared() -> bool:
        found[:] = sorted(set(app.registry.keys()) - before)
        return len(found) == 1

    wait_until(appeared, timeout, "the browser session to appear in the page's registry")
    return found[0]


def sdk_options(provider: Any) -> dict:
    """The provider's SDK options (its local server). Run in a thread: Playwright's sync API owns this loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, provider.sdk_options()).result()


def live_sandbox_ids(provider: Any) -> set[str]:
    from e2b_code_interpreter import Sandbox

    paginator = Sandbox.list(**sdk_options(provider))
    ids: set[str] = set()
    while paginator.has_next:
        ids.update(info.sandbox_id for info in paginator.next_items())
    return ids


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


# ----- tests ----------------------------------------------------------------------------------------------------


def test_text_streams_visibly_before_the_turn_ends(page, claude):
    words = [f"word{i}" for i in range(40)]
    full = " ".join(words)
    claude.push(text_reply(full, chunks=40, delay=0.1))  # ~4 s of streaming
    send(page, "Say forty words slowly")
    seen: list[str] = []

    def partial_on_screen() -> bool:
        text = bot_text(page)
        if "word0" in text:
            seen.append(text)
            return True
        return False

    wait_until(partial_on_screen, 30, "the first words on screen")
    stream_done = any(m.label == "message_stop" for m in claude.marks)
    assert not stream_done, "text appeared only after the stand-in had finished sending"
    assert "word39" not in seen[0], "the whole answer arrived at once instead of streaming"
    shot(page, "streaming")
    wait_until(lambda: "word39" in bot_text(page), 30, "the whole answer")
    wait_idle(page)


def test_tool_step_goes_pending_then_done_and_chart_appears(page, claude):
    code = (
        "import time\ntime.sleep(2)\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 3, 2, 4])\nplt.title('test chart')\nplt.show()\nprint('plotted')\n"
    )
    claude.push(
        tool_reply(ToolUse("execute_code", {"code": code, "language": "python"}), text="Let me plot that."),
        text_reply("Here is your chart."),
    )
    send(page, "Plot something")
    title = page.get_by_text("Python code").first
    title.wait_for(timeout=30_000)
    wait_until(lambda: page.locator(".bot .loading-spinner").count() > 0 or "running" in bot_text(page), 10,
               "the tool step to show as pending")
    shot(page, "tool-pending")
    wait_until(lambda: "Here is your chart." in bot_text(page), 60, "the final answer")
    wait_idle(page)
    assert page.locator(".bot .loading-spinner").count() == 0, "a step still shows a spinner after the turn"
    img = page.locator(".bot img").first
    img.wait_for(timeout=10_000)
    src = img.get_attribute("src") or ""
    assert "/file=" in src, f"the chart is not served as a file: {src[:80]}"
    assert page.evaluate("(el) => el.naturalWidth", img.element_handle()) > 100, "the chart image did not load"
    assert "Traceback" not in bot_text(page)
    shot(page, "tool-done-chart")


def test_stop_during_a_long_tool_returns_to_idle_and_next_turn_runs(page, claude, app):
    claude.push(tool_reply(ToolUse("run_command", {"command": "sleep 60"})))
    before = set(app.registry.keys())
    send(page, "Run something long")
    page.get_by_text("a command: sleep 60").first.wait_for(timeout=30_000)
    key = new_session_key(app, before)
    wait_until(lambda: "running" in bot_text(page), 30, "the command to start running")
    time.sleep(0.5)
    started = time.monotonic()
    page.locator("button.stop-button").click()
    wait_idle(page, timeout=10)
    took = time.monotonic() - started
    assert took < 5.0, f"the page took {took:.1f} s to become idle after Stop"
    wait_until(lambda: "stopped" in bot_text(page), 5, "the step to be marked stopped")
    shot(page, "stopped")
    session = app.registry.get(key)
    wait_until(lambda: not session.agent.turn_running, 10, "the stopped turn to wind down")

    claude.push(text_reply("Next turn works."))
    started = time.monotonic()
    send(page, "Are you there?")
    wait_until(lambda: "Next turn works." in bot_text(page), 15, "the next turn's answer")
    wait_idle(page)
    assert "Run something long" in bot_text(page) or page.get_by_text("Run something long").count() > 0
    last = claude.requests[-1]
    texts = str(last.messages)
    assert "Run something long" in texts and "Are you there?" in texts, "the conversation was not kept"
    assert "stopped" in texts.lower(), "the dangling tool call was not answered as stopped"


def test_two_browser_sessions_stay_separate(browser, app, claude):
    opts = sdk_options(app.provider)
    from e2b_code_interpreter import Sandbox

    pages, keys = [], []
    try:
        for name in ("alpha", "beta"):
            context = browser.new_context()
            pg = context.new_page()
            pg.goto(app.url)
            pg.get_by_test_id("textbox").wait_for(timeout=30_000)
            pages.append(pg)
            before = set(app.registry.keys())
            claude.push(
                tool_reply(ToolUse("write_file", {"path": f"{name}.txt", "content": f"secret {name}"})),
                text_reply(f"Saved {name}."),
            )
            send(pg, f"Save a note called {name}")
            wait_until(lambda: f"Saved {name}." in bot_text(pg), 60, f"session {name} to finish")
            wait_idle(pg)
            keys.append(new_session_key(app, before))
        a_text, b_text = bot_text(pages[0]), bot_text(pages[1])
        assert "beta" not in a_text and "alpha" not in b_text, "one session shows the other's messages"
        # The model saw only that session's conversation.
        beta_first = [r for r in claude.requests if "Save a note called beta" in str(r.messages)][0]
        assert "alpha" not in str(beta_first.messages)
        ids = [app.registry.get(k).agent.sandbox_status().sandbox_id for k in keys]
        assert ids[0] and ids[1] and ids[0] != ids[1], "the two sessions share a sandbox"
        sa = Sandbox.connect(ids[0], **opts)
        sb = Sandbox.connect(ids[1], **opts)
        assert sa.files.exists("/home/user/alpha.txt") and not sa.files.exists("/home/user/beta.txt")
        assert sb.files.exists("/home/user/beta.txt") and not sb.files.exists("/home/user/alpha.txt")
    finally:
        for pg in pages:
            pg.context.close()


def test_closing_the_tab_frees_the_sandbox(browser, app, claude):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(app.url)
    pg.get_by_test_id("textbox").wait_for(timeout=30_000)
    before = set(app.registry.keys())
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo hi"})), text_reply("Ran it."))
    send(pg, "Run echo")
    wait_until(lambda: "Ran it." in bot_text(pg), 60, "the answer")
    wait_idle(pg)
    key = new_session_key(app, before)
    first_id = app.registry.get(key).agent.sandbox_status().sandbox_id
    assert first_id in live_sandbox_ids(app.provider)

    pg.get_by_role("button", name="New sandbox").click()  # throws the sandbox away; the next use gets a new one
    pg.get_by_role("button", name="Yes, delete it").click()  # after a confirmation
    wait_until(lambda: first_id not in live_sandbox_ids(app.provider), 20, "New sandbox to kill the old one",
               interval=0.25)
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo again"})), text_reply("Ran it again."))
    send(pg, "Run echo again")
    wait_until(lambda: "Ran it again." in bot_text(pg), 60, "the second answer")
    wait_idle(pg)
    sandbox_id = app.registry.get(key).agent.sandbox_status().sandbox_id
    assert sandbox_id != first_id and sandbox_id in live_sandbox_ids(app.provider)
    sent = str([r.messages for r in claude.requests[-2:]])
    assert "sandbox was reset" in sent, "the model was not told that the sandbox was reset"
    context.close()
    took = wait_until(lambda: app.registry.get(key) is None and sandbox_id not in live_sandbox_ids(app.provider),
                      20, "the sandbox to be killed after the tab closed", interval=0.25)
    assert took < 20


def test_api_failure_shows_a_clear_message_and_the_next_message_works(page, claude):
    claude.push(overloaded(repeat=1))  # the page's settings here allow no retries (api_max_retries=0)
    send(page, "Hello?")
    wait_until(lambda: "⚠️" in bot_text(page), 30, "the error message")
    wait_idle(page)
    text = bot_text(page)
    assert "overloaded" in text.lower(), text
    assert "Traceback" not in text and "overloaded_error" not in text
    shot(page, "api-failure")
    claude.push(text_reply("Back to normal."))
    send(page, "Try again")
    wait_until(lambda: "Back to normal." in bot_text(page), 20, "the next answer")
    wait_idle(page)


def test_without_a_key_the_page_says_how_to_add_one_and_own_key_works(browser, claude_server, claude):
    from agent.sandbox import SandboxProvider

    settings = base_settings(anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    running = launch_page(settings, provider)
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(running.url)
        pg.get_by_test_id("textbox").wait_for(timeout=30_000)
        notice = pg.locator("#notice")
        notice.wait_for(timeout=10_000)
        assert "ANTHROPIC_API_KEY" in notice.inner_text() and "Settings" in notice.inner_text()
        shot(pg, "no-key")
        send(pg, "hello")
        wait_until(lambda: "ANTHROPIC_API_KEY" in bot_text(pg), 20, "the how-to-add-a-key answer")
        wait_idle(pg)
        assert not claude.requests, "the page called the model without a key"

        pg.get_by_text("Settings", exact=True).first.click()
        pg.locator("#api-key input").fill(FAKE_ANTHROPIC_KEY)
        def notice_gone() -> bool:
            try:
                return not notice.is_visible() or "ANTHROPIC_API_KEY" not in notice.inner_text(timeout=500)
            except Exception:  # removed from the page between the two calls
                return True

        wait_until(notice_gone, 10, "the notice to go away once a key is pasted")
        claude.push(text_reply("Hello with your own key."))
        send(pg, "hello again")
        wait_until(lambda: "Hello with your own key." in bot_text(pg), 20, "the answer with the pasted key")
        assert claude.requests[-1].api_key == FAKE_ANTHROPIC_KEY
    finally:
        context.close()
        running.demo.close()
        provider.close()


def test_upload_from_message_box_then_list_and_download_workspace(page, claude, tmp_path):
    import io
    import urllib.request
    import zipfile

    data = tmp_path / "sales.csv"
    data.write_text("month,revenue\njan,10\nfeb,12\n")
    claude.push(
        tool_reply(ToolUse("read_file", {"path": "/home/user/uploads/sales.csv"})),
        text_reply("The file has two months."),
    )
    page.locator("#chat-input input[type=file]").set_input_files(str(data))
    page.locator("#chat-input .thumbnail-item").first.wait_for(timeout=10_000)  # the attachment is in the box
    send(page, "Summarise the attached file")
    wait_until(lambda: "The file has two months." in bot_text(page), 60, "the answer about the file")
    wait_idle(page)
    first = claude.requests[0]
    assert "/home/user/uploads/sales.csv" in first.last_user_text(), "the model was not told where the upload is"
    results = claude.requests[1].tool_results()
    assert results and "jan,10" in str(results[0]), "the tool could not read the uploaded file"

    page.get_by_text("Files", exact=True).first.click()
    page.get_by_role("button", name="List workspace files").click()
    page.get_by_text(re.compile(r"\d+ files? in")).first.wait_for(timeout=20_000)
    page.get_by_role("button", name="Download all (.zip)").click()
    link = page.locator("#download a").first
    link.wait_for(timeout=20_000)
    href = link.get_attribute("href") or ""
    url = href if href.startswith("http") else page.url.rstrip("/") + "/" + href.lstrip("/")
    with urllib.request.urlopen(url, timeout=20) as resp:
        archive = zipfile.ZipFile(io.BytesIO(resp.read()))
    assert "uploads/sales.csv" in archive.namelist()
    assert archive.read("uploads/sales.csv").decode().startswith("month,revenue")
    shot(page, "files-panel")


def test_server_shutdown_kills_open_sessions_sandboxes(browser, claude_server, claude):
    """What app.py does on Ctrl-C / SIGTERM: Lifecycle.shutdown() closes every open tab's sandbox first."""
    from agent.sandbox import SandboxProvider
    from tests.browser.conftest import free_port, wait_for_config
    from webui.lifecycle import Lifecycle
    from webui.page import build_demo

    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=claude_server.base_url)
    provider = SandboxProvider.from_settings(settings)
    demo = build_demo(settings, provider)
    lifecycle = Lifecycle(demo.registry, provider)
    port = free_port()
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True,
                        app_kwargs={"lifespan": lifecycle.lifespan})
    context = browser.new_context()
    try:
        wait_for_config(f"http://127.0.0.1:{port}/")
        pg = context.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.get_by_test_id("textbox").wait_for(timeout=30_000)
        claude.push(tool_reply(ToolUse("run_command", {"command": "echo hi"})), text_reply("Ran it."))
        send(pg, "Run echo")
        wait_until(lambda: "Ran it." in bot_text(pg), 60, "the answer")
        (key,) = demo.registry.keys()
        agent = demo.registry.get(key).agent
        sandbox_id = agent.sandbox_status().sandbox_id
        assert sandbox_id in live_sandbox_ids(provider)
        opts = sdk_options(provider)
        lifecycle.shutdown(demo)  # the tab is still open
        assert len(demo.registry) == 0
        assert agent.sandbox_status().state == "closed", "the session's sandbox was not killed"
        from e2b_code_interpreter import Sandbox

        with pytest.raises(Exception):  # the provider's server is gone too: nothing answers any more
            Sandbox.list(**opts).next_items()
    finally:
        context.close()
        demo.close()
        provider.close()


def test_two_sessions_stream_at_the_same_time(browser, app, claude):
    """No global concurrency cap of 1: a second visitor's reply streams while the first one's does."""

    def echo(req):
        who = req.last_user_text().split()[-1]
        return text_reply(" ".join(f"{who}{i}" for i in range(30)), chunks=30, delay=0.1)  # ~3 s each

    claude.respond_with(echo)
    pages = []
    try:
        for _ in range(2):
            context = browser.new_context()
            pg = context.new_page()
            pg.goto(app.url)
            pg.get_by_test_id("textbox").wait_for(timeout=30_000)
            pages.append(pg)
        send(pages[0], "Count for alpha")
        send(pages[1], "Count for beta")

        def both_streaming() -> bool:
            a, b = bot_text(pages[0]), bot_text(pages[1])
            return "alpha0" in a and "alpha29" not in a and "beta0" in b and "beta29" not in b

        wait_until(both_streaming, 30, "both replies to be streaming at the same moment")
        for pg, who in zip(pages, ("alpha", "beta"), strict=False):
            wait_until(lambda: f"{who}29" in bot_text(pg), 30, f"{who}'s full reply")
        assert "beta" not in bot_text(pages[0]) and "alpha" not in bot_text(pages[1])
    finally:
        for pg in pages:
            pg.context.close()


def test_preview_port_follows_the_started_server_and_local_says_why_no_preview(page, claude):
    claude.push(
        tool_reply(ToolUse("run_command", {"command": "nohup python -m http.server 8000 > /tmp/http.log 2>&1 & sleep 0.5; echo started"})),
        text_reply("The site is served on port 8000."),
    )
    send(page, "Serve a static site")
    wait_until(lambda: "served on port 8000" in bot_text(page), 60, "the answer")
    wait_idle(page)
    # the panel opens by itself on the port the reply's command started a server on
    port_box = page.locator("#preview input[type=number]").first
    wait_until(lambda: port_box.input_value() == "8000", 10, "the port field to show 8000")
    page.get_by_role("button", name="Open preview").click()
    frame = page.locator("#preview-frame")
    wait_until(lambda: "not available" in frame.inner_text() or frame.locator("iframe").count() > 0, 15,
               "the preview (or the reason there is none)")
    shot(page, "preview")
    if frame.locator("iframe").count() == 0:  # no preview route: plain words instead of a broken frame
        assert "E2B_API_KEY" in frame.inner_text()
    else:  # the frame's URL reaches the server inside the sandbox
        import urllib.parse
        import urllib.request

        # Python does not resolve the preview's `<port>-<id>.localhost` name (browsers do): send the request to
        # the server's loopback address with that Host header, the documented fallback.
        parts = urllib.parse.urlsplit(frame.locator("iframe").get_attribute("src") or "")
        request = urllib.request.Request(f"http://127.0.0.1:{parts.port}{parts.path}", headers={"Host": parts.netloc})
        with urllib.request.urlopen(request, timeout=20) as resp:
            assert resp.status == 200 and b"Directory listing" in resp.read()


def test_html_from_sandbox_code_shows_as_a_table_but_cannot_run_scripts_on_the_page(page, claude):
    """HTML made by untrusted code is framed without scripts: an ``onerror`` handler must not reach the page
    (where the Settings key field and the tab's endpoints live), while the table itself is still shown."""
    code = (
        "from IPython.display import HTML, display\n"
        "display(HTML('<table><tr><td>cell-visible</td></tr></table>"
        "<img src=nowhere onerror=\"window.parent.__pwned = 1; window.__pwned = 1\">'))\n"
    )
    claude.push(tool_reply(ToolUse("execute_code", {"code": code})), text_reply("Shown the table."))
    ask(page, "Show an HTML table", "Shown the table.")
    frame = page.locator(".bot iframe[sandbox]").first
    frame.wait_for(timeout=10_000)
    assert frame.get_attribute("sandbox") == "", "the frame must not allow scripts or same-origin access"
    assert "cell-visible" in page.frame_locator(".bot iframe[sandbox]").first.locator("body").inner_text(), \
        "the table should still be visible inside the frame"
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned === undefined"), "a script from sandbox output ran on the page"
