"""The waiting line for sandboxes (webui/waiting.py, the line in webui/admission.py's SlotStore): when every slot is
taken, a conversation waits its turn first come, first served, sees its place in plain words, starts as soon as a
slot is free, gives up after the longest wait, and leaves the line when stopped. The per-visitor cap stays an
immediate refusal. Without a server: the store, the wait, and a real AgentSession whose turn waits before the
model is asked (the Claude stand-in, an in-memory sandbox provider)."""

from __future__ import annotations

import asyncio

import pytest

from agent.events import Done, SandboxStatus, StopReason
from tests.agent.helpers import make_settings
from tests.support.claude_standin import text_reply
from tests.support.fake_sandbox import FakeSandboxProvider
from webui.admission import Caps, LocalSlots, RefusalKind, SessionPolicy, WaitingLine
from webui.sessions import SessionRegistry
from webui.waiting import Unavailable, place_in_line, wait_for_slot, waited_too_long

ONE = Caps(per_client=5, total=1)
LINE = WaitingLine(max_waiting=5, max_wait_s=60)


def test_the_line_serves_conversations_in_order_of_arrival():
    slots = LocalSlots()
    assert slots.acquire("a", "x", ONE) is None
    assert slots.join("b", "y", ONE, 5) is None and slots.join("c", "z", ONE, 5) is None
    assert slots.acquire("c", "z", ONE).ahead == 1 and slots.acquire("b", "y", ONE).ahead == 0
    late = slots.acquire("d", "w", ONE)
    assert late.kind is RefusalKind.ALL_FULL and late.ahead == 2, "a newcomer goes behind those waiting"
    slots.release("a")
    assert slots.acquire("c", "z", ONE) is not None, "the second in line may not take the first one's slot"
    assert slots.acquire("d", "w", ONE) is not None, "nor may a newcomer"
    assert slots.acquire("b", "y", ONE) is None and slots.waiting() == 1
    slots.release("b")
    assert slots.acquire("c", "z", ONE) is None and slots.waiting() == 0 and slots.held() == 1


def test_a_place_in_line_counts_towards_the_visitors_cap_and_the_line_is_bounded():
    slots = LocalSlots()
    caps = Caps(per_client=2, total=1)
    assert slots.acquire("a1", "alice", caps) is None
    assert slots.join("a2", "alice", caps, 5) is None
    mine = slots.join("a3", "alice", caps, 5)
    assert mine.kind is RefusalKind.CLIENT_FULL and "You already have 2 chats open" in mine.message
    assert slots.acquire("a3", "alice", caps).kind is RefusalKind.CLIENT_FULL
    assert slots.join("b1", "bob", caps, 2) is None
    full = slots.join("c1", "carol", caps, 2)
    assert full.kind is RefusalKind.LINE_FULL
    assert full.message == ("The demo is busy: all 1 sandboxes are in use and 2 people are already waiting for "
                            "one. Please try again in a few minutes.")


def test_the_place_in_line_in_plain_words():
    assert place_in_line(2) == ("The demo is busy: 2 people ahead of you. Your message will start as soon as a "
                                "sandbox is free.")
    assert "1 person ahead of you" in place_in_line(1) and "you are next" in place_in_line(0)
    assert "within 5 minutes" in waited_too_long(300) and "within 30 seconds" in waited_too_long(30)


def test_waiting_conversations_see_their_place_and_start_in_turn():
    async def scenario():
        slots = LocalSlots()
        slots.acquire("holder", "x", ONE)
        seen: dict[str, list[str]] = {"b": [], "c": []}
        b = asyncio.create_task(wait_for_slot(slots, "b", "y", ONE, LINE, seen["b"].append, poll_s=0.01))
        await asyncio.sleep(0.05)
        c = asyncio.create_task(wait_for_slot(slots, "c", "z", ONE, LINE, seen["c"].append, poll_s=0.01))
        await asyncio.sleep(0.05)
        assert not b.done() and not c.done() and slots.waiting() == 2
        slots.release("holder")
        await asyncio.wait_for(b, 2)
        await asyncio.sleep(0.05)
        assert not c.done(), "the second in line started before the first had finished"
        slots.release("b")
        await asyncio.wait_for(c, 2)
        return seen, slots

    seen, slots = asyncio.run(scenario())
    assert seen["b"] == [place_in_line(0)]
    assert seen["c"] == [place_in_line(1), place_in_line(0)], "the place in line is reported as it changes"
    assert slots.held() == 1 and slots.waiting() == 0


