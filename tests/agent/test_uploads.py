"""Uploaded files land in /home/user/uploads under a safe name, whatever the browser sent as the file's name:
no way up or out (``../``, slashes, backslashes), no NUL or control characters, no hidden file (leading dots),
and a name short enough for the file system."""

from __future__ import annotations

import posixpath

from agent.session import UPLOAD_DIR, _safe_name
from tests.agent.helpers import agent_session, make_settings, run

HOSTILE_NAMES = [
    "../../etc/passwd",
    "../../../home/user/.bashrc",
    "/etc/cron.d/job",
    "..\\..\\windows\\win.ini",
    "sub/dir/report.csv",
    "nul\x00byte.txt",
    "bell\x07tab\tnew\nline\rreturn\x1b[31m.txt",
    ".hidden",
    "...dots",
    "..",
    ".",
    "",
    "   ",
    "a" * 300 + ".csv",
    "é" * 200 + ".txt",  # 400 bytes in UTF-8: over the 255-byte limit of a file name
    "résumé (final) - copy.pdf",
]


def test_safe_names_stay_one_plain_visible_name():
    for raw in HOSTILE_NAMES:
        name = _safe_name(raw)
        assert name and name not in (".", ".."), (raw, name)
        assert "/" not in name and "\\" not in name, (raw, name)
        assert not any(ord(c) < 32 or c == "\x7f" for c in name), (raw, name)
        assert not name.startswith("."), (raw, name)
        assert len(name.encode()) <= 255, (raw, len(name.encode()))
    assert _safe_name("résumé (final) - copy.pdf") == "résumé (final) - copy.pdf", "a plain name is kept"
    assert _safe_name("a" * 300 + ".csv").endswith(".csv"), "a long name keeps its extension"


def test_hostile_names_land_in_the_uploads_folder(claude, provider):
    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            written = {}
            for i, raw in enumerate(HOSTILE_NAMES):
                data = f"upload {i}\n".encode()
                path = await s.upload(raw, data)
                assert posixpath.dirname(path) == UPLOAD_DIR, (raw, path)
                written[path] = data
            for path, data in written.items():
                assert await s.read_file(path) == data, path
            everything = await s.list_files("/home/user")
            return written, everything

    written, everything = run(scenario())
    outside = [p for p in everything if not p.startswith(UPLOAD_DIR + "/")]
    assert not outside, f"uploads wrote outside {UPLOAD_DIR}: {outside}"
    assert len(written) >= len(HOSTILE_NAMES) - 6, "names that differ only in hostile parts may share a file"
