"""Who a request asks to act as. A local sandbox has one user, `user` (uid 1000), and no root.

E2B's SDK names the user of a command or file operation in an `Authorization: Basic <user>:` header (commands,
filesystem RPCs) or a `username` query parameter (file URLs); E2B's template also lets `user` run `sudo`. Here
the sandbox user is unprivileged inside the jail as well as outside, so a request for any other user (`root`) is
refused with a plain message instead of silently running as `user`.
"""

from __future__ import annotations

import base64
import binascii

SANDBOX_USER = "user"


def basic_user(authorization: str) -> str | None:
    """The user named by an `Authorization: Basic` header, or None when there is none."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return decoded.split(":", 1)[0]


def refusal(user: str | None) -> str | None:
    """None when `user` is this sandbox's user (or not given); otherwise the message to answer with."""
    if user in (None, "", SANDBOX_USER):
        return None
    return (f"the local sandbox cannot run as {user!r}: everything runs as {SANDBOX_USER!r} (uid 1000), which "
            f"has no root rights and no sudo here. Leave the user out; pip installs packages into the user's "
            f"own site and npm into the project folder without root.")
