"""The chat page: `python app.py` (also the Hugging Face Space entry point).

Configuration comes from the environment / `.env` (see docs/ui.md). Host and port: GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT (default 127.0.0.1:7860). All logic lives in `webui/`; this file only wires it together.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from agent.config import Settings
from agent.sandbox import SandboxProvider
from webui.lifecycle import Lifecycle, install_sigterm_handler, probe_local_sandbox
from webui.page import PageOptions, build_demo, on_spaces


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, not {raw!r}")
    return int(raw)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2"):  # one line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:  # a broken .env or setting is one plain line for the operator, not a traceback
        settings = Settings.from_env()
        concurrency_limit = _int_env("AGENT_MAX_CONCURRENT")
    except ValueError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        sys.exit(2)
    provider = SandboxProvider.from_settings(settings)
    options = PageOptions(
        concurrency_limit=concurrency_limit,
        sandbox_problem=probe_local_sandbox(provider),
        on_spaces=on_spaces(),
    )
    demo = build_demo(settings, provider, options)
    lifecycle = Lifecycle(demo.registry, provider)
    install_sigterm_handler()
    try:
        demo.queue(default_concurrency_limit=options.concurrency_limit).launch(
            server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            max_threads=int(os.environ.get("GRADIO_MAX_THREADS", "40")),
            max_file_size=os.environ.get("AGENT_MAX_UPLOAD", "100mb"),  # bigger uploads are refused by the page
            app_kwargs={"lifespan": lifecycle.lifespan},
            prevent_thread_lock=True,
        )
        while demo.is_running:  # Ctrl-C and SIGTERM (made a KeyboardInterrupt) end this loop
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("Shutting down: closing sandboxes…", flush=True)
    finally:
        lifecycle.shutdown(demo)


if __name__ == "__main__":
    main()
