"""What a tool's output looks like to people: internal notes taken out, and the whole of a long output one click away.

The agent tells the model which outputs were shown to the person ("[displayed to the user: image/png]"); that note
is for the model only. A long output is shown clipped in the step (a scroll box, webui/static/page.css); its full
text is written into the tab's private download folder and linked under it.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

_MODEL_NOTES = re.compile(r"^[ \t]*\[displayed to the user(?:: [^\]\n]*)?\][ \t]*(?:\n|$)", re.MULTILINE)


def for_people(text: str) -> str:
    """The output without the notes meant for the model."""
    return _MODEL_NOTES.sub("", text) if "[displayed to the user" in text else text


def file_url(path: Any) -> str:
    """The page's URL for a file in Gradio's cache (the same route charts are served from)."""
    return "/gradio_api/file=" + quote(str(path))


def full_output_link(sink: Any, call_id: str, text: str) -> str | None:
    """Save ``text`` for download and return the Markdown/HTML line linking it (None when it cannot be saved)."""
    write = getattr(sink, "write_download", None)
    if write is None:
        return None
    name = "".join(c for c in call_id if c.isalnum() or c in "_-")[:40] or "output"
    try:
        path = write(f"{name}-output.txt", text.encode("utf-8", "replace"))
    except OSError:
        return None
    lines = text.count("\n") + 1
    label = f"Download the full output ({lines:,} lines, {len(text):,} characters)"
    return (f'<a class="agent-full-output" href="{html.escape(file_url(path), quote=True)}" '
            f'download="{html.escape(path.name, quote=True)}" target="_blank">⬇ {label}</a>')
