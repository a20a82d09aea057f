"""The page's first example, "Create a React counter app with increment and decrement buttons", the way Claude
does it, on the embedded default (a local sandbox reaching the package registries through its egress proxy).

A scripted model installs React from the real npm registry, writes the app (an HTML page loading React's own
browser builds from node_modules, the component in plain JavaScript, a small Node static server), starts the server
in the background and checks it with curl. Then the preview link shows the app in Chromium and its buttons count.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request

from agent.events import SandboxStatus
from tests.agent.helpers import agent_session, collect, make_settings
from tests.support.claude_standin import RecordedRequest, ToolUse, text_reply, tool_reply

PROMPT = "Create a React counter app with increment and decrement buttons"
PORT = 5173

INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>React counter</title></head>
<body>
<div id="root"></div>
<script src="node_modules/react/umd/react.production.min.js"></script>
<script src="node_modules/react-dom/umd/react-dom.production.min.js"></script>
<script src="app.js"></script>
</body>
</html>
"""

APP_JS = """const { useState, createElement: h } = React;

function Counter() {
  const [count, setCount] = useState(0);
  return h("div", { className: "counter" },
    h("h1", null, "Counter"),
    h("p", { id: "count" }, String(count)),
    h("button", { id: "decrement", onClick: () => setCount(count - 1) }, "-"),
    h("button", { id: "increment", onClick: () => setCount(count + 1) }, "+"));
}

ReactDOM.createRoot(document.getElementById("root")).render(h(Counter));
"""

SERVER_JS = """const http = require("http");
const fs = require("fs");
const path = require("path");
const types = { ".html": "text/html", ".js": "text/javascript" };
http.createServer((req, res) => {
  const file = path.join(__dirname, path.normalize(decodeURIComponent(req.url.split("?")[0])).replace(/^\\/+$/, "") || "index.html");
  fs.readFile(file.endsWith(path.sep) ? file + "index.html" : file, (err, data) => {
    if (err) { res.writeHead(404); res.end("not found"); return; }
    res.writeHead(200, { "Content-Type": types[path.extname(file)] || "application/octet-stream" });
    res.end(data);
  });
}).listen(PORT, "127.0.0.1", () => console.log("serving on PORT"));
""".replace("PORT", str(PORT))

STEPS = [
    [ToolUse("run_command", {"command": "mkdir -p counter && cd counter && npm init -y > /dev/null && "
                                        "npm install react@18.3.1 react-dom@18.3.1 --no-audit --no-fund"})],
    [ToolUse("write_file", {"path": "counter/index.html", "content": INDEX_HTML}),
     ToolUse("write_file", {"path": "counter/app.js", "content": APP_JS}),
     ToolUse("write_file", {"path": "counter/server.js", "content": SERVER_JS})],
    [ToolUse("run_command", {"command": "node server.js", "cwd": "counter", "background": True})],
    [ToolUse("run_command", {"command": f"sleep 1; curl -s http://127.0.0.1:{PORT}/ | head -5"})],
]


def scripted_claude(req: RecordedRequest):
    step = sum(1 for m in req.messages if m.get("role") == "assistant")
    if step < len(STEPS):
        return tool_reply(*STEPS[step], text="Working on the counter app.")
    return text_reply(f"The React counter app is running on port {PORT}: open it in the Preview.")


def test_react_counter_app_installs_from_npm_serves_and_counts_in_the_preview(claude, provider) -> None:
    assert (provider.kind, provider.settings.local_internet) == ("local", "registries"), \
        "this test is about the embedded default: unset AGENT_LOCAL_INTERNET for it"
    claude.respond_with(scripted_claude)

    async def scenario():
        async with agent_session(make_settings(claude), provider, tag="react") as session:
            turn = await collect(session, PROMPT, timeout=300)
            sandbox_id = next(e.sandbox_id for e in turn.of(SandboxStatus) if e.sandbox_id)
            url = await asyncio.to_thread(provider.preview_url, sandbox_id, PORT)
            counts = await asyncio.to_thread(click_through, url)
            react = await asyncio.to_thread(fetch_json, url + "node_modules/react/package.json")
            return turn, counts, react

    turn, counts, react = asyncio.run(scenario())
    assert turn.done.stop_reason == "end_turn", turn.describe()
    results = [f.result for f in turn.finished]
    assert not any(r.is_error for r in results), turn.describe()
    install = turn.finished[0].result.output
    assert "added" in install and "packages" in install, install
    assert '<div id="root"></div>' in turn.finished[-1].result.output, turn.describe()
    assert react["version"] == "18.3.1"  # served from the sandbox's node_modules, installed from npm
    assert counts == ["0", "2", "1"], counts


def fetch_json(url: str) -> dict:
    """Python does not resolve the preview's `<port>-<id>.localhost` name here (browsers do): the documented
    fallback sends the request to the server's loopback address with that Host header."""
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(f"http://127.0.0.1:{parts.port}{parts.path}", headers={"Host": parts.netloc})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def click_through(url: str) -> list[str]:
    """Open the preview in Chromium, click + twice and - once; the counts seen along the way."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load", timeout=60_000)
            count = page.locator("#count")
            seen = [count.inner_text(timeout=30_000)]
            page.click("#increment")
            page.click("#increment")
            page.wait_for_function("document.getElementById('count').textContent === '2'", timeout=10_000)
            seen.append(count.inner_text())
            page.click("#decrement")
            page.wait_for_function("document.getElementById('count').textContent === '1'", timeout=10_000)
            seen.append(count.inner_text())
            return seen
        finally:
            browser.close()
