"""Files API through the unmodified SDK: read/write in every upload form, listing, metadata, big and non-ASCII
files, and one filesystem shared by the files API, the kernel and commands."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator

import pytest
from e2b import FileNotFoundException, FileType, NotFoundException
from e2b_code_interpreter import Sandbox

from tests.support.localbox_fixtures import sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    """One sandbox for this module's files tests (each uses its own paths): saves a jail start per test, which
    keeps the suite's runtime modest on 2 cores. Overrides the function-scoped fixture of the same name."""
    yield from sandbox_for(localbox, timeout=600)


def test_write_and_read_text(sandbox) -> None:
    info = sandbox.files.write("/home/user/hello.txt", "hello files\n")
    assert info.path == "/home/user/hello.txt"
    assert info.name == "hello.txt"
    assert sandbox.files.read("/home/user/hello.txt") == "hello files\n"


def test_relative_path_is_under_home(sandbox) -> None:
    sandbox.files.write("relative.txt", "rel")
    assert sandbox.files.read("/home/user/relative.txt") == "rel"


def test_write_and_read_bytes(sandbox) -> None:
    payload = bytes(range(256)) * 4
    sandbox.files.write("/home/user/blob.bin", payload)
    got = sandbox.files.read("/home/user/blob.bin", format="bytes")
    assert bytes(got) == payload


def test_write_file_object_uses_octet_stream(sandbox) -> None:
    payload = b"from a file object\x00\x01\x02"
    info = sandbox.files.write("/home/user/fileobj.bin", io.BytesIO(payload))
    assert info.path == "/home/user/fileobj.bin"
    assert bytes(sandbox.files.read("/home/user/fileobj.bin", format="bytes")) == payload


def test_write_gzip_upload(sandbox) -> None:
    payload = b"compressible " * 1000
    sandbox.files.write("/home/user/gz.bin", payload, gzip=True)
    assert bytes(sandbox.files.read("/home/user/gz.bin", format="bytes")) == payload


def test_write_creates_parent_directories(sandbox) -> None:
    sandbox.files.write("/home/user/a/b/c/deep.txt", "deep")
    assert sandbox.files.read("/home/user/a/b/c/deep.txt") == "deep"
    assert sandbox.files.get_info("/home/user/a/b").type == FileType.DIR


def test_write_files_multiple(sandbox) -> None:
    infos = sandbox.files.write_files(
        [
            {"path": "/home/user/multi/one.txt", "data": "1"},
            {"path": "/home/user/multi/two.bin", "data": b"\x02"},
            {"path": "/home/user/multi/three.txt", "data": io.BytesIO(b"3")},
        ]
    )
    assert sorted(i.path for i in infos) == [
        "/home/user/multi/one.txt",
        "/home/user/multi/three.txt",
        "/home/user/multi/two.bin",
    ]
    assert sandbox.files.read("/home/user/multi/one.txt") == "1"
    assert bytes(sandbox.files.read("/home/user/multi/two.bin", format="bytes")) == b"\x02"
    assert sandbox.files.read("/home/user/multi/three.txt") == "3"


def test_list_with_depth(sandbox) -> None:
    sandbox.files.write("/home/user/tree/top.txt", "t")
    sandbox.files.write("/home/user/tree/sub/inner.txt", "i")
    shallow = sandbox.files.list("/home/user/tree")
    assert {(e.name, e.type) for e in shallow} == {("top.txt", FileType.FILE), ("sub", FileType.DIR)}
    assert {e.path for e in shallow} == {"/home/user/tree/top.txt", "/home/user/tree/sub"}
    deep = sandbox.files.list("/home/user/tree", depth=2)
    assert "/home/user/tree/sub/inner.txt" in {e.path for e in deep}
    top = next(e for e in shallow if e.name == "top.txt")
    assert top.size == 1


def test_list_missing_directory_raises(sandbox) -> None:
    with pytest.raises(NotFoundException):
        sandbox.files.list("/home/user/no-such-dir-" + uuid.uuid4().hex[:6])


