"""Shared wording for people: how the page and the CLI say what a turn did.

One fact gets one sentence, written here once: tool summaries, middle-clipping of long text, the language of a
file from its extension, the extension of a saved output, durations, and how a turn ended (``end_note``). A tool call's title, code block and
diff come from the tool's own ``Display`` hints (``agent.tools.registry``), so any tool is shown without being
named here. The page (``webui/render``) and the CLI (``agent/cli.py``) both call these; nothing here imports a
UI toolkit.
"""

from __future__ import annotations

import difflib
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from agent.events import Done, StopReason
from agent.failures import NEW_CHAT
from agent.tools.registry import Display, defined_tool

SUMMARY_CHARS = 60

LANGS = {
    ".py": "python", ".js": "javascript", ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx",
    ".html": "html", ".css": "css", ".json": "json", ".md": "markdown", ".sh": "bash", ".yml": "yaml",
    ".yaml": "yaml", ".toml": "toml", ".sql": "sql", ".rs": "rust", ".go": "go", ".java": "java",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".rb": "ruby", ".txt": "text", ".csv": "text",
}


# A saved output's file extension by its MIME type: fixed for the common ones, so a chart is always ``.png``.
MIME_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
    "image/svg+xml": ".svg", "text/html": ".html", "text/markdown": ".md", "text/latex": ".tex",
    "application/json": ".json", "application/javascript": ".js", "application/pdf": ".pdf", "text/plain": ".txt",
}
_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


def file_extension(mime: str, name: str = "") -> str:
    """The extension an output is saved with (terminal and page alike): by its MIME type, else its own name's,
    else what the system knows for the type, else ``.bin``."""
    base = mime.split(";")[0].strip().lower()
    own = posixpath.splitext(name)[1]
    return (MIME_EXTENSIONS.get(base) or (own if _PLAIN_SUFFIX.fullmatch(own) else "")
            or mimetypes.guess_extension(base) or ".bin")


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


# How a language argument reads in a title ("Ran Python code"); other values are shown as they are.
LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "js": "JavaScript", "bash": "Bash", "sh": "shell",
                  "typescript": "TypeScript", "r": "R", "java": "Java"}
# Folder arguments that mean the workspace itself read as nothing ("Looked at the files in the workspace").
_WORKSPACE_VALUES = {".", "./", "~", "/home/user", "/home/user/"}
_OPTIONAL = re.compile(r"\[([^\[\]|]*)(?:\|([^\[\]]*))?\]")
_FIELD = re.compile(r"\{(\w+)\}")


def step_title(name: str, tool_input: dict[str, Any], *, finished: bool, limit: int = SUMMARY_CHARS) -> str:
    """A tool call's title in plain words (plain text, one line), from its ``Display.doing`` / ``done`` template.

    "Ran a command: npm install react", "Wrote counter-app/index.html", "Running Python code". A tool without
    templates reads as its name and summary ("Web search: cats"), so any tool gets a title without being named
    here.
    """
    d = hints(name)
    template = d.done if finished else d.doing
    if not template:
        summary = tool_summary(name, tool_input, limit)
        words = name.replace("_", " ").strip().capitalize() or "A tool"
        return f"{words}: {summary}" if summary else words

    def value(arg: str) -> str:
        raw = _arg(name, tool_input, arg)
        text = one_line("" if raw is None else str(raw), limit)
        if arg == d.language_arg:
            text = LANGUAGE_NAMES.get(text.lower(), text)
        return "" if text in _WORKSPACE_VALUES else text

    def optional(match: re.Match[str]) -> str:
        present, absent = match.group(1), match.group(2) or ""
        if all(value(arg) for arg in _FIELD.findall(present)):
            return present
        return absent

    filled = _OPTIONAL.sub(optional, template)
    return one_line(_FIELD.sub(lambda m: value(m.group(1)), filled), limit * 2)


def stopped_title(title: str) -> str:
    """A stopped step's title from the one it had while running: "Stopped while running a command: sleep 60".

    The running title alone ("Running a command: …") would read as if the job still ran."""
    first, _, rest = title.partition(" ")
    if first.endswith("ing") and first[:1].isupper():
        return f"Stopped while {first.lower()} {rest}".rstrip()
    return f"Stopped: {title}" if title else "Stopped"


def tool_summary(name: str, tool_input: dict[str, Any], limit: int = SUMMARY_CHARS) -> str:
    """The short words after a tool's name (plain text, one line): the argument its ``Display.title`` names.

    A tool without hints (one this process does not know) shows its command, path, query, url or name.
    """
    if has_hints(name):
        return one_line(tool_title_value(name, tool_input), limit)
    for key in ("command", "path", "query", "url", "name"):
        if isinstance(tool_input.get(key), str):
            return one_line(tool_input[key], limit)
    return ""


