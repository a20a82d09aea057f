"""Directory watching (`files.watch_dir`) through the unmodified SDK: the sync SDK polls a watcher
(`get_new_events`), the async SDK gets a stream with callbacks. Events for create, write, remove and rename, names
relative to the watched folder, recursive watches that follow new folders, entry info, and errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from e2b import FileNotFoundException, FilesystemEventType, FileType, SandboxException
from e2b_code_interpreter import Sandbox

from tests.support.localbox_fixtures import async_sandbox_for, sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    yield from sandbox_for(localbox, timeout=600)


def kinds(events) -> list[tuple[FilesystemEventType, str]]:
    return [(e.type, e.name) for e in events]


def test_new_file_gives_create_chmod_write(sandbox) -> None:
    sandbox.files.make_dir("w1")
    handle = sandbox.files.watch_dir("w1")
    sandbox.files.write("w1/a.txt", "one")
    assert kinds(handle.get_new_events()) == [(FilesystemEventType.CREATE, "a.txt"),
                                              (FilesystemEventType.CHMOD, "a.txt"),
                                              (FilesystemEventType.WRITE, "a.txt")]
    sandbox.files.write("w1/a.txt", "two")
    assert (FilesystemEventType.WRITE, "a.txt") in kinds(handle.get_new_events())
    assert handle.get_new_events() == []  # each event is handed out once
    handle.stop()


def test_remove_and_rename_events(sandbox) -> None:
    sandbox.files.make_dir("w2")
    sandbox.files.write("w2/old.txt", "x")
    sandbox.files.write("w2/gone.txt", "x")
    handle = sandbox.files.watch_dir("w2")
    sandbox.files.rename("w2/old.txt", "w2/new.txt")
    sandbox.files.remove("w2/gone.txt")
    seen = kinds(handle.get_new_events())
    assert (FilesystemEventType.RENAME, "old.txt") in seen
    assert (FilesystemEventType.CREATE, "new.txt") in seen
    assert (FilesystemEventType.REMOVE, "gone.txt") in seen
    handle.stop()


def test_commands_changes_are_seen_too(sandbox) -> None:
    sandbox.files.make_dir("w3")
    handle = sandbox.files.watch_dir("/home/user/w3")
    sandbox.commands.run("echo hi > /home/user/w3/from-shell.txt && rm /home/user/w3/from-shell.txt")
    seen = kinds(handle.get_new_events())
    assert seen[0] == (FilesystemEventType.CREATE, "from-shell.txt")
    assert (FilesystemEventType.REMOVE, "from-shell.txt") in seen
    handle.stop()


def test_recursive_watch_names_nested_paths_and_follows_new_folders(sandbox) -> None:
    sandbox.files.make_dir("w4/existing")
    handle = sandbox.files.watch_dir("w4", recursive=True)
    sandbox.files.write("w4/existing/f.txt", "x")
    sandbox.files.make_dir("w4/fresh")
    sandbox.files.write("w4/fresh/g.txt", "y")
    sandbox.commands.run("mkdir -p /home/user/w4/deep/er && echo z > /home/user/w4/deep/er/h.txt")
    seen = kinds(handle.get_new_events())
    assert seen[0] == (FilesystemEventType.CREATE, "existing/f.txt")
    assert (FilesystemEventType.CREATE, "fresh") in seen
    assert (FilesystemEventType.WRITE, "fresh/g.txt") in seen
    assert (FilesystemEventType.CREATE, "deep") in seen
    assert (FilesystemEventType.CREATE, "deep/er/h.txt") in seen  # made before its folder's watch existed
    handle.stop()


def test_non_recursive_watch_ignores_subfolders(sandbox) -> None:
    sandbox.files.make_dir("w5/sub")
    handle = sandbox.files.watch_dir("w5")
    sandbox.files.write("w5/sub/inner.txt", "x")
    sandbox.files.write("w5/top.txt", "x")
    names = {name for _, name in kinds(handle.get_new_events())}
    assert "top.txt" in names and not any("inner" in n for n in names)
    handle.stop()


def test_entry_info_in_events(sandbox) -> None:
    sandbox.files.make_dir("w6")
    handle = sandbox.files.watch_dir("w6", include_entry=True)
    sandbox.files.write("w6/e.txt", "entry")
    write = next(e for e in handle.get_new_events() if e.type == FilesystemEventType.WRITE)
    assert write.entry is not None
    assert (write.entry.name, write.entry.path, write.entry.type) == ("e.txt", "/home/user/w6/e.txt", FileType.FILE)
    assert write.entry.size == 5
    handle.stop()


def test_watching_a_missing_folder_or_a_file_fails(sandbox) -> None:
    with pytest.raises(FileNotFoundException):
        sandbox.files.watch_dir("no-such-folder")
    sandbox.files.write("plain.txt", "x")
    with pytest.raises(SandboxException):
        sandbox.files.watch_dir("plain.txt")


def test_a_stopped_watcher_gives_no_more_events(sandbox) -> None:
    sandbox.files.make_dir("w7")
    handle = sandbox.files.watch_dir("w7")
    handle.stop()
    with pytest.raises(SandboxException):
        handle.get_new_events()


def test_async_watch_streams_events_to_the_callback(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            await sbx.files.make_dir("aw/sub")
            events = []
            exits = []
            handle = await sbx.files.watch_dir("aw", on_event=events.append, recursive=True, include_entry=True,
                                               on_exit=exits.append)
            await sbx.files.write("aw/sub/x.txt", "async")
            await sbx.files.rename("aw/sub/x.txt", "aw/y.txt")
            await sbx.files.remove("aw/y.txt")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (FilesystemEventType.REMOVE, "y.txt") not in kinds(events):
                await asyncio.sleep(0.05)
            seen = kinds(events)
            assert seen[:3] == [(FilesystemEventType.CREATE, "sub/x.txt"), (FilesystemEventType.CHMOD, "sub/x.txt"),
                                (FilesystemEventType.WRITE, "sub/x.txt")]
            assert (FilesystemEventType.RENAME, "sub/x.txt") in seen
            assert (FilesystemEventType.CREATE, "y.txt") in seen
            assert (FilesystemEventType.REMOVE, "y.txt") in seen
            assert events[0].entry is not None and events[0].entry.path == "/home/user/aw/sub/x.txt"
            await handle.stop()
            assert exits == [None]
            with pytest.raises(FileNotFoundException):
                await sbx.files.watch_dir("missing", on_event=events.append)

    asyncio.run(scenario())


def test_async_watch_ends_when_the_watched_folder_is_removed(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            await sbx.files.make_dir("doomed")
            exits = []
            await sbx.files.watch_dir("doomed", on_event=lambda e: None, on_exit=exits.append)
            await sbx.files.remove("doomed")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not exits:
                await asyncio.sleep(0.05)
            assert exits == [None]

    asyncio.run(scenario())
