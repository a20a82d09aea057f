"""Turn a tool's rich artifacts (PNG charts, SVG, HTML tables, ...) into chat message content.

Binary files are written once into a private folder inside Gradio's upload cache
(``gradio.utils.get_upload_folder()``): Gradio then serves them without copying or re-hashing them on
every streamed yield (a 6 MB PNG outside the cache costs ~45 ms per yield, inside ~3 ms).
Each browser session gets its own folder with an unguessable name, removed when the session ends.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

import gradio as gr
from gradio.utils import get_upload_folder

from agent.events import Artifact
from agent.presenter import file_extension
from webui.headers import OUTPUT_FRAME_CSP
from webui.safety import code_block, safe_markdown
from webui.tables import table_markup

MAX_INLINE_SVG = 512 * 1024  # bigger SVGs become a download link (the inline copy travels with every yield)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactSink(Protocol):
    """Whatever turns an Artifact into something a ChatMessage can hold."""

    def store(self, artifact: Artifact) -> Any: ...


class ArtifactStore:
    """Writes artifacts of one browser session into its own cache folder and returns chat content for them."""

    def __init__(self, root: Path | None = None) -> None:
        base = Path(root) if root is not None else Path(get_upload_folder())
        self.folder = base / f"agent-{os.getpid()}-{uuid.uuid4().hex}"  # the pid lets a later run sweep it
        self._count = 0

    def store(self, artifact: Artifact) -> Any:
        mime = artifact.mime.lower()
        if mime == "text/html":
            return html_content(_as_text(artifact.data))
        if mime in ("text/markdown", "text/plain", "application/json", "text/latex"):
            text = _as_text(artifact.data)
            return safe_markdown(text) if mime == "text/markdown" else code_block(text)
        path = self._write(artifact)
        if mime == "image/svg+xml" and path.stat().st_size <= MAX_INLINE_SVG:
            return svg_image(path.read_bytes(), artifact.name or "SVG output")
        return {"path": str(path), "alt_text": artifact.name or mime}

    def _write(self, artifact: Artifact) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stem = _SAFE_NAME.sub("_", Path(artifact.name).stem)[:40] if artifact.name else "output"
        ext = file_extension(artifact.mime, artifact.name)
        path = self.folder / f"{self._count:03d}-{stem}{ext}"
        data = artifact.data if isinstance(artifact.data, bytes) else artifact.data.encode()
        path.write_bytes(data)
        return path

    def write_download(self, name: str, data: bytes) -> Path:
        """Place a file the person asked to download (a full tool output) where Gradio serves it."""
        path = self.download_path(name)
        path.write_bytes(data)
        return path

    def download_path(self, name: str) -> Path:
        """A fresh path (in its own unguessable folder) where Gradio serves a download named ``name``."""
        folder = self.folder / "downloads" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (_SAFE_NAME.sub("_", name)[:120] or "download")

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


_FOLDER = re.compile(r"^agent-(?:(\d+)-)?[0-9a-f]{32}$")


def sweep_leftovers(root: Path | None = None) -> int:
    """Delete the artifact and download folders of app processes that are gone (killed before their clean-up).

    Folders of a live process (another app sharing the cache) are kept; one named without a pid (an older
    version's) always belongs to a gone process. Returns how many were removed; never raises.
    """
    base = Path(root) if root is not None else Path(get_upload_folder())
    removed = 0
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    for entry in entries:
        match = _FOLDER.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if pid is not None and (pid == os.getpid() or _alive(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += not entry.exists()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def svg_image(data: bytes, name: str) -> gr.HTML:
    """An SVG shown as an ``<img>`` of a ``data:`` URL: an image never runs the SVG's scripts or handlers, nor loads
    what it references. (Served as a file, Gradio sends SVG as a download; gr.Image's own SVG value breaks the
    chat's next turn: its URL is not base64 and Gradio's check of the returned history rejects it.)"""
    src = "data:image/svg+xml;base64," + base64.b64encode(data).decode()
    return gr.HTML(f'<img src="{src}" alt="{html.escape(name, quote=True)}" style="max-width:100%;height:auto">',
                   padding=False)


def html_content(markup: str) -> Any:
    """A table from code as the page's own themed table (webui/tables.py); any other HTML in a sandboxed frame."""
    return table_markup(markup) or sandboxed_html(markup)


def sandboxed_html(markup: str) -> gr.HTML:
    """HTML made by sandbox code, shown inside an ``<iframe sandbox>``: no scripts, its own opaque origin.

    Gradio puts an HTML component's value into the page as-is, so a ``display(HTML(...))`` with an ``onerror``
    handler would otherwise run on the app's origin, next to the Settings key field and the tab's endpoints.
    A sandboxed frame cannot size itself to its content, so its height is estimated from the markup.
    """
    rows = markup.count("<tr") + markup.count("<p") + markup.count("<br") + markup.count("<li") + markup.count("\n")
    height = max(80, min(480, 40 + 28 * rows))
    document = f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{OUTPUT_FRAME_CSP}">{markup}'
    frame = (f'<iframe sandbox="" srcdoc="{html.escape(document, quote=True)}" title="HTML output" '
             f'style="width:100%;height:{height}px;border:0;background:white"></iframe>')
    return gr.HTML(frame, padding=False)


def _as_text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