def test_read_missing_file_raises_file_not_found(sandbox) -> None:
    with pytest.raises(FileNotFoundException):
        sandbox.files.read("/home/user/missing-" + uuid.uuid4().hex[:6])


def test_exists_get_info_make_dir(sandbox) -> None:
    assert sandbox.files.exists("/home/user/made") is False
    assert sandbox.files.make_dir("/home/user/made/nested") is True
    assert sandbox.files.make_dir("/home/user/made/nested") is False  # already there
    assert sandbox.files.exists("/home/user/made/nested") is True
    info = sandbox.files.get_info("/home/user/made/nested")
    assert info.type == FileType.DIR
    assert info.path == "/home/user/made/nested"
    sandbox.files.write("/home/user/made/f.txt", "12345")
    file_info = sandbox.files.get_info("/home/user/made/f.txt")
    assert file_info.type == FileType.FILE
    assert file_info.size == 5
    assert file_info.name == "f.txt"


def test_rename(sandbox) -> None:
    sandbox.files.write("/home/user/old-name.txt", "moving")
    entry = sandbox.files.rename("/home/user/old-name.txt", "/home/user/new-name.txt")
    assert entry.path == "/home/user/new-name.txt"
    assert sandbox.files.exists("/home/user/old-name.txt") is False
    assert sandbox.files.read("/home/user/new-name.txt") == "moving"


def test_remove_file_dir_and_missing(sandbox) -> None:
    sandbox.files.write("/home/user/doomed/x.txt", "x")
    sandbox.files.remove("/home/user/doomed/x.txt")
    assert sandbox.files.exists("/home/user/doomed/x.txt") is False
    sandbox.files.remove("/home/user/doomed")
    assert sandbox.files.exists("/home/user/doomed") is False
    sandbox.files.remove("/home/user/never-existed-" + uuid.uuid4().hex[:6])  # must not raise


def test_five_megabyte_round_trip(sandbox) -> None:
    payload = os.urandom(5 * 1024 * 1024 + 123)
    sandbox.files.write("/home/user/big.bin", payload)
    assert sandbox.files.get_info("/home/user/big.bin").size == len(payload)
    assert bytes(sandbox.files.read("/home/user/big.bin", format="bytes")) == payload
    # The kernel sees the same bytes.
    digest = sandbox.run_code("import hashlib; hashlib.sha256(open('/home/user/big.bin','rb').read()).hexdigest()")
    import hashlib

    assert digest.text == hashlib.sha256(payload).hexdigest()


def test_non_ascii_names_and_content(sandbox) -> None:
    path = "/home/user/données/résumé ✓.txt"
    sandbox.files.write(path, "contenu: été ☀ 日本語\n")
    assert sandbox.files.read(path) == "contenu: été ☀ 日本語\n"
    entries = sandbox.files.list("/home/user/données")
    assert [e.name for e in entries] == ["résumé ✓.txt"]
    assert entries[0].path == path
    listed = sandbox.commands.run("ls /home/user/données")
    assert listed.stdout.strip() == "résumé ✓.txt"
    assert sandbox.run_code(f"open({path!r}, encoding='utf-8').read()").text.startswith("contenu: été")


def test_kernel_files_visible_to_files_api_and_commands(sandbox) -> None:
    sandbox.run_code("open('from_kernel.txt', 'w').write('written by the kernel')")
    assert sandbox.files.read("/home/user/from_kernel.txt") == "written by the kernel"
    assert sandbox.commands.run("cat /home/user/from_kernel.txt").stdout == "written by the kernel"
    sandbox.commands.run("echo from-shell > /home/user/from_shell.txt")
    assert sandbox.files.read("/home/user/from_shell.txt") == "from-shell\n"
    assert sandbox.run_code("open('/home/user/from_shell.txt').read().strip()").text == "from-shell"
    sandbox.files.write("/home/user/from_api.txt", "api")
    assert sandbox.run_code("open('from_api.txt').read()").text == "api"


