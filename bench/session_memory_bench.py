"""Memory of the page before, during and after many sessions without a browser (scripts calling the API).

Launches the real page (real Gradio server, embedded local sandboxes, the Claude stand-in) with a short
no-browser timeout, opens N sessions the way a script does (``/gradio_api/queue/join``, no heartbeat), each sending
one message with a large text (so each session holds memory), waits until the page has closed them all, and
reports the app process's resident memory (RSS) and Python's own allocations (tracemalloc) at each point, plus
the live sessions, sandbox slots and sandboxes. Results go to bench/README-sessions.md by hand.

    .venv/bin/python -m bench.session_memory_bench --sessions 12 --message-kb 90
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc
import uuid

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--message-kb", type=int, default=90)
    parser.add_argument("--timeout", type=float, default=5.0, help="the page's no-browser timeout (s)")
    args = parser.parse_args()

    from agent.sandbox import SandboxProvider
    from tests.browser.conftest import base_settings, launch_page
    from tests.support.claude_fixtures import FAKE_ANTHROPIC_KEY
    from tests.support.claude_standin import ClaudeStandin, text_reply
    from tests.webui.test_session_limits import chat, live_sandbox_ids
    from webui.admission import Caps, SessionPolicy

    server = ClaudeStandin().start()
    settings = base_settings(anthropic_api_key=FAKE_ANTHROPIC_KEY, anthropic_base_url=server.base_url)
    provider = SandboxProvider.from_settings(settings)
    policy = SessionPolicy(no_browser_timeout_s=args.timeout, caps=Caps(per_client=1000, total=1000))
    app = launch_page(settings, provider, sessions=policy)
    try:
        tracemalloc.start()
        # one warm-up session so imports and first-use caches are not counted as growth
        server.push(text_reply("warm"))
        chat(app.url, app.demo, "warm up", uuid.uuid4().hex[:11])
        while len(app.registry):
            time.sleep(0.5)
        gc.collect()
        base_rss, base_py = rss_mb(), tracemalloc.get_traced_memory()[0] / 2**20
        text = "x" * (args.message_kb * 1000)
        started = time.monotonic()
        for _ in range(args.sessions):
            server.push(text_reply("ok"))
            chat(app.url, app.demo, text, uuid.uuid4().hex[:11])
        gc.collect()
        peak_rss, peak_py = rss_mb(), tracemalloc.get_traced_memory()[0] / 2**20
        held = (len(app.registry), app.registry.slots.held(), len(live_sandbox_ids(provider)))
        while len(app.registry):
            time.sleep(0.5)
        closed_after = time.monotonic() - started
        time.sleep(2)
        gc.collect()
        end_rss, end_py = rss_mb(), tracemalloc.get_traced_memory()[0] / 2**20
        left = (len(app.registry), app.registry.slots.held(), len(live_sandbox_ids(provider)))
        print(f"sessions: {args.sessions} x {args.message_kb} KB message, no-browser timeout {args.timeout:g} s")
        print(f"baseline: RSS {base_rss:.0f} MB, Python heap {base_py:.1f} MB")
        print(f"all open: RSS {peak_rss:.0f} MB, Python heap {peak_py:.1f} MB; sessions/slots/sandboxes {held}")
        print(f"all closed after {closed_after:.0f} s: RSS {end_rss:.0f} MB, Python heap {end_py:.1f} MB; "
              f"sessions/slots/sandboxes {left}")
    finally:
        app.demo.close()
        provider.close()
        server.stop()


if __name__ == "__main__":
    main()
