"""UI benchmark: what the page adds on top of the model, measured in a real browser.

For the real page (app wiring + AgentSession + paced yields) and for a baseline (a minimal ChatInterface that
streams the same stand-in with the anthropic SDK and yields on every token), with 0 and with N earlier
messages in the chat:

- ``added_ttft_ms``  Enter pressed → first token painted, minus the model's own time to first token
                     (the stand-in's first text delta − the request's arrival), p50 / p90;
- ``cpu_ms_per_token``  the app server process's CPU (user+sys, all threads, from /proc) per streamed token;
- ``wire_bytes_per_token``  bytes the browser received during the turn (Chrome DevTools Network events) per token.

Run (takes a few minutes; the numbers go into bench/README-ui.md):

    .venv/bin/python bench/ui_bench.py [--turns 8] [--tokens 300] [--history 500]

The apps run as subprocesses of this script (``serve`` mode) so their CPU is measured alone; the Claude
stand-in runs in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TICK = os.sysconf("SC_CLK_TCK")


# ----- the apps under test (subprocess side) -----------------------------------------------------------------


def seed_history(n: int) -> list[dict[str, Any]]:
    """``n`` earlier messages of typical size: questions, answers with a code block, a finished tool step."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"role": "user", "content": f"Question {i}: how do I reverse a list in Python, and why?"})
        elif i % 6 == 5:
            out.append({"role": "assistant", "content": f"```bash\n$ python step_{i}.py\n```\n\n**Output**\n\n```text\nok {i}\n```",
                        "metadata": {"title": f"run_command · python step_{i}.py", "status": "done", "duration": 0.42}})
        else:
            out.append({"role": "assistant", "content": (
                f"Answer {i}: use slicing or `reversed`.\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n"
                "Slicing makes a copy; `list.reverse()` works in place.")})
    return out


def serve(kind: str, port: int, standin: str, history: int) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    seed = seed_history(history)
    if kind in ("agent", "agent_late"):
        from agent.config import Settings
        from agent.sandbox import SandboxProvider
        from webui.lifecycle import make_lifespan
        from webui.page import PageOptions, build_demo

        settings = Settings.from_env(env={}, dotenv_path=None).replace(
            sandbox="local", anthropic_api_key="test-key", anthropic_base_url=standin, thinking=False)
        provider = SandboxProvider.from_settings(settings)
        # agent_late: the page without the early start (the turn starts in ChatInterface's queued handler).
        demo = build_demo(settings, provider, PageOptions(early_start=kind == "agent"), history=seed)
        lifespan = make_lifespan(demo.registry, provider)
    else:
        import anthropic

        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=standin, max_retries=0)

        async def echo(message: str, history_: list):
            text = ""
            async with client.messages.stream(model="claude-sonnet-5-5", max_tokens=2000,
                                              messages=[{"role": "user", "content": message}]) as stream:
                async for chunk in stream.text_stream:
                    text += chunk
                    yield text

        with gr.Blocks() as demo:
            gr.ChatInterface(echo, chatbot=gr.Chatbot(value=seed), concurrency_limit=None)
        lifespan = None
    demo.queue().launch(server_name="127.0.0.1", server_port=port, quiet=True,
                        app_kwargs={"lifespan": lifespan} if lifespan else None)


# ----- the measuring side ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url + "config", timeout=3) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.3)
    raise RuntimeError("the app did not come up")


