"""File metadata (envd 0.6.2) through the unmodified SDK: set on write (multipart and octet-stream), shown in
listings and file info, carried by rename, cleared by an overwrite without metadata, set from inside the sandbox
through `user.e2b.*` extended attributes, and refused when invalid."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from e2b import InvalidArgumentException
from e2b.sandbox.filesystem.filesystem import WriteEntry
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import ENVD_PORT, raw_client, sandbox_headers
from tests.support.localbox_fixtures import async_sandbox_for, sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    yield from sandbox_for(localbox, timeout=600)


def test_metadata_set_on_write_and_shown_in_info(sandbox) -> None:
    info = sandbox.files.write("m1.txt", "content", metadata={"author": "ada", "purpose": "test"})
    assert info.metadata == {"author": "ada", "purpose": "test"}
    assert sandbox.files.get_info("m1.txt").metadata == {"author": "ada", "purpose": "test"}


def test_metadata_on_octet_stream_and_file_object_uploads(sandbox) -> None:
    info = sandbox.files.write("m2.txt", "content", metadata={"k": "v"}, use_octet_stream=True)
    assert info.metadata == {"k": "v"}
    sandbox.files.write("m3.bin", io.BytesIO(b"\x00\x01"), metadata={"kind": "blob"})
    assert sandbox.files.get_info("m3.bin").metadata == {"kind": "blob"}


def test_keys_are_lowercased(sandbox) -> None:
    sandbox.files.write("m4.txt", "x", metadata={"MixedCase": "Value Kept"})
    assert sandbox.files.get_info("m4.txt").metadata == {"mixedcase": "Value Kept"}


def test_no_metadata_is_none(sandbox) -> None:
    assert sandbox.files.write("m5.txt", "x").metadata is None
    assert sandbox.files.get_info("m5.txt").metadata is None


def test_write_files_applies_metadata_to_each(sandbox) -> None:
    infos = sandbox.files.write_files([WriteEntry(path="mm/1.txt", data="1"), WriteEntry(path="mm/2.txt", data="2")],
                                      metadata={"batch": "b1"})
    assert [i.metadata for i in infos] == [{"batch": "b1"}, {"batch": "b1"}]
    listed = {e.name: e.metadata for e in sandbox.files.list("mm")}
    assert listed == {"1.txt": {"batch": "b1"}, "2.txt": {"batch": "b1"}}


def test_rename_carries_metadata_and_overwrite_clears_it(sandbox) -> None:
    sandbox.files.write("m6.txt", "x", metadata={"stage": "one"})
    assert sandbox.files.rename("m6.txt", "m6-renamed.txt").metadata == {"stage": "one"}
    moved = sandbox.files.rename("m6-renamed.txt", "/tmp/m6-elsewhere.txt")  # another filesystem in the jail
    assert moved.metadata == {"stage": "one"}
    assert sandbox.files.write("/tmp/m6-elsewhere.txt", "y").metadata is None
    assert sandbox.files.get_info("/tmp/m6-elsewhere.txt").metadata is None
    sandbox.files.write("m7.txt", "x", metadata={"a": "1", "b": "2"})
    assert sandbox.files.write("m7.txt", "y", metadata={"b": "3"}).metadata == {"b": "3"}


def test_metadata_set_through_xattrs_inside_the_sandbox(sandbox) -> None:
    sandbox.files.write("m8.txt", "x")
    sandbox.commands.run("python3 -c \"import os; os.setxattr('/home/user/m8.txt', 'user.e2b.source', b'shell')\"")
    sandbox.commands.run("python3 -c \"import os; os.setxattr('/home/user/m8.txt', 'user.other', b'hidden')\"")
    assert sandbox.files.get_info("m8.txt").metadata == {"source": "shell"}


def test_invalid_metadata_is_refused_by_the_server_too(localbox, sandbox) -> None:
    with pytest.raises(InvalidArgumentException):  # the SDK checks first...
        sandbox.files.write("bad.txt", "x", metadata={"bad key": "v"})
    # ...and a client that does not is refused by the server, before anything is written
    headers = {**sandbox_headers(sandbox, ENVD_PORT), "X-Access-Token": sandbox._envd_access_token,
               "Content-Type": "application/octet-stream", "X-Metadata-Note": "tab\tinside"}
    with raw_client(localbox) as client:
        response = client.post("/files", params={"path": "/home/user/bad.txt"}, content=b"x", headers=headers)
    assert response.status_code == 400, response.text
    assert not sandbox.files.exists("bad.txt")


def test_async_metadata(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            info = await sbx.files.write("am.txt", "x", metadata={"owner": "async"})
            assert info.metadata == {"owner": "async"}
            assert (await sbx.files.get_info("am.txt")).metadata == {"owner": "async"}
            assert (await sbx.files.rename("am.txt", "am2.txt")).metadata == {"owner": "async"}
            assert [e.metadata for e in await sbx.files.list(".") if e.name == "am2.txt"] == [{"owner": "async"}]
            octet = await sbx.files.write("am3.txt", "x", metadata={"Kind": "octet"}, use_octet_stream=True)
            assert octet.metadata == {"kind": "octet"}
            assert (await sbx.files.write("am3.txt", "y")).metadata is None  # an overwrite without metadata clears
            assert (await sbx.files.get_info("am3.txt")).metadata is None
            await sbx.commands.run("python3 -c \"import os; os.setxattr('/home/user/am3.txt', 'user.e2b.via', b'xattr')\"")
            assert (await sbx.files.get_info("am3.txt")).metadata == {"via": "xattr"}

    asyncio.run(scenario())
