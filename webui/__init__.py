"""The chat page: a Gradio 6 ChatInterface over agent.session.AgentSession, one sandbox per browser session.

Modules, one job each:
- ``render``     events in, ``gr.ChatMessage`` list out (pure; unit-tested without a browser)
- ``artifacts``  writes charts/images from tools into Gradio's cache folder so yields stay cheap
- ``pacing``     decides when a streaming turn should yield to the page
- ``sessions``   one AgentSession per browser session, closed on tab close / shutdown
- ``status``     plain-words lines for the sandbox status, usage and missing key
- ``chat``       the ChatInterface handler (async generator) and the Stop listener
- ``page``       ``build_demo()``: lays out the page and wires the events
- ``lifecycle``  startup reaping and shutdown cleanup (lifespan + signal handler)
"""

from __future__ import annotations

from typing import Any


def build_demo(*args: Any, **kwargs: Any) -> Any:
    """Build the page (see ``webui.page.build_demo``). Imported lazily so ``webui.render`` stays light."""
    from webui.page import build_demo as _build

    return _build(*args, **kwargs)


__all__ = ["build_demo"]
