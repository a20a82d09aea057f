"""edit_file against a real local sandbox: exact replacement, byte for byte elsewhere, clear refusals that change
nothing; and the page shows the change as a diff."""

from __future__ import annotations

import pytest

from agent.events import ToolRunning
from agent.tools import ToolContext
from agent.tools.edit import edit_file
from tests.agent.helpers import run
from webui.render import render_events
from webui.render.markdown import inline_code

PATH = "/home/user/edit/sample.txt"
# Windows line endings, a Latin-1 byte that is not UTF-8, a tab and trailing spaces: all must survive an edit.
ORIGINAL = b"first line\r\nname = 'old'\r\ncaf\xe9 \t  \r\nname = 'old'\r\nlast line without newline"


@pytest.fixture
def box(provider):
    async def make():
        return await provider.create({"session": "edit-file-test"})

    sandbox = run(make())
    yield sandbox
    run(sandbox.kill())


def _edit(box, args: dict, original: bytes = ORIGINAL):
    async def scenario():
        await box.write(PATH, original)

        async def sandbox():
            return box

        ctx = ToolContext(sandbox=sandbox, output=lambda s, t: None, timeout_s=30, max_output_chars=5000)
        result = await edit_file.run(args, ctx)
        return result, await box.read_bytes(PATH)

    return run(scenario())


def test_one_exact_replacement_keeps_every_other_byte(box):
    result, after = _edit(box, {"path": "edit/sample.txt", "old_text": "first line", "new_text": "1st line\nadded"})
    assert not result.is_error, result.output
    assert after == ORIGINAL.replace(b"first line", b"1st line\nadded"), after
    assert "replaced 1 occurrence" in result.output and "line 1" in result.output, result.output


def test_text_found_several_times_is_refused_with_the_count_and_nothing_changes(box):
    result, after = _edit(box, {"path": PATH, "old_text": "name = 'old'", "new_text": "name = 'new'"})
    assert result.is_error and "2 times" in result.output and "replace_all" in result.output, result.output
    assert after == ORIGINAL


def test_replace_all_changes_every_occurrence(box):
    result, after = _edit(box, {"path": PATH, "old_text": "'old'", "new_text": "'new'", "replace_all": True})
    assert not result.is_error and "2 occurrences" in result.output, result.output
    assert after == ORIGINAL.replace(b"'old'", b"'new'")
    assert "lines 2, 4" in result.output, result.output


def test_absent_text_is_refused_and_nothing_changes(box):
    result, after = _edit(box, {"path": PATH, "old_text": "not in the file", "new_text": "x"})
    assert result.is_error and "not found" in result.output and "nothing was changed" in result.output
    assert after == ORIGINAL
    # the model wrote \n where the file has \r\n: it is told why the text did not match
    result, after = _edit(box, {"path": PATH, "old_text": "first line\nname", "new_text": "x"})
    assert result.is_error and "\\r\\n" in result.output, result.output
    assert after == ORIGINAL


def test_a_missing_file_and_bad_input_are_error_results(box):
    result, _ = _edit(box, {"path": "edit/nope.txt", "old_text": "a", "new_text": "b"})
    assert result.is_error and "No such file" in result.output and "write_file" in result.output, result.output
    result, after = _edit(box, {"path": PATH, "old_text": "", "new_text": "b"})
    assert result.is_error and "'old_text'" in result.output, result.output
    assert after == ORIGINAL
    result, after = _edit(box, {"path": PATH, "old_text": "last", "new_text": "last"})
    assert result.is_error and "same" in result.output
    assert after == ORIGINAL


def test_utf8_text_is_replaced_exactly(box):
    original = "naïve = \"café\" ✓\nsecond\n".encode()
    result, after = _edit(box, {"path": PATH, "old_text": "\"café\" ✓", "new_text": "\"thé\" ✗"}, original)
    assert not result.is_error, result.output
    assert after == "naïve = \"thé\" ✗\nsecond\n".encode()


def test_the_page_shows_the_change_as_a_diff():
    step = render_events([ToolRunning("t1", "edit_file", {"path": "app.py", "old_text": "x = 1\ny = 2",
                                                           "new_text": "x = 1\ny = 3"})])[0]
    assert step.metadata["title"] == "Editing app\\.py", step.metadata
    assert step.content.startswith(inline_code("app.py")), step.content
    assert "```diff\n" in step.content and "-y = 2\n+y = 3" in step.content, step.content


def test_overlapping_matches_count_as_more_than_one_place(box):
    result, after = _edit(box, {"path": PATH, "old_text": "aa", "new_text": "b"}, b"xaaay")
    assert result.is_error and "more than one place" in result.output and "replace_all" in result.output, result
    assert after == b"xaaay"


def test_a_folder_is_refused_in_plain_words_and_a_link_is_edited_through(box):
    async def scenario():
        await box.write("/home/user/edit/target.txt", b"value = 1\n")
        await box.run_command("mkdir -p /home/user/edit/folder && ln -sfn target.txt /home/user/edit/link.txt")

        async def sandbox():
            return box

        ctx = ToolContext(sandbox=sandbox, output=lambda s, t: None, timeout_s=30, max_output_chars=5000)
        folder = await edit_file.run({"path": "edit/folder", "old_text": "a", "new_text": "b"}, ctx)
        linked = await edit_file.run({"path": "edit/link.txt", "old_text": "1", "new_text": "2"}, ctx)
        _, kind = await box.run_command("stat -c %F /home/user/edit/link.txt")
        return folder, linked, await box.read_bytes("/home/user/edit/target.txt"), kind

    folder, linked, target, kind = run(scenario())
    assert folder.is_error and "is a folder" in folder.output and "Error" not in folder.output, folder
    assert not linked.is_error and target == b"value = 2\n" and kind.strip() == "symbolic link", (linked, kind)


def test_a_file_too_large_to_edit_is_refused_before_it_is_fetched():
    from agent.sandbox import Entry
    from agent.tools.edit import MAX_EDIT_BYTES
    from tests.support.fake_sandbox import FakeSandbox

    class HugeFile(FakeSandbox):
        async def stat(self, path: str) -> Entry:
            return Entry(path=path, name="huge.log", kind="file", size=MAX_EDIT_BYTES + 1)

        async def read_bytes(self, path: str) -> bytes:
            raise AssertionError("a file over the limit must not be fetched")

    box = HugeFile()

    async def sandbox():
        return box

    ctx = ToolContext(sandbox=sandbox, output=lambda s, t: None, timeout_s=5, max_output_chars=5000)
    result = run(edit_file.run({"path": "huge.log", "old_text": "a", "new_text": "b"}, ctx))
    assert result.is_error and "too large" in result.output and "nothing was changed" in result.output, result


def test_claude_is_told_to_prefer_it_over_rewriting_a_whole_file():
    from agent.prompts import system_prompt
    from agent.tools.files import write_file

    for kind in ("local", "e2b"):
        assert "prefer edit_file" in system_prompt(kind), kind
    assert "to change part of an existing file use edit_file" in write_file.description, write_file.description
