"""The pieces behind how outputs look (no browser): tables rebuilt from untrusted HTML, model notes, full output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from agent.events import ToolFinished, ToolResult
from webui.artifacts import ArtifactStore
from webui.outputs import for_people
from webui.render import TurnRenderer
from webui.tables import table_markup


def test_a_dataframe_becomes_a_plain_table_with_its_text_escaped():
    df = pd.DataFrame({"name": ["<img src=x onerror=alert(1)>", "$$x$$"], "value": [1.5, 2]})
    markup = table_markup(df._repr_html_())
    assert markup is not None and markup.startswith('<div class="agent-table"')
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "$" not in markup, "dollar signs would start LaTeX in the chat"
    assert "style" not in markup and "border=" not in markup and "dataframe" not in markup
    assert "\n" not in markup, "a blank line would end the HTML block in Markdown"


def test_html_that_is_more_than_a_table_is_left_to_the_sandboxed_frame():
    assert table_markup("<table><tr><td>a</td></tr></table><script>alert(1)</script>") is None
    assert table_markup('<table><tr><td><a href="https://x">link</a></td></tr></table>') is None
    assert table_markup("<p>no table here</p>") is None
    assert table_markup('<table><tr><td onclick="steal()" colspan="2">a</td></tr></table>') == (
        '<div class="agent-table" role="region" aria-label="Table" tabindex="0">'
        '<table><tr><td colspan="2">a</td></tr></table></div>')


def test_notes_for_the_model_are_taken_out_of_what_people_see():
    text = "stdout:\ndrew 200 points\n[displayed to the user: image/png]\n"
    assert for_people(text) == "stdout:\ndrew 200 points\n"
    assert for_people("a [displayed to the user] b") == "a [displayed to the user] b", "only whole lines go"


def test_a_long_output_is_clipped_on_the_page_with_a_link_to_all_of_it(tmp_path):
    store = ArtifactStore(tmp_path)
    text = "".join(f"line {i}\n" for i in range(5000))
    renderer = TurnRenderer(store)
    renderer.feed(ToolFinished("toolu_1", "run_command", ToolResult(output=text[:100], full_output=text), 0.5))
    (message,) = renderer.messages()
    assert "Download the full output (5,001 lines" in message.content
    href = message.content.split('href="/gradio_api/file=')[1].split('"')[0]
    assert Path(href).read_text() == text