PAGE_JS = """
() => {
  window.__bench = {enter: 0, first: 0, marker: null, joins: []};
  const fetch0 = window.fetch;  // when the browser sends the handler's queue/join (= end of the submit chain)
  window.fetch = function(input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    if (url.includes('/queue/join')) window.__bench.joins.push(performance.now());
    return fetch0.apply(this, arguments);
  };
  const box = document.querySelector('[data-testid="textbox"]');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__bench.enter = performance.now(); }, true);
  const obs = new MutationObserver(() => {
    const b = window.__bench;
    if (!b.marker || b.first) return;
    const bots = document.querySelectorAll('.bot');
    const last = bots[bots.length - 1];
    if (last && last.textContent.includes(b.marker)) b.first = performance.now();
  });
  obs.observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""


def measure(kind: str, history: int, turns: int, tokens: int, pause: float, delay: float, browser: Any,
            standin: Any, turn_timeout: float = 90.0) -> dict[str, Any]:
    from tests.support.claude_standin import Reply, Text

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": tempfile.mkdtemp(prefix="uibench-")}
    proc = subprocess.Popen([sys.executable, __file__, "serve", "--kind", kind, "--port", str(port),
                             "--standin", standin.base_url, "--history", str(history)],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_up(url, proc)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.get_by_test_id("textbox").wait_for(timeout=60_000)
        page.evaluate(PAGE_JS)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        received = [0]
        cdp.on("Network.dataReceived", lambda e: received.__setitem__(0, received[0] + e.get("encodedDataLength", 0)))
        cdp.send("Performance.enable")

        def browser_busy() -> float:  # seconds the page's main thread spent on tasks so far
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

        added, cpu_per_tok, bytes_per_tok, to_request, to_paint, page_per_tok, to_join = [], [], [], [], [], [], []
        stalled = ""
        for turn in range(turns + 1):  # turn 0 warms up (sandbox start, imports, first render)
            marker = f"M{turn}x"
            words = " ".join(f"{marker}{i}" for i in range(tokens))
            standin.push(Reply((Text(words, chunks=tokens, delay=delay, pause=pause),)))
            page.evaluate(f"() => {{ window.__bench.marker = '{marker}0'; window.__bench.first = 0; window.__bench.joins = []; }}")
            t_a = time.monotonic()
            perf_now = page.evaluate("() => performance.now()")
            offset = (t_a + time.monotonic()) / 2 - perf_now / 1000  # browser clock -> this process's monotonic
            n_req = len(standin.requests)
            received[0] = 0
            cpu0 = cpu_seconds(proc.pid)
            busy0 = browser_busy()
            box = page.get_by_test_id("textbox")
            box.fill(f"turn {turn}: please answer")
            box.press("Enter")
            try:
                page.wait_for_function(f"() => {{ const b = document.querySelectorAll('.bot'); const l = b[b.length-1];"
                                       f" return l && l.textContent.includes('{marker}{tokens - 1}'); }}",
                                       timeout=turn_timeout * 1000)
            except Exception:  # the page fell behind the stream: say how far it got, stop this configuration
                shown = page.evaluate(f"() => {{ const b = document.querySelectorAll('.bot'); const l = b[b.length-1];"
                                      f" return l ? (l.textContent.match(/{marker}\\d+/g) || []).length : 0; }}")
                stalled = (f"reply not seen complete within {turn_timeout:.0f} s (the page was too busy to check); "
                           f"{shown} of {tokens} tokens were on screen afterwards")
                break
            page.locator("button.stop-button").wait_for(state="detached", timeout=60_000)
            time.sleep(0.3)
            cpu1 = cpu_seconds(proc.pid)
            busy1 = browser_busy()
            times = page.evaluate("() => window.__bench")
            req = standin.requests[n_req]
            first_event = [m.at for m in standin.marks if m.request == req.index and m.label == "first_event"][0]
            model_ttft = first_event - req.received_at + pause
            if turn == 0:
                continue
            added.append((times["first"] - times["enter"]) / 1000 - model_ttft)
            to_request.append(req.received_at - (times["enter"] / 1000 + offset))
            to_paint.append(times["first"] / 1000 + offset - (first_event + pause))
            if times["joins"]:
                to_join.append((times["joins"][0] - times["enter"]) / 1000)
            cpu_per_tok.append((cpu1 - cpu0) / tokens)
            page_per_tok.append((busy1 - busy0) / tokens)
            bytes_per_tok.append(received[0] / tokens)
        context.close()
        if not added:
            return {"kind": kind, "history": history, "turns": 0, "tokens": tokens, "stalled": stalled}
        return {
            "kind": kind,
            "history": history,
            "turns": len(added),
            "tokens": tokens,
            "stalled": stalled,
            "added_ttft_ms_p50": round(1000 * statistics.median(added), 1),
            "added_ttft_ms_p90": round(1000 * sorted(added)[max(0, int(len(added) * 0.9) - 1)], 1),
            "enter_to_request_ms_p50": round(1000 * statistics.median(to_request), 1),
            "first_token_to_paint_ms_p50": round(1000 * statistics.median(to_paint), 1),
            "enter_to_handler_join_ms_p50": round(1000 * statistics.median(to_join), 1) if to_join else None,
            "cpu_ms_per_token": round(1000 * statistics.median(cpu_per_tok), 3),
            "wire_bytes_per_token": round(statistics.median(bytes_per_tok)),
            "browser_ms_per_token": round(1000 * statistics.median(page_per_tok), 3),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--kind", choices=["agent", "agent_late", "baseline"], required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--standin", required=True)
    s.add_argument("--history", type=int, default=0)
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--history", type=int, default=500)
    ap.add_argument("--pause", type=float, default=0.3, help="the model's time to first token (s)")
    ap.add_argument("--delay", type=float, default=0.01, help="seconds between tokens (0.01: 100 tokens/s)")
    ap.add_argument("--kinds", default="baseline,agent_late,agent")
    ap.add_argument("--histories", default="", help="comma-separated, overrides 0,--history")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args.kind, args.port, args.standin, args.history)
        return

    from playwright.sync_api import sync_playwright

    from tests.support.claude_standin import ClaudeStandin

    standin = ClaudeStandin().start()
    results = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            for kind in args.kinds.split(","):
                histories = [int(h) for h in args.histories.split(",")] if args.histories else [0, args.history]
                for history in histories:
                    r = measure(kind, history, args.turns, args.tokens, args.pause, args.delay, browser, standin)
                    print(json.dumps(r), flush=True)
                    results.append(r)
            browser.close()
    finally:
        standin.stop()
    print()
    print("| app | earlier messages | added TTFT p50 / p90 (ms) | Enter→request / first token→paint p50 (ms) "
          "| Enter→handler queued p50 (ms) | server CPU per token (ms) | browser main thread per token (ms) "
          "| bytes on the wire per token |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "added_ttft_ms_p50" not in r:
            print(f"| {r['kind']} | {r['history']} | {r['stalled']} | | | | | |")
            continue
        print(f"| {r['kind']} | {r['history']} | {r['added_ttft_ms_p50']} / {r['added_ttft_ms_p90']} | "
              f"{r['enter_to_request_ms_p50']} / {r['first_token_to_paint_ms_p50']} | "
              f"{r['enter_to_handler_join_ms_p50']} | {r['cpu_ms_per_token']} | "
              f"{r['browser_ms_per_token']} | {r['wire_bytes_per_token']} |")


if __name__ == "__main__":
    main()