def test_tmp_is_shared_by_all_three_too(sandbox) -> None:
    sandbox.files.write("/tmp/lb-shared.txt", "tmp")
    assert sandbox.commands.run("cat /tmp/lb-shared.txt").stdout == "tmp"
    assert sandbox.run_code("open('/tmp/lb-shared.txt').read()").text == "tmp"


def test_reported_paths_are_sandbox_paths(sandbox) -> None:
    sandbox.files.write("/home/user/where/am-i.txt", "?")
    entries = sandbox.files.list("/home/user", depth=3)
    assert entries
    for entry in entries:
        assert entry.path.startswith("/home/user/"), entry.path
    assert sandbox.files.get_info("/home/user/where").path == "/home/user/where"
    assert sandbox.commands.run("pwd").stdout.strip() == "/home/user"
    kernel_paths = sandbox.run_code("import os; [os.path.abspath(p) for p in os.listdir('.')]").text
    assert "/home/user/where" in kernel_paths
    for text in (kernel_paths, sandbox.commands.run("readlink -f where").stdout):
        assert "/home/user" in text
        for host_hint in ("/work/", "/tmp/localbox", "/var/", "/run/"):
            assert host_hint not in text, f"host path leaked: {text!r}"


def test_symlinks_are_reported_as_symlinks(sandbox) -> None:
    sandbox.files.write("/home/user/target.txt", "t")
    sandbox.commands.run("ln -s /home/user/target.txt /home/user/link.txt")
    info = sandbox.files.get_info("/home/user/link.txt")
    assert info.symlink_target == "/home/user/target.txt"
    assert sandbox.files.read("/home/user/link.txt") == "t"


# ---------------------------------------------------------------------------------------------------------------
# Signed file URLs: they carry no sandbox headers, so the server must find the sandbox from the URL itself, and the
# signature must be checked (it is the only credential such a URL has).


def test_signed_download_url(sandbox) -> None:
    import httpx

    sandbox.files.write("/home/user/signed.txt", "signed content ✓")
    url = sandbox.download_url("/home/user/signed.txt")
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content.decode() == "signed content ✓"


def test_signed_upload_url(sandbox) -> None:
    import httpx

    url = sandbox.upload_url("/home/user/uploaded.txt")
    response = httpx.post(url, files={"file": ("uploaded.txt", b"via signed url")}, timeout=30)
    assert response.status_code in (200, 201), response.text
    assert sandbox.files.read("/home/user/uploaded.txt") == "via signed url"


def test_signed_urls_are_checked(sandbox) -> None:
    import urllib.parse

    import httpx

    sandbox.files.write("/home/user/private.txt", "private")
    sandbox.files.write("/home/user/other.txt", "other")
    good = sandbox.download_url("/home/user/private.txt")
    parts = urllib.parse.urlsplit(good)
    query = dict(urllib.parse.parse_qsl(parts.query))

    def with_query(**changes: str) -> str:
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode({**query, **changes})))

    tampered = with_query(signature=query["signature"][:-2] + ("AA" if not query["signature"].endswith("AA") else "BB"))
    other_path = with_query(path="/home/user/other.txt")
    unsigned = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode({"path": "/home/user/private.txt"})))
    for url in (tampered, other_path, unsigned):
        response = httpx.get(url, timeout=30)
        assert response.status_code in (401, 403), (url, response.status_code)
        assert "private" not in response.text and response.text != "other"
    # A read signature does not allow writing.
    write_with_read_url = httpx.post(good, files={"file": ("private.txt", b"overwritten")}, timeout=30)
    assert write_with_read_url.status_code in (401, 403)
    assert sandbox.files.read("/home/user/private.txt") == "private"


def test_signed_url_expires(sandbox) -> None:
    import time

    import httpx

    sandbox.files.write("/home/user/expiring.txt", "soon gone")
    url = sandbox.download_url("/home/user/expiring.txt", use_signature_expiration=1)
    time.sleep(2.5)
    assert httpx.get(url, timeout=30).status_code in (401, 403)
