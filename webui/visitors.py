"""Who is asking: each browser session's guardrails and operator log, from the page's request.

The core enforces the limits (``agent.guardrails``) and writes the log lines (``agent.oplog``); the page only
knows the visitor: their address (hashed with a salt at once, never kept or logged raw) and whether they
brought their own key. The daily book is shared by the sessions of one page (it counts per address).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import weakref
from typing import Any

from agent.guardrails import Guard, Guardrails, MemoryDailyBook
from agent.oplog import SessionLog, address_hash
from agent.presenter import budget_words

log = logging.getLogger(__name__)


def request_address(request: Any, trust_proxy: bool) -> str:
    """The visitor (for the sandbox caps, the daily budget and the log): the connection's address, or the first
    ``X-Forwarded-For`` hop when a trusted proxy sits in front — only on Spaces or with ``AGENT_TRUST_PROXY``, as
    anyone can send the header and would otherwise pose as many visitors. An IPv6 address stands for its /64 network: one home or phone line gets a whole /64, so counting single
    addresses would let one visitor be billions (caps and daily budgets per address)."""
    if request is None:
        return ""
    if trust_proxy:
        headers = getattr(request, "headers", None)
        forwarded = headers.get("x-forwarded-for", "") if headers is not None and hasattr(headers, "get") else ""
        first = forwarded.split(",")[0].strip()
        if first:
            return visitor_of(first)
    client = getattr(request, "client", None)
    return visitor_of(str(getattr(client, "host", "") or ""))


def visitor_of(address: str) -> str:
    """``2001:db8:1:2:aa::1`` → ``2001:db8:1:2::/64``; an IPv4 address (also IPv4-mapped IPv6) as it is."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Visitors:
    def __init__(self, guardrails: Guardrails, salt: bytes, trust_proxy: bool = False, provider_kind: str = "") -> None:
        self.guardrails = guardrails
        self.trust_proxy = trust_proxy
        self._salt = salt
        self._kind = provider_kind
        self._book = MemoryDailyBook()
        self._known: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def attach(self, session: Any, request: Any, own_key: bool) -> None:
        """Give the session its guard and log the first time it is seen; note whose key the next turn uses."""
        agent = session.agent
        if not hasattr(agent, "guard"):  # a test double without the core's guardrails
            return
        if session not in self._known:
            client = address_hash(request_address(request, self.trust_proxy), self._salt)
            self._known[session] = client
            agent.guard = Guard(guardrails=self.guardrails, book=self._book, client=client)
            agent.telemetry = SessionLog(self.session_id(session.key), client, self._kind)
        agent.guard.own_key = own_key

    def session_id(self, key: str) -> str:
        """An opaque id for log lines: the page's session key lets a caller act as that session, so never it."""
        return hashlib.sha256(self._salt + b"session:" + key.encode()).hexdigest()[:12]

    def refused(self, session: Any, kind: str) -> None:
        """Log a request the page refused before the core saw it (too long, a model not offered)."""
        telemetry = getattr(session.agent, "telemetry", None)
        if telemetry is not None:
            telemetry.refusal(kind)

    @staticmethod
    def budget_text(session: Any) -> str:
        """E.g. "≈ $0.04 of $0.50 used" for a session with a dollar budget; "" otherwise."""
        guard = getattr(getattr(session, "agent", None), "guard", None)
        try:
            return budget_words(guard.budget()) if guard is not None else ""
        except Exception:
            log.warning("budget_text failed", exc_info=True)
            return ""
