"""File metadata as E2B stores it: extended attributes in the `user.e2b.` namespace (key lowercased).

Set by an upload (X-Metadata-* headers), shown in listings and file info, carried along by a rename (the
attributes move with the file), cleared by an overwrite without metadata, and settable from inside the sandbox
with `os.setxattr(path, "user.e2b.<key>", value)`. Needs a filesystem with user xattrs (tmpfs has them since
Linux 6.6)."""

from __future__ import annotations

import errno
import os

from .errors import GuestError

PREFIX = "user.e2b."


def read(path: str) -> dict[str, str]:
    """The metadata of one path (not following a final symlink); {} when it has none or cannot have any."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found: dict[str, str] = {}
    for name in names:
        if name.startswith(PREFIX):
            try:
                value = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
            found[name[len(PREFIX):]] = value.decode("utf-8", "replace")
    return found


def replace(fd: int, path: str, metadata: dict[str, str]) -> None:
    """Make `metadata` the file's whole metadata: stale keys go, given ones are (re)set."""
    wanted = {str(k).lower(): str(v) for k, v in metadata.items()}
    try:
        for name in os.listxattr(fd):
            if name.startswith(PREFIX) and name[len(PREFIX):] not in wanted:
                os.removexattr(fd, name)
        for key, value in wanted.items():
            os.setxattr(fd, PREFIX + key, value.encode())
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) and not wanted:
            return  # nothing to store and nothing stored: a filesystem without xattrs is fine
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise GuestError("invalid", f"file metadata cannot be stored on '{path}': this filesystem has no "
                                        "extended attributes (on a local sandbox, tmpfs has them from Linux 6.6)") from None
        raise