def test_the_wait_is_bounded_and_stopping_leaves_the_line():
    async def scenario():
        slots = LocalSlots()
        slots.acquire("holder", "x", ONE)
        now = [0.0]
        waited = asyncio.create_task(wait_for_slot(slots, "late", "y", ONE, WaitingLine(5, 120), lambda _: None,
                                                   poll_s=0.01, clock=lambda: now[0]))
        await asyncio.sleep(0.05)
        now[0] = 121.0
        with pytest.raises(Unavailable, match="no sandbox came free within 2 minutes"):
            await asyncio.wait_for(waited, 2)
        assert slots.waiting() == 0, "a conversation that gave up still holds its place"
        stopped = asyncio.create_task(wait_for_slot(slots, "stop", "z", ONE, LINE, lambda _: None, poll_s=0.01))
        await asyncio.sleep(0.05)
        assert slots.waiting() == 1
        stopped.cancel()
        await asyncio.gather(stopped, return_exceptions=True)
        assert slots.waiting() == 0, "Stop left the conversation in the line"
        with pytest.raises(Unavailable, match="all 1 sandboxes are in use by other visitors"):
            await wait_for_slot(slots, "no-line", "w", ONE, WaitingLine(max_waiting=0), lambda _: None)

    asyncio.run(scenario())


def test_a_turn_waits_in_line_before_the_model_is_asked_and_shows_its_place(claude):
    """A real AgentSession behind the page's gate: the busy demo's place in line arrives as the sandbox's
    "waiting" status, the model is not asked while it waits, and the message runs once a slot is free."""
    claude.push(text_reply("served after waiting"))

    async def scenario():
        policy = SessionPolicy(caps=Caps(per_client=5, total=1), line=WaitingLine(max_waiting=5, max_wait_s=60))
        registry = SessionRegistry(make_settings(claude), FakeSandboxProvider(), policy=policy)
        first, second = registry.open("tab-1", "198.51.100.1"), registry.open("tab-2", "198.51.100.2")
        try:
            assert registry.admit(first) is None
            assert registry.admit(second, may_wait=True) is None, "the turn may wait in line"
            turn = second.agent.start_turn("hello")
            status = await asyncio.wait_for(turn.get(), 5)
            await asyncio.sleep(0.3)
            asked_while_waiting = len(claude.requests)
            waiting_status = second.agent.sandbox_status()
            await registry.close("tab-1")  # the first visitor leaves: their slot goes to the one waiting
            events = [status]
            while not isinstance(events[-1], Done):
                events.append(await asyncio.wait_for(turn.get(), 10))
            return status, asked_while_waiting, waiting_status, events
        finally:
            await registry.close_all()

    status, asked_while_waiting, waiting_status, events = asyncio.run(scenario())
    assert isinstance(status, SandboxStatus) and status.state == "waiting"
    assert status.message == place_in_line(0)
    assert waiting_status is not None and waiting_status.state == "waiting", "the status line shows the wait too"
    assert asked_while_waiting == 0, "the model was asked while the conversation waited for a sandbox"
    assert events[-1].stop_reason == StopReason.END_TURN and len(claude.requests) == 1
    states = [e.state for e in events if isinstance(e, SandboxStatus)]
    assert states[0] == "waiting" and "starting" in states and "ready" in states


def test_a_turn_that_waited_too_long_ends_with_a_plain_message(claude):
    async def scenario():
        policy = SessionPolicy(caps=Caps(per_client=5, total=1), line=WaitingLine(max_waiting=5, max_wait_s=1))
        registry = SessionRegistry(make_settings(claude), FakeSandboxProvider(), policy=policy)
        first, second = registry.open("tab-1", "a"), registry.open("tab-2", "b")
        try:
            registry.admit(first)
            turn = second.agent.start_turn("hello")
            events = []
            while not events or not isinstance(events[-1], Done):
                events.append(await asyncio.wait_for(turn.get(), 10))
            return events, registry.slots.waiting(), second.agent.sandbox_status()
        finally:
            await registry.close_all()

    events, waiting, status = asyncio.run(scenario())
    done = events[-1]
    assert done.stop_reason == StopReason.ERROR and "no sandbox came free within 1 second" in done.message
    assert claude.requests == [] and waiting == 0
    assert status is None, "a wait that gave up leaves no 'waiting' status behind"


def test_line_settings_from_the_environment():
    policy = SessionPolicy.from_env({"AGENT_MAX_WAITING": "3", "AGENT_MAX_WAIT": "90"})
    assert policy.line == WaitingLine(max_waiting=3, max_wait_s=90.0)
    assert SessionPolicy.from_env({}).line == WaitingLine() and WaitingLine().max_waiting > 0
    assert SessionPolicy.from_env({"AGENT_MAX_WAITING": "0"}).line.max_waiting == 0
    with pytest.raises(ValueError, match="AGENT_MAX_WAIT"):
        SessionPolicy.from_env({"AGENT_MAX_WAIT": "forever"})


def test_the_terminal_shows_the_place_in_line_too():
    """The place in line travels as a sandbox status, so the CLI's printer shows it like the page does."""
    import io

    from agent.cli import PlainPrinter

    out = io.StringIO()
    PlainPrinter(out).show(SandboxStatus(state="waiting", provider="e2b", message=place_in_line(2)))
    assert "The demo is busy: 2 people ahead of you." in out.getvalue()
