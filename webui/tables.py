"""Tables from code (a pandas DataFrame's HTML) shown as the page's own table instead of a framed web page.

A DataFrame displayed in the sandbox arrives as HTML made by untrusted code. When that HTML is nothing but a table
(what pandas writes: a wrapper, a scoped ``<style>``, the table, a "5 rows × 3 columns" line), the table is rebuilt
here from its text alone: only table tags, no attributes except numeric ``colspan``/``rowspan``, every text
escaped. The result is styled by the page's theme (light and dark, webui/static/page.css), scrolls when large and
is sized to its content. Any other HTML returns ``None`` and stays in its sandboxed frame (webui/artifacts.py).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_TABLE_TAGS = {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"}
_CELLS = {"th", "td"}
_WRAPPERS = {"div", "p", "span", "b", "strong", "i", "em", "br"}  # allowed around the table; their text is kept
_SKIPPED = {"style"}  # pandas' scoped stylesheet: dropped with its text
_VOID = {"br"}
_NUMBER = re.compile(r"^[-+−]?[\d,.\s]+(e[-+]?\d+)?%?$", re.IGNORECASE)
MAX_CELLS = 20_000  # beyond this a table is left to the frame (its markup would weigh on every later yield)


class _NotATable(Exception):
    pass


class _TableRebuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.notes: list[str] = []
        self.stack: list[str] = []
        self.skip = 0
        self.tables = 0
        self.cells = 0
        self.cell_text: list[str] | None = None
        self.cell_open: str = ""

    def _in_table(self) -> bool:
        return "table" in self.stack

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip or tag in _SKIPPED:
            if tag not in _VOID:
                self.skip += 1
            return
        if tag in _TABLE_TAGS:
            if tag == "table":
                if self._in_table():
                    raise _NotATable  # nested tables: leave to the frame
                self.tables += 1
            elif not self._in_table():
                raise _NotATable
            self.stack.append(tag)
            if tag in _CELLS:
                self.cells += 1
                if self.cells > MAX_CELLS:
                    raise _NotATable
                spans = "".join(f' {name}="{int(value)}"' for name, value in attrs
                                if name in ("colspan", "rowspan") and value and value.isdigit() and int(value) < 1000)
                self.cell_open = f"<{tag}{spans}"
                self.cell_text = []
            else:
                self.out.append(f"<{tag}>")
            return
        if tag in _WRAPPERS:
            if tag not in _VOID:
                self.stack.append(tag)
            elif self.cell_text is not None:
                self.cell_text.append(" ")
            return
        raise _NotATable  # an image, a link, a script, a form ...: not a plain table

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag not in _VOID:
                self.skip -= 1
            return
        if tag in _VOID:
            return
        if tag not in self.stack:
            return  # a stray end tag: ignored, as a browser would
        while self.stack and self.stack[-1] != tag:  # close what the markup left open
            self._close(self.stack.pop())
        self._close(self.stack.pop())

    def _close(self, tag: str) -> None:
        if tag in _CELLS and self.cell_text is not None:
            text = " ".join("".join(self.cell_text).split())
            numeric = ' class="num"' if text and _NUMBER.match(text) else ""
            self.out.append(f"{self.cell_open}{numeric}>{_escape(text)}</{tag}>")
            self.cell_text = None
        elif tag in _TABLE_TAGS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.cell_text is not None:
            self.cell_text.append(data)
        elif self._in_table():
            if data.strip() and self.stack[-1] == "caption":
                self.out.append(_escape(" ".join(data.split())))
        elif data.strip():
            self.notes.append(" ".join(data.split()))


def _escape(text: str) -> str:
    # "$" too: the chat renders LaTeX between dollar signs
    return html.escape(text, quote=True).replace("$", "&#36;")


def table_markup(markup: str) -> str | None:
    """The page's own markup for HTML that is only a table (or a few), else None (show it framed instead)."""
    if "<table" not in markup.lower():
        return None
    parser = _TableRebuilder()
    try:
        parser.feed(markup)
        parser.close()
    except _NotATable:
        return None
    if parser.tables == 0:
        return None
    while parser.stack:
        parser._close(parser.stack.pop())
    body = "".join(parser.out)
    notes = "".join(f'<p class="agent-table-note">{_escape(n)}</p>' for n in parser.notes)
    # One line: Markdown ends an HTML block at a blank line.
    return f'<div class="agent-table" role="region" aria-label="Table" tabindex="0">{body}</div>{notes}'
