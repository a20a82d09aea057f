"""Tools as typed functions: the schema comes from the signature, bad input becomes a readable error result,
and a tool added the way docs/agent.md shows is offered to the model, run, and shown by the page and the CLI
with nothing else edited."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Annotated, Literal

from agent.cli import PlainPrinter
from agent.presenter import tool_summary
from agent.session import AgentSession
from agent.tools import TOOLS, Display, Tool, ToolContext, default_tools, tool
from tests.agent.helpers import collect, make_settings, run
from tests.support.claude_standin import ToolUse, result_text, text_reply, tool_reply
from tests.support.fake_sandbox import FakeSandbox, FakeSandboxProvider
from webui.render import render_events


@tool(display=Display(title="word", code="word", language="text"))
async def shout(
    ctx: ToolContext,
    word: Annotated[str, "The word to shout."],
    times: Annotated[int, "How many times."] = 2,
    style: Annotated[Literal["plain", "bang"], "How it ends."] = "plain",
) -> str:
    """Say a word loudly, several times."""
    end = "!" if style == "bang" else ""
    return " ".join([word.upper() + end] * times)


def _ctx() -> ToolContext:
    async def no_sandbox():
        raise AssertionError("this tool needs no sandbox")

    return ToolContext(sandbox=no_sandbox, output=lambda stream, text: None, timeout_s=5, max_output_chars=1000)


def test_the_schema_comes_from_the_signature_and_the_docstring():
    spec = shout.spec()
    assert spec["name"] == "shout" and spec["description"] == "Say a word loudly, several times."
    assert spec["eager_input_streaming"] is True
    schema = spec["input_schema"]
    assert schema["type"] == "object" and schema["required"] == ["word"], schema
    props = schema["properties"]
    assert props["word"] == {"type": "string", "description": "The word to shout."}, props
    assert props["times"] == {"type": "integer", "description": "How many times.", "default": 2}, props
    assert props["style"]["enum"] == ["plain", "bang"] and props["style"]["default"] == "plain", props
    assert "title" not in str(schema), f"pydantic's generated titles are noise for the model: {schema}"


def test_bad_input_is_an_error_result_naming_the_field_and_why():
    bad = run(shout.run({"word": ["not", "a", "string"], "times": "many", "style": "loud"}, _ctx()))
    assert bad.is_error
    for field in ("'word'", "'times'", "'style'"):
        assert field in bad.output, f"{field} should be named in {bad.output!r}"
    assert "'plain' or 'bang'" in bad.output, bad.output
    missing = run(shout.run({}, _ctx()))
    assert missing.is_error and "'word'" in missing.output and "required" in missing.output.lower(), missing.output
    not_an_object = run(shout.run("hello", _ctx()))
    assert not_an_object.is_error and "Traceback" not in not_an_object.output
    ok = run(shout.run({"word": "hi", "times": "3", "style": "bang"}, _ctx()))
    assert not ok.is_error and ok.output == "HI! HI! HI!", ok


def test_every_offered_tool_is_in_the_one_catalog_with_a_description_and_hints():
    names = [t.name for t in default_tools()]
    assert names == [t.name for t in TOOLS] and len(set(names)) == len(names)
    assert {"execute_code", "write_file", "edit_file", "read_file", "run_command", "list_files"} <= set(names)
    for t in TOOLS:
        assert t.description and t.display.title, f"{t.name} needs a description and a title hint"


def test_a_tool_added_as_the_docs_show_is_offered_run_and_rendered(claude):
    claude.push(tool_reply(ToolUse("shout", {"word": "hello", "times": 3}, id="toolu_shout")),
                text_reply("Shouted."))
    provider = FakeSandboxProvider()

    async def scenario():
        session = AgentSession(make_settings(claude), provider, tools=[*default_tools(), shout])
        try:
            return await collect(session, "shout hello")
        finally:
            await session.close()

    turn = run(scenario())
    offered = {t["name"]: t for t in claude.requests[0].body["tools"]}
    assert offered.get("shout") == shout.spec(), f"the new tool was not offered to the model: {list(offered)}"
    assert "execute_code" in offered and "edit_file" in offered
    sent = [r for r in claude.requests[1].tool_results() if r["tool_use_id"] == "toolu_shout"]
    assert sent and result_text(sent[0]) == "HELLO HELLO HELLO" and not sent[0].get("is_error"), sent

    step = render_events(turn.events)[0]
    assert step.metadata["title"] == "Shout\\: hello", step.metadata  # no templates: its name, plainly
    assert "```text\nhello\n```" in step.content and "HELLO HELLO HELLO" in step.content, step.content

    out = io.StringIO()
    printer = PlainPrinter(out, err=io.StringIO())
    for ev in turn.events:
        printer.show(ev)
    assert "▶ Shout: hello" in out.getvalue() and "✓ Shout: hello" in out.getvalue(), out.getvalue()


def test_the_example_in_the_docs_works_as_written():
    """docs/agent.md's "Adding a tool" example, run as it stands, against the in-memory sandbox."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "agent.md").read_text(encoding="utf-8")
    example = re.search(r"### Adding a tool.*?```python\n(.*?)```", docs, re.S)
    assert example, "docs/agent.md lost its 'Adding a tool' example"
    assert len(example.group(1).splitlines()) <= 20, "the example should stay short"
    scope: dict = {}
    exec(compile(example.group(1), "docs/agent.md", "exec"), scope)
    made = [v for v in scope.values() if isinstance(v, Tool)]
    assert len(made) == 1, "the example should define one tool"

    async def curl(command, out, err) -> int:
        out(f"ran: {command}\n")
        return 0

    box = FakeSandbox(command=curl)

    async def sandbox():
        return box

    ctx = ToolContext(sandbox=sandbox, output=lambda stream, text: None, timeout_s=5, max_output_chars=1000)
    result = run(made[0].run({"url": "http://localhost:8000/"}, ctx))
    assert not result.is_error and "ran: curl" in result.output and "localhost:8000" in result.output, result
    assert tool_summary(made[0].name, {"url": "http://localhost:8000/"}) == "http://localhost:8000/"
