"""The waiting line for sandboxes: when every slot is taken, a conversation that needs one waits its turn.

Over the total cap (``AGENT_MAX_SANDBOXES``) a chat's message does not bounce: it joins a first-come, first-served
line and starts as soon as a sandbox is free, while the visitor reads their place in plain words ("The demo is
busy: 2 people ahead of you. Your message will start as soon as a sandbox is free."). The wait is bounded
(``AGENT_MAX_WAIT``, then a plain message) and so is the line (``AGENT_MAX_WAITING``; past it, a plain refusal).
Pressing Stop, closing the tab or the conversation being closed leaves the line. The per-visitor cap stays an
immediate refusal, and a place in line counts towards it, so one visitor cannot fill the line either.

The line itself is kept by the ``SlotStore`` (webui/admission.py): ``join`` puts a conversation at its end,
``acquire`` serves it once everyone ahead has been served, ``release`` takes it out. This module polls that store
(any store, a shared one too) and reports the place in line; the core shows it as the sandbox's "waiting" status
(``agent.lease.SandboxLease.wait_for_room``), so the page and the CLI show it as they show any sandbox status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from webui.admission import Caps, RefusalKind, SlotStore, WaitingLine

POLL_S = 0.5  # how often a waiting conversation looks at the line (a shared store is read the same way)


class Unavailable(Exception):
    """The wait ended without a slot; the message is for the visitor."""


def place_in_line(ahead: int) -> str:
    """What a waiting visitor reads, e.g. "The demo is busy: 2 people ahead of you. Your message will start …"."""
    who = "you are next" if ahead <= 0 else "1 person ahead of you" if ahead == 1 else f"{ahead} people ahead of you"
    return f"The demo is busy: {who}. Your message will start as soon as a sandbox is free."


def waited_too_long(seconds: float) -> str:
    minutes = seconds / 60
    span = (f"{minutes:g} minute{'' if minutes == 1 else 's'}" if minutes >= 1
            else f"{seconds:g} second{'' if seconds == 1 else 's'}")
    return (f"The demo is still busy: no sandbox came free within {span}. Please send your message again in a "
            "little while.")


async def wait_for_slot(slots: SlotStore, holder: str, client: str, caps: Caps, line: WaitingLine,
                        report: Callable[[str], None], poll_s: float = POLL_S,
                        clock: Callable[[], float] = time.monotonic) -> None:
    """Return once ``holder`` holds a slot, waiting in line while every slot is taken; ``report`` gets the place
    in line in plain words whenever it changes. ``Unavailable`` (plain words) over the visitor's cap, with a full
    line, or after ``line.max_wait_s``. Cancelled (Stop, tab closed), the holder leaves the line."""
    refusal = slots.acquire(holder, client, caps)
    if refusal is None:
        return
    if refusal.kind is not RefusalKind.ALL_FULL or line.max_waiting <= 0:
        raise Unavailable(refusal.message)
    joined = slots.join(holder, client, caps, line.max_waiting)
    if joined is not None:
        raise Unavailable(joined.message)
    served = False
    deadline = clock() + line.max_wait_s
    shown: int | None = None
    try:
        while True:
            refusal = slots.acquire(holder, client, caps)
            if refusal is None:
                served = True
                return
            if refusal.kind is not RefusalKind.ALL_FULL:
                raise Unavailable(refusal.message)
            if refusal.ahead != shown:
                shown = refusal.ahead
                report(place_in_line(shown))
            if clock() >= deadline:
                raise Unavailable(waited_too_long(line.max_wait_s))
            await asyncio.sleep(poll_s)
    finally:
        if not served:
            slots.release(holder)  # its place in line (it holds no slot)
