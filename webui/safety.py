"""Model-written Markdown made safe to show: code, tables, lists, links and math render; HTML and images do not.

Why: Gradio's chat renders Markdown with raw HTML, and its browser-side sanitizer keeps ``<form>``, ``<input>``,
``<button>``, ``style`` attributes and remote ``<img>`` (only scripts, ``on*`` handlers and ``javascript:`` URLs are
removed). A prompt-injected reply could draw a full-page "re-enter your key" form posting off-site, or load a
remote image that carries data out of a no-internet sandbox through the visitor's browser.

How (safe by construction, so it does not depend on agreeing with the browser's Markdown parser on edge cases):
- every fenced code block is re-emitted at column 0 with a fence longer than any backtick run inside it, so it is
  always a code block whatever came before (the browser shows code escaped and highlights it);
- everywhere else, every ``<`` becomes ``&lt;`` (no tag, comment or autolink can form) and every ``![`` loses its
  image meaning (``\\![``: the link stays a link, nothing is fetched);
- inline code spans become ``<code>`` elements holding escaped text — the only tags in the output are those.
Mermaid diagrams (whose labels may hold HTML) are shown as their source. Text is changed only where it could
have become HTML or an image; the result renders like the original otherwise.
"""

from __future__ import annotations

import html
import re

_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BACKTICK_RUN = re.compile(r"`+")
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_LANG = re.compile(r"[^A-Za-z0-9_+#.-]")
_SPECIAL = re.compile(r"[\\`<!]")  # where prose may need a change
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NO_DIAGRAMS = frozenset({"mermaid"})  # rendered by the browser with HTML labels allowed


def safe_markdown(text: str) -> str:
    """Model text (Markdown) with everything that could become HTML or load an image neutralised."""
    if not text:
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # line ends as the browser's parser sees them
    out: list[str] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if opened is None or (opened.group(2)[0] == "`" and "`" in opened.group(3)):
            prose.append(lines[i])
            i += 1
            continue
        indent, run, info = len(opened.group(1)), opened.group(2), opened.group(3)
        closer = re.compile(rf"^ {{0,3}}{re.escape(run)}[~`]* *$")
        end = i + 1
        while end < len(lines) and not closer.match(lines[end]):
            end += 1
        if prose:
            out.append(_safe_prose("\n".join(prose)))
            prose = []
        body = [_dedent(line, indent) for line in lines[i + 1 : end]]
        out.append(code_block("\n".join(body), _language(info)))
        i = end + 1
    if prose:
        out.append(_safe_prose("\n".join(prose)))
    return "\n".join(out)


def code_block(code: str, lang: str = "") -> str:
    """A fenced block nothing inside can close: its fence is longer than any backtick run in ``code``."""
    longest = max((len(m.group(0)) for m in _BACKTICK_RUN.finditer(code)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code}\n{ticks}" if code else f"{ticks}{lang}\n{ticks}"


def inline_code(text: str) -> str:
    """``text`` shown as inline code, whatever it contains (for paths and names in model-controlled input)."""
    return f"<code>{literal(' '.join(text.split(chr(10))))}</code>"


def literal(text: str) -> str:
    """Text that reads the same after Markdown and HTML rendering: no markup, no entity, no math.

    ``<``, ``>`` and ``&`` become entities; every other ASCII punctuation mark gets a backslash (CommonMark allows
    it for all of them), so emphasis, links, images and list markers stay literal; a zero-width space after each
    ``$`` keeps ``$$`` from starting LaTeX.
    """
    out: list[str] = []
    for ch in text:
        if ch in "<>&":
            out.append(html.escape(ch))
        elif ch == "$":
            out.append("\\$\u200b")
        elif ch in _ASCII_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _dedent(line: str, indent: int) -> str:
    """A fenced block's content line without the fence's own indentation (as CommonMark strips it)."""
    strip = min(indent, len(line) - len(line.lstrip(" ")))
    return line[strip:]


def _language(info: str) -> str:
    words = info.strip().split()
    lang = _LANG.sub("", words[0])[:30] if words else ""
    return "text" if lang.lower() in _NO_DIAGRAMS else lang


def _safe_prose(text: str) -> str:
    """Markdown outside fenced blocks: code spans become escaped ``<code>``, ``<`` and ``![`` lose their meaning."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        special = _SPECIAL.search(text, i)
        if special is None:
            out.append(text[i:])
            break
        j = special.start()
        out.append(text[i:j])
        ch = text[j]
        if ch == "\\":
            nxt = text[j + 1] if j + 1 < n else ""
            if nxt in _ASCII_PUNCTUATION:
                out.append("&lt;" if nxt == "<" else "\\" + nxt)  # an escaped "<" is the same text
                i = j + 2
            else:
                out.append(ch)
                i = j + 1
        elif ch == "`":
            run = _BACKTICK_RUN.match(text, j).group(0)  # type: ignore[union-attr]
            close = _closing_run(text, j + len(run), len(run))
            if close is None:
                out.append(run)
                i = j + len(run)
            else:
                out.append(inline_code(_span_content(text[j + len(run) : close])))
                i = close + len(run)
        elif ch == "<":
            out.append("&lt;")
            i = j + 1
        elif text.startswith("![", j):
            out.append("\\!")
            i = j + 1
        else:
            out.append(ch)
            i = j + 1
    return "".join(out)


def _closing_run(text: str, start: int, length: int) -> int | None:
    """Where a backtick run of exactly ``length`` closes a code span opened before ``start`` (same paragraph)."""
    blank = _BLANK_LINE.search(text, start)
    limit = blank.start() if blank else len(text)
    for match in _BACKTICK_RUN.finditer(text, start, limit):
        if len(match.group(0)) == length:
            return match.start()
    return None


def _span_content(raw: str) -> str:
    """A code span's text as CommonMark shows it: line ends as spaces, one padding space each side removed."""
    text = raw.replace("\n", " ")
    if len(text) >= 2 and text[0] == " " and text[-1] == " " and text.strip(" "):
        text = text[1:-1]
    return text