# ----- a tool call as its Display hints describe it (nothing here names a tool) -------------------------------

@dataclass(frozen=True)
class CodeBlock:
    text: str
    language: str


def hints(name: str) -> Display:
    found = defined_tool(name)
    return found.display if found is not None else Display()


def has_hints(name: str) -> bool:
    return hints(name) != Display()


def _arg(name: str, tool_input: dict[str, Any], arg: str) -> Any:
    """An argument's value, or its default once any input has arrived (``python`` for code without a language)."""
    value = tool_input.get(arg)
    if value is None and tool_input:
        found = defined_tool(name)
        value = found.default(arg) if found is not None else None
    return value


def tool_title_value(name: str, tool_input: dict[str, Any]) -> str:
    """The (uncut) value of the argument shown after the tool's name; "" while it has not arrived."""
    d = hints(name)
    value = _arg(name, tool_input, d.title) if d.title else None
    return "" if value is None else str(value)


def tool_path(name: str, tool_input: dict[str, Any]) -> str | None:
    d = hints(name)
    value = tool_input.get(d.path) if d.path else None
    return value if isinstance(value, str) and value else None


def tool_code(name: str, tool_input: dict[str, Any]) -> CodeBlock | None:
    """The code (command, file content) the call carries, with its language; None if there is none (yet)."""
    d = hints(name)
    text = tool_input.get(d.code) if d.code else None
    if not isinstance(text, str) or not text:
        return None
    language = d.language
    if d.language_arg:
        language = str(_arg(name, tool_input, d.language_arg) or language)
    elif d.language_from_path:
        path = tool_input.get(d.language_from_path)
        language = lang_for_path(path if isinstance(path, str) else "") or language
    return CodeBlock(d.prefix + text, language)


def tool_diff(name: str, tool_input: dict[str, Any], max_lines: int = 400) -> str | None:
    """A unified diff of the call's (old, new) text arguments, without headers; None if the tool shows none."""
    d = hints(name)
    if d.diff is None:
        return None
    old, new = (tool_input.get(arg) for arg in d.diff)
    if not isinstance(old, str) and not isinstance(new, str):
        return None
    old, new = (v if isinstance(v, str) else "" for v in (old, new))
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2))[2:]
    # hunk headers count lines of the snippet, not of the file: meaningless to a reader, so only a gap mark stays
    body = [("…" if line.startswith("@@") else line) for line in lines][1:]
    if len(body) > max_lines:
        body = body[:max_lines] + [f"… {len(body) - max_lines} more lines"]
    return "\n".join(body)


def duration(seconds: float) -> str:
    """A duration in one format everywhere: "0.04 s", "1.2 s", "12 s", "2 min 5 s"."""
    if seconds < 0.095:
        return f"{max(seconds, 0.01):.2f} s"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def budget_words(budget: tuple[float, float] | None) -> str:
    """The remaining dollar budget in plain words ("≈ $0.04 of $0.50 used"); "" when there is none."""
    if budget is None:
        return ""
    used, limit = budget
    return f"≈ ${used:.2f} of ${limit:.2f} used" if used < limit else f"the ≈ ${limit:.2f} budget is used up"


def count_of(n: int, thing: str) -> str:
    """A count in plain words: "1 file", "3 files", "no files"."""
    if n == 0:
        return f"no {thing}s"
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def size(n: int) -> str:
    """A byte count in plain words: "512 B", "3 KB"."""
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"



# How a turn ended when Done carries no sentence of its own (the core's own Done always does for these).
_END_WORDS: dict[StopReason, str] = {
    StopReason.MAX_TOKENS: "The reply was cut off at the length limit. Say \"continue\" to go on.",
    StopReason.TOOL_LIMIT: "Stopped after the maximum number of tool steps for one message.",
    StopReason.REFUSAL: "The model declined to answer.",
    StopReason.CONTEXT_FULL: f"The conversation is too long for the model. {NEW_CHAT}",
    StopReason.CANCELLED: "Stopped.",
}
TURN_FAILED = "The turn failed."  # for a failure whose Done carries no sentence (the error was shown before it)


def end_note(done: Done) -> str:
    """The one sentence for how a turn ended, "" for a normal end: ``Done.message``, else a fixed wording.

    A failure's sentence is the final ``Error``'s message repeated in ``Done``, so a consumer that shows this
    and skips ``Error(final=True)`` says each fact once.
    """
    if done.stop_reason in (StopReason.END_TURN, StopReason.STOP_SEQUENCE):
        return done.message
    return done.message or _END_WORDS.get(done.stop_reason, "")


def in_terminal(text: str) -> str:
    """A sentence written for the page, said for the terminal: there the way to start over is to run it again."""
    return text.replace(NEW_CHAT, "Start `python -m agent` again for a fresh conversation.")
