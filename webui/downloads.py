"""The Files panel's downloads: one at a time per browser session, within the caps, one copy kept on disk.

Why: each click used to read the whole file into memory and leave a copy in Gradio's cache until the tab
closed, so three clicks on a 500 MiB sparse file raised the app's memory by GBs. Now the bytes stream from
the sandbox to disk (``agent.downloads``), a second click while one runs gets a plain message instead of a
second copy, and the previous copy is deleted when the next download starts (the rest when the tab closes):
a session holds at most one download on disk, at most the zip cap in size.
"""

from __future__ import annotations

import logging
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.downloads import DownloadCaps, DownloadTooLarge
from agent.presenter import count_of
from webui.limits import human_size
from webui.safety import inline_code

log = logging.getLogger(__name__)

BUSY = "⏳ A download is already being prepared for this chat. Wait for it to finish, then try again."


@dataclass
class _Slot:
    busy: bool = False
    last: Path | None = None  # the copy served last (deleted when the next one starts)


class DownloadDesk:
    """Prepares downloads for the sessions of one page. Per-session state lives with the session object."""

    def __init__(self, caps: DownloadCaps = DownloadCaps()) -> None:
        self.caps = caps
        self._slots: weakref.WeakKeyDictionary[Any, _Slot] = weakref.WeakKeyDictionary()

    def _slot(self, session: Any) -> _Slot:
        slot = self._slots.get(session)
        if slot is None:
            slot = self._slots[session] = _Slot()
        return slot

    def busy(self, session: Any) -> bool:
        return self._slot(session).busy

    async def file(self, session: Any, path: str) -> tuple[str | None, str]:
        """(local path for the File component or None, note in plain words)."""
        name = Path(path).name or "download"

        async def make(dest: Path) -> str:
            size = await session.agent.save_file(path, dest, self.caps.file_bytes)
            return f"{inline_code(path)} ({human_size(size)})"

        return await self._prepare(session, name, make, f"⚠️ Could not read {inline_code(path)} from the sandbox.")

    async def zip(self, session: Any) -> tuple[str | None, str]:
        async def make(dest: Path) -> str:
            summary = await session.agent.save_workspace_zip(dest, self.caps)
            note = f"workspace.zip ({count_of(summary.included, 'file')}, {human_size(dest.stat().st_size)})"
            if summary.left_out:
                note += (f"; {count_of(summary.left_out, 'file')} left out (over {human_size(self.caps.file_bytes)} each or "
                         f"{human_size(self.caps.zip_bytes)} in all, see NOT-INCLUDED.txt)")
            return note

        return await self._prepare(session, "workspace.zip", make, "⚠️ Could not pack the workspace. Please try again.")

    async def _prepare(self, session: Any, name: str, make: Any, failure: str) -> tuple[str | None, str]:
        slot = self._slot(session)
        if slot.busy:
            return None, BUSY
        slot.busy = True
        try:
            self._forget(slot)
            dest = session.artifacts.download_path(name)
            try:
                note = await make(dest)
            except DownloadTooLarge as exc:
                _remove(dest)
                return None, f"⚠️ {exc}"
            except Exception:
                _remove(dest)
                log.warning("preparing a download failed", exc_info=True)
                return None, failure
            slot.last = dest
            return str(dest), note
        finally:
            slot.busy = False

    @staticmethod
    def _forget(slot: _Slot) -> None:
        if slot.last is not None:
            _remove(slot.last)
            slot.last = None


def _remove(path: Path) -> None:
    """Delete a download copy and its private folder."""
    shutil.rmtree(path.parent, ignore_errors=True)
