"""edit_file: change part of a file by exact string replacement; everything else stays byte for byte."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agent.events import ToolResult
from agent.sandbox import PathNotFound
from agent.tools.base import NonBlank, sandbox_path
from agent.tools.registry import Display, ToolContext, tool

MAX_EDIT_BYTES = 20_000_000


@tool(display=Display(title="path", path="path", diff=("old_text", "new_text"),
                     doing="Editing[ {path}| a file]", done="Edited[ {path}| a file]"))
async def edit_file(
    ctx: ToolContext,
    path: Annotated[NonBlank, "File path, e.g. src/App.jsx (relative paths are under /home/user)."],
    old_text: Annotated[str, Field(min_length=1), "The exact text to replace, including its whitespace and "
                        "indentation; include enough surrounding lines to make it unique in the file."],
    new_text: Annotated[str, "The text to put in its place (empty to delete it)."],
    replace_all: Annotated[bool | None, "Replace every occurrence instead of exactly one."] = False,
) -> ToolResult:
    """Change part of an existing text file: replace old_text with new_text exactly (no patterns, no
    re-formatting; the rest of the file is kept as it is). old_text must occur exactly once unless
    replace_all is true; otherwise nothing is changed and the result says why. Prefer this over rewriting a
    whole file with write_file; read the file first so old_text matches it exactly."""
    where = sandbox_path(path)
    if old_text == new_text:
        return ctx.result("old_text and new_text are the same; nothing to change.", is_error=True)
    sandbox = await ctx.sandbox()
    missing = f"No such file: {where}. To create a file use write_file."
    try:
        info = await sandbox.stat(where)  # the size first: a huge file is refused without being fetched
        if info.kind == "dir":
            return ctx.result(f"{where} is a folder, not a file; nothing was changed.", is_error=True)
        if info.size > MAX_EDIT_BYTES:
            return ctx.result(_too_large(where, info.size), is_error=True)
        data = await sandbox.read_bytes(where)
    except PathNotFound:
        return ctx.result(missing, is_error=True)
    if len(data) > MAX_EDIT_BYTES:  # it grew meanwhile (or the listing gave a link's own size)
        return ctx.result(_too_large(where, len(data)), is_error=True)
    # Bytes, not decoded text: line endings, encodings and every untouched byte stay exactly as they were.
    old, new = old_text.encode(), new_text.encode()
    count = data.count(old)
    if count == 0:
        return ctx.result(_not_found(where, data, old), is_error=True)
    unique = "Include more of the surrounding lines so it matches exactly one place, or pass replace_all=true."
    if count > 1 and not replace_all:
        return ctx.result(f"old_text occurs {count} times in {where}; nothing was changed. {unique}", is_error=True)
    first = data.find(old)
    if count == 1 and not replace_all and data.find(old, first + 1) >= 0:  # "aa" in "aaa": two places
        return ctx.result(f"old_text matches more than one place in {where} (the matches overlap); nothing was "
                          f"changed. {unique}", is_error=True)
    lines = _changed_lines(data, old, new)
    await sandbox.write(where, data.replace(old, new))
    which = f"line {lines[0]}" if len(lines) == 1 else "lines " + ", ".join(map(str, lines[:20]))
    more = " ..." if len(lines) > 20 else ""
    times = "1 occurrence" if count == 1 else f"{count} occurrences"
    return ctx.result(f"Edited {where}: replaced {times} ({which}{more} in the new file); "
                      f"{len(data)} -> {len(data) + count * (len(new) - len(old))} bytes.")


def _changed_lines(data: bytes, old: bytes, new: bytes) -> list[int]:
    """1-based line numbers, in the edited file, where each replacement starts."""
    out, start, shift = [], 0, 0
    while (at := data.find(old, start)) >= 0:
        out.append(data.count(b"\n", 0, at) + 1 + shift)
        shift += new.count(b"\n") - old.count(b"\n")
        start = at + len(old)
    return out


def _too_large(where: str, size: int) -> str:
    return f"{where} is too large to edit here ({size} bytes; at most {MAX_EDIT_BYTES}); nothing was changed."


def _not_found(where: str, data: bytes, old: bytes) -> str:
    text = f"old_text was not found in {where}; nothing was changed. It must match the file exactly (spaces, " \
           "tabs and line breaks included): read the file and copy the text from it."
    if b"\r\n" in data and b"\n" in old and old.replace(b"\n", b"\r\n") in data:
        text += " The file uses Windows line endings (\\r\\n); old_text has plain \\n."
    return text
