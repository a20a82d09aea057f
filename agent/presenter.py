"""Shared wording for people: how the page and the CLI say what a turn did.

One fact gets one sentence, written here once: tool summaries, middle-clipping of long text, the language of a
file from its extension, and durations. The page
(``webui/render``) and the CLI (``agent/cli.py``) both call these; nothing here imports a UI toolkit.
"""

from __future__ import annotations

from typing import Any

SUMMARY_CHARS = 60

LANGS = {
    ".py": "python", ".js": "javascript", ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx",
    ".html": "html", ".css": "css", ".json": "json", ".md": "markdown", ".sh": "bash", ".yml": "yaml",
    ".yaml": "yaml", ".toml": "toml", ".sql": "sql", ".rs": "rust", ".go": "go", ".java": "java",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".rb": "ruby", ".txt": "text", ".csv": "text",
}


def clip_middle(text: str, limit: int) -> str:
    """Keep the head and tail of long text and say how much was left out."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut:,} characters not shown] …\n{text[-tail:]}"


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Whitespace folded to single spaces and cut to ``limit`` characters (plain text: escape it for Markdown)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def lang_for_path(path: str) -> str:
    """The code-block language for a file name ("" when unknown)."""
    dot = path.rfind(".")
    return LANGS.get(path[dot:].lower(), "") if dot >= 0 else ""


def tool_summary(name: str, tool_input: dict[str, Any], limit: int = SUMMARY_CHARS) -> str:
    """The short words after a tool's name: the command, the language, or the path (plain text, one line)."""
    if name == "run_command":
        return one_line(tool_input.get("command", ""), limit)
    if name == "execute_code":
        return str(tool_input.get("language") or "python") if tool_input.get("code") is not None else ""
    if name in ("write_file", "read_file"):
        return one_line(tool_input.get("path", ""), limit)
    for key in ("command", "path", "query", "url", "name"):
        if isinstance(tool_input.get(key), str):
            return one_line(tool_input[key], limit)
    return ""


def duration(seconds: float) -> str:
    """A duration in plain words: "0.4 s", "12 s", "3 min 5 s"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def size(n: int) -> str:
    """A byte count in plain words: "512 B", "3 KB"."""
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"

