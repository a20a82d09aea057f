"""The chat page: `python app.py` (also the Hugging Face Space entry point).

Configuration comes from the environment / `.env` (see docs/ui.md). Host and port: GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT (default 127.0.0.1:7860). A bad setting or a busy port is one plain line on stderr and exit
status 2, after the embedded local sandbox server is stopped. All logic lives in `webui/`; this file only wires it
together.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time

# Run with a Python that lacks the app's packages (the system one instead of .venv), the first import below would
# end in a traceback: say how to start it instead. Checked without importing gradio (see below why).
if any(importlib.util.find_spec(name) is None for name in ("gradio", "anthropic", "e2b_code_interpreter", "dotenv")):
    sys.exit("This Python does not have the app's packages. Start the app with: bash scripts/run.sh")

from agent.config import Settings, environment  # after the check above
from agent.config import on_spaces as running_on_spaces
from agent.guardrails import Guardrails

# webui (and so gradio) is imported only after the settings are checked: gradio reads GRADIO_SERVER_PORT with
# int() at import time, so a bad value would otherwise end in its traceback before our check runs.


def _int_env(name: str, lowest: int = 0, highest: int | None = None) -> int | None:
    """A whole-number setting, or None when unset; ValueError with plain words when it is not usable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, not {raw!r}")
    value = int(raw)
    if value < lowest or (highest is not None and value > highest):
        span = f"from {lowest} to {highest}" if highest is not None else f"at least {lowest}"
        raise ValueError(f"{name} must be a whole number {span}, not {raw!r}")
    return value


def _launch_problem(exc: OSError, host: str, port: int) -> str:
    """One plain line for a server that could not start listening (Gradio raises a bare OSError)."""
    if "empty port" in str(exc).lower():  # Gradio's words when binding host:port failed
        return (f"Port {port} is already in use (or {host} is not an address of this machine); "
                "set GRADIO_SERVER_PORT to a free port.")
    return f"The page could not start listening on {host}:{port}: {exc.strerror or exc}."


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2"):  # one line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:  # a broken .env or setting is one plain line for the operator, not a traceback
        settings = Settings.from_env()
        concurrency_limit = _int_env("AGENT_MAX_CONCURRENT")
        host = os.environ.get("GRADIO_SERVER_NAME", "").strip() or "127.0.0.1"
        port = _int_env("GRADIO_SERVER_PORT", 1, 65535) or 7860
        max_threads = _int_env("GRADIO_MAX_THREADS", 1) or 40
        from webui.hosting import Hosting  # no gradio import: safe before the checks above are done

        env = environment()  # .env counts like the real environment for every setting
        hosting = Hosting.from_env(env)
        guardrails = Guardrails.from_env(env)
        from webui.admission import SessionPolicy  # no gradio import either

        sessions = SessionPolicy.from_env(env, kind=settings.kind, spaces=running_on_spaces(env))
        trust_proxy = sessions.trust_proxy  # AGENT_TRUST_PROXY, or on a Space
    except ValueError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        sys.exit(2)
    from agent.sandbox import SandboxProvider
    from webui.lifecycle import Lifecycle, install_sigterm_handler, probe_local_sandbox
    from webui.look import launch_options
    from webui.opstatus import middleware as status_middleware
    from webui.page import PageOptions, build_demo, on_spaces

    provider = SandboxProvider.from_settings(settings)
    options = PageOptions(
        concurrency_limit=concurrency_limit,
        sandbox_problem=probe_local_sandbox(provider),
        on_spaces=on_spaces(),
        hosting=hosting,
        guardrails=guardrails,
        trust_proxy=trust_proxy,
        sessions=sessions,
    )
    demo = build_demo(settings, provider, options)
    lifecycle = Lifecycle(demo.registry, provider)
    install_sigterm_handler()
    launch_kwargs = hosting.launch_kwargs(lifecycle.lifespan, lifecycle.middleware())  # headers, login, heartbeats
    launch_kwargs["app_kwargs"]["middleware"].append(status_middleware(demo.registry))  # GET /status (counts)
    launch_problem: str | None = None
    try:
        demo.queue(default_concurrency_limit=options.concurrency_limit).launch(
            server_name=host,
            server_port=port,
            max_threads=max_threads,
            prevent_thread_lock=True,
            **launch_options(options.on_spaces),  # the page's stylesheet, script and footer
            **launch_kwargs,
        )
        while demo.is_running:  # Ctrl-C and SIGTERM (made a KeyboardInterrupt) end this loop
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("Shutting down: closing sandboxes…", flush=True)
    except OSError as exc:  # raised by launch() before the server runs: a busy port, an address not ours
        launch_problem = _launch_problem(exc, host, port)
    finally:
        lifecycle.shutdown(demo)  # the embedded local sandbox server and any sandbox are stopped in every case
    if launch_problem:
        print(launch_problem, file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
