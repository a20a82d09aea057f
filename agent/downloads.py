"""Copies of sandbox files on this machine's disk, for a person to download: one file, or the workspace as a zip.

Bytes stream from the sandbox straight to disk (``Sandbox.read_chunks``), so a download costs one chunk of
memory whatever the file's size. The count is checked while reading, never taken from a listing: a file
that grew after it was listed (or a sparse file that claims to be small) stops at the cap like any other.
Past a cap the copy is removed and ``DownloadTooLarge`` says so in plain words.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.presenter import count_of
from agent.sandbox import Sandbox

DEFAULT_FILE_CAP = 100 * 1024**2  # bytes of one downloaded file
DEFAULT_ZIP_CAP = 200 * 1024**2  # bytes (before compression) of everything in the workspace zip
NOT_INCLUDED = "NOT-INCLUDED.txt"


class DownloadTooLarge(Exception):
    """A file (or the zip) passed its cap while it was being copied; the message is for a person."""


@dataclass(frozen=True)
class DownloadCaps:
    file_bytes: int = DEFAULT_FILE_CAP
    zip_bytes: int = DEFAULT_ZIP_CAP


@dataclass(frozen=True)
class ZipSummary:
    included: int
    left_out: int
    content_bytes: int  # what the included files hold (the zip itself is smaller)


def plain_size(n: int) -> str:
    """A byte count in plain words ("100 MB"; units of 1024, as the page's size settings are read)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


async def save_file(sandbox: Sandbox, path: str, dest: Path, cap: int) -> int:
    """Copy ``path`` from the sandbox into ``dest`` (at most ``cap`` bytes); the byte count.

    Past the cap ``dest`` is deleted and ``DownloadTooLarge`` raised; on any other failure it is deleted too.
    """
    written = 0
    try:
        with open(dest, "wb") as out:
            async for chunk in sandbox.read_chunks(path):
                written += len(chunk)
                if written > cap:
                    raise DownloadTooLarge(f"{posixpath.basename(path)} is larger than {plain_size(cap)}, the "
                                           "download limit here. Ask Claude to split or compress it.")
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return written


async def save_zip(sandbox: Sandbox, files: Sequence[tuple[str, int]], root: str, dest: Path,
                   caps: DownloadCaps = DownloadCaps()) -> ZipSummary:
    """Zip ``files`` ((sandbox path, listed size)) into ``dest``, names relative to ``root``.

    Files are fetched one at a time into a scratch file next to ``dest`` and added from there, so memory holds
    one chunk and disk at most the caps. A file listed too big is left out without being fetched; one that
    turns out bigger than the room left (it grew) is dropped when it passes it. What was left out is named
    in NOT-INCLUDED.txt inside the zip.
    """
    scratch = dest.with_name(dest.name + ".part")
    total = 0
    left_out: list[str] = []
    try:
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for path, listed in files:
                name = posixpath.relpath(path, root)
                room = min(caps.file_bytes, caps.zip_bytes - total)
                if listed > room:
                    left_out.append(name)
                    continue
                try:
                    size = await save_file(sandbox, path, scratch, room)
                except DownloadTooLarge:
                    left_out.append(name)
                    continue
                total += size
                await asyncio.to_thread(zf.write, scratch, name)
                scratch.unlink(missing_ok=True)
            if left_out:
                zf.writestr(NOT_INCLUDED, _left_out_note(left_out, caps))
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)
    return ZipSummary(included=len(files) - len(left_out), left_out=len(left_out), content_bytes=total)


def _left_out_note(names: list[str], caps: DownloadCaps) -> str:
    shown = "\n".join(f"- {n}" for n in names[:200])
    more = f"\n... and {len(names) - 200} more" if len(names) > 200 else ""
    return (f"{count_of(len(names), 'file').capitalize()} left out: a file may hold at most {plain_size(caps.file_bytes)} and the "
            f"whole download {plain_size(caps.zip_bytes)}.\n{shown}{more}\n")
