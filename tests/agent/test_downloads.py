"""Downloads stream from the sandbox to disk: memory stays at a chunk whatever the file's size, the byte count is
checked while reading (a listing's size is not trusted), and past a cap the copy is gone and the reason is plain.
Against the real local sandbox server."""

from __future__ import annotations

import tracemalloc
import zipfile

import pytest

from agent.downloads import NOT_INCLUDED, DownloadCaps, DownloadTooLarge, save_file, save_zip
from tests.agent.helpers import run

MiB = 1024**2


def _with_box(provider, setup: str, body):
    async def scenario():
        box = await provider.create({"session": "downloads-test"})
        try:
            code, out = await box.run_command(setup, timeout_s=60)
            assert code == 0, out
            return await body(box)
        finally:
            await box.kill()

    return run(scenario())


def test_a_big_sparse_file_is_copied_to_disk_holding_only_chunks_in_memory(provider, tmp_path):
    """64 MiB that cost the sandbox nothing (``truncate``): the old path held all of it (twice) in memory."""
    dest = tmp_path / "big.bin"

    async def body(box):
        tracemalloc.start()
        try:
            size = await save_file(box, "/home/user/big.bin", dest, 100 * MiB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return size, peak

    size, peak = _with_box(provider, "truncate -s 64M /home/user/big.bin", body)
    assert size == 64 * MiB and dest.stat().st_size == 64 * MiB
    assert peak < 8 * MiB, f"peak Python memory while copying 64 MiB was {peak / MiB:.1f} MiB"


def test_a_file_past_the_cap_stops_with_a_plain_message_and_leaves_no_copy(provider, tmp_path):
    dest = tmp_path / "big.bin"

    async def body(box):
        with pytest.raises(DownloadTooLarge) as caught:
            await save_file(box, "/home/user/big.bin", dest, 1 * MiB)
        return str(caught.value)

    message = _with_box(provider, "truncate -s 3M /home/user/big.bin", body)
    assert message == ("big.bin is larger than 1 MB, the download limit here. Ask Claude to split or compress it.")
    assert not dest.exists(), "the partial copy must be deleted"


def test_the_zip_counts_bytes_read_not_the_listing_so_a_grown_file_is_left_out(provider, tmp_path):
    """The listing said 10 bytes; the file holds 3 MiB by the time it is read. Cap 2 MiB: it must not get in."""
    dest = tmp_path / "w.zip"
    listing = [("/home/user/grown.bin", 10), ("/home/user/small.txt", 6)]

    async def body(box):
        return await save_zip(box, listing, "/home/user", dest, DownloadCaps(file_bytes=100 * MiB, zip_bytes=2 * MiB))

    summary = _with_box(provider, "truncate -s 3M /home/user/grown.bin && echo hello > /home/user/small.txt", body)
    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
        note = zf.read(NOT_INCLUDED).decode()
        inside = sum(i.file_size for i in zf.infolist() if i.filename != NOT_INCLUDED)
    assert "grown.bin" not in names and "small.txt" in names, names
    assert "grown.bin" in note and "2 MB" in note, note
    assert (summary.included, summary.left_out) == (1, 1) and inside <= 2 * MiB
    assert not (tmp_path / "w.zip.part").exists(), "the scratch copy must be gone"


def test_the_zip_cap_holds_over_several_files_and_per_file(provider, tmp_path):
    dest = tmp_path / "w.zip"
    setup = "truncate -s 1500K /home/user/a.bin && truncate -s 1500K /home/user/b.bin && truncate -s 5M /home/user/c.bin"
    listing = [("/home/user/a.bin", 1500 * 1024), ("/home/user/b.bin", 1500 * 1024), ("/home/user/c.bin", 0)]

    async def body(box):
        return await save_zip(box, listing, "/home/user", dest, DownloadCaps(file_bytes=4 * MiB, zip_bytes=2 * MiB))

    summary = _with_box(provider, setup, body)
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
    assert names == {"a.bin", NOT_INCLUDED}, names
    assert summary.content_bytes == 1500 * 1024
