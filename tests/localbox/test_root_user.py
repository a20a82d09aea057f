"""A local sandbox has one user, `user`, with no root rights: asking the SDK for `user="root"` is refused with a
plain message (never run as `user` behind the caller's back), while the default user and `user="user"` work; `sudo`
inside says the same in plain words."""

from __future__ import annotations

import pytest
from e2b import SandboxException


def test_a_command_as_root_is_refused_plainly(sandbox):
    with pytest.raises(SandboxException) as refused:
        sandbox.commands.run("id -u", user="root", timeout=60)
    assert "cannot run as 'root'" in str(refused.value)
    assert sandbox.commands.run("id -un", timeout=60).stdout.strip() == "user"
    assert sandbox.commands.run("id -un", user="user", timeout=60).stdout.strip() == "user"


def test_sudo_says_there_is_no_root_and_what_to_do_instead(sandbox):
    result = sandbox.commands.run("sudo id -u; echo exit=$?", timeout=60)
    assert "exit=1" in result.stdout
    assert "no root" in result.stderr and "pip" in result.stderr, result.stderr


def test_file_operations_as_root_are_refused_plainly(sandbox):
    sandbox.files.write("mine.txt", "mine")
    for attempt in (lambda: sandbox.files.read("mine.txt", user="root"),
                    lambda: sandbox.files.write("theirs.txt", "x", user="root"),
                    lambda: sandbox.files.list("/home/user", user="root")):
        with pytest.raises(SandboxException) as refused:
            attempt()
        assert "cannot run as 'root'" in str(refused.value)
    assert not sandbox.files.exists("theirs.txt")
    assert sandbox.files.read("mine.txt", user="user") == "mine"
