"""How the page is served: security headers, login, upload cap, Gradio's cache cleaning — one place for app.py
and the tests, so both launch the page the same way.

The safe defaults switch on by themselves where strangers can reach the page (``agent.config.is_public``: on a
Hugging Face Space, or listening beyond loopback); a login is on only when the operator sets a password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.config import is_public, on_spaces
from webui import headers, signin
from webui.access import LOGIN_MESSAGE, Accounts
from webui.limits import InputLimits, request_cap

log = logging.getLogger(__name__)

# Gradio's upload cache: every CACHE_SWEEP_S, delete files it stored more than CACHE_MAX_AGE_S ago (and all of them
# at shutdown). Uploads are copied into the sandbox when sent, so only the chat's own display of an attachment
# older than this goes blank.
CACHE_SWEEP_S = 600
CACHE_MAX_AGE_S = 3600


@dataclass(frozen=True)
class Hosting:
    spaces: bool = False
    public: bool = False
    limits: InputLimits = InputLimits()
    accounts: Accounts | None = field(default=None, repr=False)
    cache_max_age_s: int = CACHE_MAX_AGE_S
    hf_users: frozenset[str] = frozenset()  # Hugging Face sign-in with this allow-list (Spaces only)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Hosting:
        """From the environment; ValueError with plain words for a setting that cannot be used."""
        source = os.environ if env is None else env
        raw_age = source.get("AGENT_CACHE_MAX_AGE", "").strip()
        if raw_age and not raw_age.isdigit():
            raise ValueError(f"AGENT_CACHE_MAX_AGE must be a whole number of seconds, not {raw_age!r}")
        spaces = on_spaces(source)
        accounts = Accounts.from_env(source)
        hf_users = signin.parse_allow_list(source.get("AGENT_HF_USERS", ""))
        if hf_users and not spaces:
            log.warning("AGENT_HF_USERS is ignored: Hugging Face sign-in works on a Space only (use AGENT_PASSWORD).")
            hf_users = frozenset()
        if hf_users and accounts is not None:
            raise ValueError("set either AGENT_HF_USERS (Hugging Face sign-in) or AGENT_PASSWORD / AGENT_USERS, not both")
        return cls(
            spaces=spaces,
            public=is_public(source),
            limits=InputLimits.from_env(source),
            accounts=accounts,
            cache_max_age_s=int(raw_age) if raw_age else CACHE_MAX_AGE_S,
            hf_users=hf_users,
        )

    @property
    def delete_cache(self) -> tuple[int, int]:
        """For ``gr.Blocks(delete_cache=...)``: (how often, older than), in seconds."""
        return (min(CACHE_SWEEP_S, max(1, self.cache_max_age_s)), max(1, self.cache_max_age_s))

    def launch_kwargs(self, lifespan: Callable[[Any], Any] | None = None, middleware: Sequence[Any] = ()) -> dict[str, Any]:
        """Keyword arguments for ``demo.launch`` besides host and port (``middleware``: the page's own, e.g. the
        heartbeat watch from ``webui.lifecycle``)."""
        stack = headers.middleware(self.spaces) + [request_cap(self.limits.max_request_bytes)]
        stack += signin.middleware(self.hf_users) if self.hf_users else []
        app_kwargs: dict[str, Any] = {"middleware": [*stack, *middleware]}  # the first is outermost: headers on every answer
        if lifespan is not None:
            app_kwargs["lifespan"] = lifespan
        kwargs: dict[str, Any] = {
            "app_kwargs": app_kwargs,
            "max_file_size": self.limits.max_upload_bytes,  # Gradio refuses bigger uploads itself
            "ssr_mode": False,  # the page comes from Python, so it carries the headers (SSR would serve it from Node)
        }
        if self.hf_users:
            kwargs["auth_dependency"] = signin.auth_dependency(self.hf_users)
        elif self.accounts is not None:
            kwargs["auth"] = self.accounts.check
            kwargs["auth_message"] = LOGIN_MESSAGE
        elif self.public:
            log.warning("The page is reachable by others and has no password (set AGENT_PASSWORD or AGENT_USERS).")
        return kwargs
