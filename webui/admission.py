"""How many sandboxes one visitor, and everyone together, may hold; and who "one visitor" is.

A conversation takes a sandbox slot before its sandbox is created (its first message, or a prewarm) and keeps it
until the conversation is closed (tab closed and not reloaded, "New chat", no browser behind it any more, server
shutdown). Over the per-visitor cap, nothing is created and the visitor is told plainly why (``Refusal.message``);
when every slot is taken, a conversation about to start a turn waits in a first-come, first-served line instead
(``webui/waiting.py``), within bounds.

The counters and the line sit behind ``SlotStore``: ``LocalSlots`` keeps them in this process; several replicas of
the app could share one store (a database, Redis) by implementing the same five methods.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

E2B_DEFAULT_TOTAL = 20  # E2B's free plan runs 20 sandboxes at once
LOCAL_MEMORY_PER_SANDBOX = 1024**3  # what a busy local sandbox (kernel, a dev server, npm) is reckoned to need


class RefusalKind(enum.Enum):
    CLIENT_FULL = "client_full"  # this visitor already holds (or waits for) their share
    ALL_FULL = "all_full"  # every slot is taken (or promised to those waiting ahead)
    LINE_FULL = "line_full"  # every slot is taken and the waiting line is full too


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    held: int  # slots (and places in line) this visitor has (CLIENT_FULL), or all slots held
    cap: int
    ahead: int = 0  # conversations waiting in line before this one (ALL_FULL, LINE_FULL)

    @property
    def message(self) -> str:
        if self.kind is RefusalKind.CLIENT_FULL:
            chats = "chat" if self.cap == 1 else "chats"
            return (f"You already have {self.cap} {chats} open, each with its own sandbox, and that is the limit "
                    "here. Close one of them (its sandbox is freed within a minute) and send your message again.")
        if self.kind is RefusalKind.LINE_FULL:
            people = "1 person is" if self.ahead == 1 else f"{self.ahead} people are"
            return (f"The demo is busy: all {self.cap} sandboxes are in use and {people} already waiting for one. "
                    "Please try again in a few minutes.")
        return (f"The demo is busy: all {self.cap} sandboxes are in use by other visitors right now. Please try "
                "again in a minute.")


@dataclass(frozen=True)
class Caps:
    per_client: int = 3
    total: int = E2B_DEFAULT_TOTAL


@dataclass(frozen=True)
class WaitingLine:
    """The line for a sandbox when all are taken: at most ``max_waiting`` conversations (0: no line, a busy demo
    refuses at once), each waiting at most ``max_wait_s`` seconds (``webui/waiting.py``)."""

    max_waiting: int = 20
    max_wait_s: float = 300.0


class SlotStore(Protocol):
    """Who holds a sandbox slot, and who waits for one in line (first come, first served). ``holder`` is a
    conversation id, ``client`` the visitor's address. A place in line counts towards the visitor's cap."""

    def acquire(self, holder: str, client: str, caps: Caps) -> Refusal | None:
        """Take a slot (idempotent). A holder in line gets one only once everyone ahead of it has been served; one
        not in line only when no one waits for the free slots. ALL_FULL says how many wait ahead."""
        ...

    def join(self, holder: str, client: str, caps: Caps, max_waiting: int) -> Refusal | None:
        """Take a place at the end of the line (idempotent); CLIENT_FULL or LINE_FULL when there is none."""
        ...

    def release(self, holder: str) -> None:
        """Give back the holder's slot, or its place in line."""
        ...

    def held(self, client: str | None = None) -> int: ...

    def waiting(self) -> int: ...


class LocalSlots:
    """The in-process SlotStore (one app process)."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}
        self._line: dict[str, str] = {}  # waiting holder -> client, in order of arrival
        self._lock = threading.Lock()

    def _share(self, client: str, holder: str) -> int:
        """Slots and places in line of ``client``, besides ``holder``'s own place."""
        held = sum(1 for c in self._holders.values() if c == client)
        return held + sum(1 for h, c in self._line.items() if c == client and h != holder)

    def _ahead(self, holder: str) -> int:
        for place, waiting in enumerate(self._line):
            if waiting == holder:
                return place
        return len(self._line)

    def acquire(self, holder: str, client: str, caps: Caps) -> Refusal | None:
        with self._lock:
            if holder in self._holders:
                return None
            mine = self._share(client, holder)
            if mine >= caps.per_client:
                return Refusal(RefusalKind.CLIENT_FULL, mine, caps.per_client)
            ahead = self._ahead(holder)
            if len(self._holders) + ahead >= caps.total:  # the free slots are promised to those ahead
                return Refusal(RefusalKind.ALL_FULL, len(self._holders), caps.total, ahead)
            self._line.pop(holder, None)
            self._holders[holder] = client
            return None

    def join(self, holder: str, client: str, caps: Caps, max_waiting: int) -> Refusal | None:
        with self._lock:
            if holder in self._holders or holder in self._line:
                return None
            mine = self._share(client, holder)
            if mine >= caps.per_client:
                return Refusal(RefusalKind.CLIENT_FULL, mine, caps.per_client)
            if len(self._line) >= max_waiting:
                return Refusal(RefusalKind.LINE_FULL, len(self._holders), caps.total, len(self._line))
            self._line[holder] = client
            return None

    def release(self, holder: str) -> None:
        with self._lock:
            self._holders.pop(holder, None)
            self._line.pop(holder, None)

    def waiting(self) -> int:
        with self._lock:
            return len(self._line)

    def held(self, client: str | None = None) -> int:
        with self._lock:
            if client is None:
                return len(self._holders)
            return sum(1 for c in self._holders.values() if c == client)


