"""Guardrails an operator sets: per session (turns, tool calls, seconds of tools, estimated dollars) and per
client address (estimated dollars a day).

Off on a laptop; safe defaults switch on by themselves where strangers can reach the app (``is_public``), and
any limit can be set (or set to 0: none) in the environment. A visitor who brings their own Anthropic key gets
the own-key limits: their dollars are theirs (no dollar cap by default), the sandbox time is still the
operator's. Checked in the core: before a turn starts (``refusal``), before each tool call (``tool_refusal``)
and after each round of tool calls (``halt``: the turn then ends with a plain sentence). The daily book
sits behind a small interface (``DailyBook``) so replicas could share one store later.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agent.config import is_public


@dataclass(frozen=True)
class Limits:
    """None: no limit."""

    turns: int | None = None
    tool_calls: int | None = None
    tool_seconds: float | None = None
    session_usd: float | None = None
    daily_usd: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.turns, self.tool_calls, self.tool_seconds, self.session_usd,
                                           self.daily_usd))


PUBLIC_DEFAULTS = Limits(turns=40, tool_calls=200, tool_seconds=1800.0, session_usd=0.50, daily_usd=2.00)
PUBLIC_OWN_KEY_DEFAULTS = Limits(turns=200, tool_calls=1000, tool_seconds=7200.0)
_FIELDS = (("turns", "TURNS", int), ("tool_calls", "TOOL_CALLS", int), ("tool_seconds", "TOOL_SECONDS", float),
           ("session_usd", "SESSION_USD", float), ("daily_usd", "DAILY_USD", float))


@dataclass(frozen=True)
class Guardrails:
    """The limits for the operator's key and for a visitor's own key."""

    operator: Limits = Limits()
    own_key: Limits = Limits()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Guardrails:
        """``AGENT_LIMIT_<X>`` (operator's key) and ``AGENT_OWN_KEY_LIMIT_<X>`` (own key); 0 means no limit.

        ``AGENT_LIMITS=on|off`` forces the public defaults on or every default off (set values still apply).
        ValueError with plain words for a value that is not a number.
        """
        source = os.environ if env is None else env
        switch = source.get("AGENT_LIMITS", "").strip().lower()
        if switch not in ("", "on", "off", "auto"):
            raise ValueError(f"AGENT_LIMITS must be on, off or auto, got {switch!r}")
        public = switch == "on" or (switch in ("", "auto") and is_public(source))
        base = (PUBLIC_DEFAULTS, PUBLIC_OWN_KEY_DEFAULTS) if public else (Limits(), Limits())
        return cls(_read(source, "AGENT_LIMIT_", base[0]), _read(source, "AGENT_OWN_KEY_LIMIT_", base[1]))

    def for_key(self, own_key: bool) -> Limits:
        return self.own_key if own_key else self.operator


def _read(source: Mapping[str, str], prefix: str, base: Limits) -> Limits:
    values: dict[str, float | int | None] = {}
    for attr, suffix, cast in _FIELDS:
        raw = source.get(prefix + suffix, "").strip()
        if not raw:
            continue
        try:
            value = cast(raw)
        except ValueError:
            raise ValueError(f"{prefix + suffix} must be a number (0: no limit), got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{prefix + suffix} must not be negative, got {raw!r}")
        values[attr] = value or None
    return Limits(**{**base.__dict__, **values})


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:g} minutes" if minutes >= 1 else f"{seconds:g} seconds"


class DailyBook(Protocol):
    """Estimated dollars spent per client per day (UTC), on the operator's key."""

    def spent(self, client: str) -> float: ...

    def add(self, client: str, usd: float) -> None: ...


class MemoryDailyBook:
    """The in-process ``DailyBook``: today's totals only (yesterday's are dropped at the first use of a new day)."""

    def __init__(self, today=lambda: datetime.datetime.now(datetime.UTC).date()) -> None:
        self._today = today
        self._day = today()
        self._spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._spent = day, {}

    def spent(self, client: str) -> float:
        with self._lock:
            self._roll()
            return self._spent.get(client, 0.0)

    def add(self, client: str, usd: float) -> None:
        with self._lock:
            self._roll()
            self._spent[client] = self._spent.get(client, 0.0) + usd


@dataclass
class Guard:
    """One session's counters against its limits. ``client`` is an opaque id of the visitor's address ("" none)."""

    guardrails: Guardrails = field(default_factory=Guardrails)
    book: DailyBook = field(default_factory=MemoryDailyBook)
    client: str = ""
    own_key: bool = False
    turns: int = 0
    tool_calls: int = 0
    tool_seconds: float = 0.0
    operator_usd: float = 0.0  # spent on the operator's key in this session

    @property
    def limits(self) -> Limits:
        return self.guardrails.for_key(self.own_key)

    # ----- checks (None: go on; else one plain sentence) --------------------------------------------------
    def refusal(self) -> str | None:
        """Why a new turn may not start."""
        lim = self.limits
        if lim.turns is not None and self.turns >= lim.turns:
            return f"This chat has reached its limit of {lim.turns} messages on this page.{self._hint()}"
        return self._money_problem() or self._tool_problem()

    def _hint(self) -> str:
        return "" if self.own_key else " Paste your own Anthropic key in Settings for higher limits."

    def tool_refusal(self) -> str | None:
        """Why a tool call may not run (the model is told; ``halt`` then ends the turn)."""
        return self._tool_problem()

    def halt(self) -> str | None:
        """Why the running turn must end now (checked after each round of tool calls)."""
        return self._money_problem() or self._tool_problem()

    def _tool_problem(self) -> str | None:
        lim = self.limits
        if lim.tool_calls is not None and self.tool_calls >= lim.tool_calls:
            return f"This chat has used its {lim.tool_calls} tool steps.{self._hint()}"
        if lim.tool_seconds is not None and self.tool_seconds >= lim.tool_seconds:
            return f"This chat has used its {_duration(lim.tool_seconds)} of running code.{self._hint()}"
        return None

    def _money_problem(self) -> str | None:
        if self.own_key:
            return None
        lim = self.limits
        hint = " Paste your own Anthropic key in Settings to go on."
        if lim.session_usd is not None and self.operator_usd >= lim.session_usd:
            return f"This chat has used its budget of ≈ ${lim.session_usd:.2f} on this demo's key.{hint}"
        if lim.daily_usd is not None and self.client and self.book.spent(self.client) >= lim.daily_usd:
            return f"You have used today's budget of ≈ ${lim.daily_usd:.2f} on this demo's key.{hint}"
        return None

    # ----- counting -----------------------------------------------------------------------------------------
    def turn_started(self) -> None:
        self.turns += 1

    def tool_started(self) -> None:
        self.tool_calls += 1

    def tool_ran(self, seconds: float) -> None:
        self.tool_seconds += max(0.0, seconds)

    def spent(self, usd: float) -> None:
        """A model request's estimated cost (counted against the operator's budgets unless the key is the visitor's)."""
        if self.own_key or usd <= 0:
            return
        self.operator_usd += usd
        if self.client:
            self.book.add(self.client, usd)

    # ----- for people ---------------------------------------------------------------------------------------
    def budget(self) -> tuple[float, float] | None:
        """(used, limit) of the tightest dollar budget on the operator's key, or None when there is none."""
        if self.own_key:
            return None
        lim = self.limits
        options = []
        if lim.session_usd is not None:
            options.append((self.operator_usd, lim.session_usd))
        if lim.daily_usd is not None and self.client:
            options.append((self.book.spent(self.client), lim.daily_usd))
        return min(options, key=lambda o: o[1] - o[0]) if options else None
