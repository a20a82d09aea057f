"""How the page looks and behaves in the browser beyond Gradio's defaults: a stylesheet and a small script.

Gradio 6 takes CSS and JS at ``launch()``, so the page's builder cannot attach them itself: whoever launches the
page (app.py, the browser tests) passes ``**launch_options()``. What they do is described in docs/ui.md; the files
are ``webui/static/page.css`` and ``webui/static/page.js``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
CSS = STATIC / "page.css"
JS = STATIC / "page.js"

# Gradio's footer: its own "Settings" link would be a second thing called Settings next to ours (the model and key).
FOOTER_LINKS = ["api", "gradio"]


# The chat puts a Share button under images and files whatever its settings say; it only works on Spaces (elsewhere
# it answers "Must be on Spaces to share").
NO_SHARE_CSS = '\n#chat-column button[aria-label="Share"] { display: none !important; }\n'


def launch_options(on_spaces: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch()``: the page's stylesheet, script and footer."""
    css = CSS.read_text(encoding="utf-8") + ("" if on_spaces else NO_SHARE_CSS)
    return {"css": css, "js": JS.read_text(encoding="utf-8"), "footer_links": list(FOOTER_LINKS)}
