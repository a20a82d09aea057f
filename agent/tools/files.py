"""write_file, read_file, list_files: the sandbox's filesystem (relative paths live under /home/user)."""

from __future__ import annotations

import posixpath
from typing import Annotated

from agent.events import Artifact, ToolResult
from agent.sandbox import PathNotFound
from agent.tools.base import NonBlank, sandbox_path
from agent.tools.registry import Display, ToolContext, tool

MAX_READ_BYTES = 5_000_000
MAX_LIST_ENTRIES = 400
SKIP_DIRS = {"node_modules", ".git", "__pycache__", ".cache", ".npm", ".venv", "venv"}
_IMAGE_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml"}


@tool(display=Display(title="path", path="path", code="content", language_from_path="path",
                     doing="Writing[ {path}| a file]", done="Wrote[ {path}| a file]"))
async def write_file(
    ctx: ToolContext,
    path: Annotated[NonBlank, "File path, e.g. src/App.jsx or /home/user/data.csv"],
    content: Annotated[str, "The complete file content."],
) -> str:
    """Create or overwrite a text file in the sandbox (parent folders are created). Relative paths are under
    /home/user. Use it for new files or complete rewrites; to change part of an existing file use edit_file."""
    where = sandbox_path(path)
    sandbox = await ctx.sandbox()
    await sandbox.write(where, content)
    return f"Wrote {len(content.encode())} bytes to {where}"


@tool(display=Display(title="path", path="path", doing="Reading[ {path}| a file]", done="Read[ {path}| a file]"))
async def read_file(ctx: ToolContext, path: Annotated[NonBlank, "File path."]) -> ToolResult:
    """Read a file from the sandbox. Relative paths are under /home/user. Long files are shortened."""
    where = sandbox_path(path)
    sandbox = await ctx.sandbox()
    try:
        data = await sandbox.read_bytes(where)
    except PathNotFound:
        return ctx.result(f"No such file: {where}", is_error=True)
    mime = _IMAGE_MIME.get(posixpath.splitext(where)[1].lower())
    if mime is not None:
        art = Artifact(mime, data.decode("utf-8", "replace") if mime == "image/svg+xml" else data,
                       name=posixpath.basename(where))
        return ctx.result(f"{where}: {mime} image, {len(data)} bytes [displayed to the user]", artifacts=(art,))
    try:
        text = data[:MAX_READ_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        return ctx.result(f"{where} is a binary file ({len(data)} bytes); it cannot be shown as text.")
    if len(data) > MAX_READ_BYTES:
        text += f"\n... file continues ({len(data)} bytes in all) ..."
    return ctx.result(text if text else f"({where} is empty)")


@tool(display=Display(title="path", doing="Looking at the files in[ {path}| the workspace]",
                     done="Looked at the files in[ {path}| the workspace]"))
async def list_files(
    ctx: ToolContext, path: Annotated[str | None, "Folder path; defaults to /home/user."] = None,
) -> ToolResult:
    """List files and folders in the sandbox, two levels deep (folders end with /). Defaults to /home/user."""
    where = sandbox_path(path if path and path.strip() else ".")
    sandbox = await ctx.sandbox()
    try:
        entries = await sandbox.list(where, depth=2)
    except PathNotFound:
        return ctx.result(f"No such folder: {where}", is_error=True)
    lines = []
    for e in sorted(entries, key=lambda e: e.path):
        rel = posixpath.relpath(e.path, where)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.split("/")[:-1]):
            continue
        lines.append(f"{rel}/" if e.kind == "dir" else f"{rel}  ({e.size} bytes)")
    total = len(lines)
    if total > MAX_LIST_ENTRIES:
        lines = lines[:MAX_LIST_ENTRIES] + [f"... and {total - MAX_LIST_ENTRIES} more"]
    body = "\n".join(lines) if lines else "(empty)"
    return ctx.result(f"{where}:\n{body}")
