"""Who may use the page: an optional password (Gradio's own login page), off unless the operator sets one.

``AGENT_USERS=alice:secret1,bob:secret2`` gives each person a name and password; ``AGENT_PASSWORD=secret`` is one
shared password (any name). Both may be set. Checked in constant time; the passwords never reach a log or ``repr``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accounts:
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    shared_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Accounts | None:
        """The configured accounts, or None when no password is set (no login). ValueError for a bad list."""
        source = os.environ if env is None else env
        shared = source.get("AGENT_PASSWORD", "").strip() or None
        users: list[tuple[str, str]] = []
        for entry in source.get("AGENT_USERS", "").split(","):
            if not entry.strip():
                continue
            name, sep, password = entry.strip().partition(":")
            if not sep or not name.strip() or not password:
                raise ValueError("AGENT_USERS must be name:password pairs separated by commas "
                                 "(e.g. alice:secret1,bob:secret2)")
            users.append((name.strip(), password))
        if not users and shared is None:
            return None
        return cls(tuple(users), shared)

    def check(self, username: str, password: str) -> bool:
        """Gradio's ``auth`` callable: True when the name and password match (constant-time comparisons)."""
        given = (password or "").encode()
        ok = self.shared_password is not None and hmac.compare_digest(given, self.shared_password.encode())
        for name, secret in self.users:
            same_name = hmac.compare_digest((username or "").encode(), name.encode())
            ok = (same_name and hmac.compare_digest(given, secret.encode())) or ok
        return ok


LOGIN_MESSAGE = "This demo needs a password. Ask the person who shared it with you."
