"""write_file, read_file, list_files: the sandbox's filesystem (relative paths live under /home/user)."""

from __future__ import annotations

import posixpath
from typing import Any

from e2b.exceptions import NotFoundException

from agent.events import Artifact, ToolResult
from agent.tools.base import Tool, ToolContext, make_result, require_str, sandbox_path

MAX_READ_BYTES = 5_000_000
MAX_LIST_ENTRIES = 400
_IMAGE_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml"}


class WriteFile(Tool):
    name = "write_file"
    description = (
        "Create or overwrite a text file in the sandbox (parent folders are created). Relative paths are under "
        "/home/user. Write whole files; to change a file, read it first and write the new full content."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path, e.g. src/App.jsx or /home/user/data.csv"},
            "content": {"type": "string", "description": "The complete file content."},
        },
        "required": ["path", "content"],
    }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = sandbox_path(require_str(args, "path"))
        content = require_str(args, "content", allow_empty=True)
        sandbox = await ctx.sandbox()
        await sandbox.files.write(path, content)
        size = len(content.encode())
        return make_result(f"Wrote {size} bytes to {path}", limit=ctx.max_output_chars)


class ReadFile(Tool):
    name = "read_file"
    description = "Read a file from the sandbox. Relative paths are under /home/user. Long files are shortened."
    input_schema = {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "File path."}},
        "required": ["path"],
    }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = sandbox_path(require_str(args, "path"))
        sandbox = await ctx.sandbox()
        try:
            data = bytes(await sandbox.files.read(path, format="bytes"))
        except NotFoundException:
            return make_result(f"No such file: {path}", is_error=True, limit=ctx.max_output_chars)
        ext = posixpath.splitext(path)[1].lower()
        mime = _IMAGE_MIME.get(ext)
        if mime is not None:
            art = Artifact(mime, data.decode("utf-8", "replace") if mime == "image/svg+xml" else data,
                           name=posixpath.basename(path))
            return make_result(f"{path}: {mime} image, {len(data)} bytes [displayed to the user]",
                               artifacts=(art,), limit=ctx.max_output_chars)
        try:
            text = data[:MAX_READ_BYTES].decode("utf-8")
        except UnicodeDecodeError:
            return make_result(f"{path} is a binary file ({len(data)} bytes); it cannot be shown as text.",
                               limit=ctx.max_output_chars)
        if len(data) > MAX_READ_BYTES:
            text += f"\n... file continues ({len(data)} bytes in all) ..."
        return make_result(text if text else f"({path} is empty)", limit=ctx.max_output_chars)


class ListFiles(Tool):
    name = "list_files"
    description = (
        "List files and folders in the sandbox, two levels deep (folders end with /). Defaults to /home/user."
    )
    input_schema = {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "Folder path; defaults to /home/user."}},
    }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raw = args.get("path")
        path = sandbox_path(raw if isinstance(raw, str) and raw.strip() else ".")
        sandbox = await ctx.sandbox()
        try:
            entries = await sandbox.files.list(path, depth=2)
        except NotFoundException:
            return make_result(f"No such folder: {path}", is_error=True, limit=ctx.max_output_chars)
        lines = []
        for e in sorted(entries, key=lambda e: e.path):
            rel = posixpath.relpath(e.path, path)
            if any(part in SKIP_DIRS or part.startswith(".") for part in rel.split("/")[:-1]):
                continue
            is_dir = getattr(e.type, "value", e.type) == "dir"
            lines.append(f"{rel}/" if is_dir else f"{rel}  ({e.size} bytes)")
        total = len(lines)
        if total > MAX_LIST_ENTRIES:
            lines = lines[:MAX_LIST_ENTRIES] + [f"... and {total - MAX_LIST_ENTRIES} more"]
        body = "\n".join(lines) if lines else "(empty)"
        return make_result(f"{path}:\n{body}", limit=ctx.max_output_chars)


SKIP_DIRS = {"node_modules", ".git", "__pycache__", ".cache", ".npm", ".venv", "venv"}