class GatedProvider:
    """A conversation's view of the sandbox provider: ``create`` takes the conversation's slot first.

    Every way a sandbox comes to exist (a turn, a prewarm, an upload, a file listing) goes through ``create``, so
    no path can go over a cap. Everything else is the real provider's.
    """

    def __init__(self, provider: Any, slots: SlotStore, holder: str, client: str, caps: Caps,
                 line: WaitingLine = WaitingLine(max_waiting=0)) -> None:
        self._provider = provider
        self._slots = slots
        self._holder = holder
        self._client = client
        self._caps = caps
        self._line = line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    async def create(self, metadata: dict[str, str]) -> Any:
        from agent.sandbox import SandboxUnavailable

        refusal = self._slots.acquire(self._holder, self._client, self._caps)
        if refusal is not None:
            raise SandboxUnavailable(refusal.message)
        return await self._provider.create(metadata)

    async def wait_for_room(self, report: Callable[[str], None]) -> None:
        """Before a turn (``agent.lease.SandboxLease.wait_for_room``): this conversation's slot, waiting in line for
        it when every one is taken; ``report`` gets the place in line in plain words. SandboxUnavailable (plain
        words) over the visitor's cap, with a full line, or after the longest wait."""
        from agent.sandbox import SandboxUnavailable
        from webui.waiting import Unavailable, wait_for_slot

        try:
            await wait_for_slot(self._slots, self._holder, self._client, self._caps, self._line, report)
        except Unavailable as exc:
            raise SandboxUnavailable(str(exc)) from None


def local_capacity() -> int:
    """How many local sandboxes this machine holds: about 1 GiB of memory each, at most 4 per core, 2 to 20."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        pages = 8 * 1024**3
    by_memory = max(1, pages // LOCAL_MEMORY_PER_SANDBOX - 2)  # leave room for the app itself
    by_cpu = 4 * (os.cpu_count() or 1)
    return max(2, min(20, by_memory, by_cpu))


def _number(source: Mapping[str, str], name: str, default: float, lowest: float) -> float:
    raw = source.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds or a count, not {raw!r}") from None
    if value < lowest:
        raise ValueError(f"{name} must be at least {lowest:g}, not {raw!r}")
    return value


@dataclass(frozen=True)
class SessionPolicy:
    """When sessions close and how many sandboxes they may hold (from the environment in app.py)."""

    reconnect_grace_s: float = 30.0  # a closed or reloading tab's session is kept this long
    no_browser_timeout_s: float = 120.0  # a session without a live browser is closed this long after its last use
    caps: Caps = Caps()
    line: WaitingLine = WaitingLine()  # waiting for a sandbox when all are taken
    trust_proxy: bool = False  # take the visitor's address from X-Forwarded-For

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, kind: str = "e2b", spaces: bool = False) -> SessionPolicy:
        source = os.environ if env is None else env
        d = cls()
        total_default = E2B_DEFAULT_TOTAL if kind == "e2b" else local_capacity()
        trust = source.get("AGENT_TRUST_PROXY", "").strip().lower()
        if trust not in ("", "0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"AGENT_TRUST_PROXY must be 1 or 0, not {trust!r}")
        return cls(
            reconnect_grace_s=_number(source, "AGENT_RECONNECT_GRACE", d.reconnect_grace_s, 0),
            no_browser_timeout_s=_number(source, "AGENT_NO_BROWSER_TIMEOUT", d.no_browser_timeout_s, 1),
            caps=Caps(
                per_client=int(_number(source, "AGENT_MAX_SANDBOXES_PER_CLIENT", d.caps.per_client, 1)),
                total=int(_number(source, "AGENT_MAX_SANDBOXES", total_default, 1)),
            ),
            line=WaitingLine(
                max_waiting=int(_number(source, "AGENT_MAX_WAITING", d.line.max_waiting, 0)),
                max_wait_s=_number(source, "AGENT_MAX_WAIT", d.line.max_wait_s, 1),
            ),
            trust_proxy=spaces or trust in ("1", "true", "yes"),
        )
