"""Turns in the core (agent/turn.py): one queue per turn, a turn that outlives its consumer, Stop kept in one
place, rewinding the transcript to turn N, and a turn's ending said once (Done carries the reason and the
sentence; the page and the CLI word it from there)."""

from __future__ import annotations

import asyncio
import io

from agent.events import Done, Error, ErrorKind, SandboxStatus, StopReason, TextDelta, ToolOutput
from agent.transcript import append_user
from agent.turn import TurnHost
from tests.agent.helpers import agent_session, make_settings, run
from tests.support.claude_standin import Reply, Text, ToolUse, text_reply, tool_reply


class ScriptedHost(TurnHost):
    """A conversation whose turns append the user's text (and a reply unless the text ends with "!")."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.cleaned_up = 0

    async def _drive(self, text, files, emit) -> None:
        append_user(self.messages, [{"type": "text", "text": text}])
        try:
            for word in text.split():
                emit(TextDelta(word))
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # clean-up that awaits, like answering dangling tool calls
            self.cleaned_up += 1
            raise
        if not text.endswith("!"):
            self.messages.append({"role": "assistant", "content": [{"type": "text", "text": "re " + text}]})
        emit(Done(StopReason.END_TURN))


def _texts(host: TurnHost) -> list[str]:
    return [b["text"] for m in host.messages for b in m["content"]]


def test_rewind_to_turn_n_follows_the_page_on_clear_retry_and_undo():
    host = ScriptedHost()

    async def turn(number: int, text: str) -> None:
        host.rewind(number)  # what the page does before each message: its user messages before it
        events = [e async for e in host.start_turn(text, number=number).events()]
        assert isinstance(events[-1], Done)

    async def scenario() -> None:
        await turn(0, "one")
        await turn(1, "two!")  # e.g. the API failed: the transcript ends with a user message
        await turn(2, "three")
        assert len(host.messages) == 4 and len(host.messages[2]["content"]) == 2
        await turn(2, "three again")  # Retry: the page dropped "three" and sends it again
        assert [b["text"] for b in host.messages[2]["content"]] == ["two!", "three again"]
        await turn(1, "two again")  # Undo twice, then a new message
        assert _texts(host) == ["one", "re one", "two again", "re two again"]
        await turn(0, "fresh")  # Clear
        assert _texts(host) == ["fresh", "re fresh"]
        host.rewind(0)
        assert host.messages == []

    run(scenario())


def test_a_turn_outlives_its_consumer_and_is_stopped_once():
    host = ScriptedHost(delay=0.05)

    async def scenario() -> None:
        turn = host.start_turn("a b c d e f g h i j")

        async def consume() -> None:
            async for _ in turn.events():
                pass

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.12)
        consumer.cancel()  # the page's handler cancelled by Stop / a closed tab
        await asyncio.sleep(0.05)
        assert turn.stop_requested and turn.running, "the turn must be asked to stop, then wind down on its own"
        host.cancel()  # a second Stop during the clean-up must not cut it short
        assert await host.wait_idle(5.0)
        assert host.cleaned_up == 1 and turn.done is not None and turn.done.stop_reason == StopReason.CANCELLED
        second = [e async for e in host.start_turn("next").events()]  # the conversation goes on
        assert [type(e) for e in second] == [TextDelta, Done]

    run(scenario())


def test_a_second_turn_while_one_runs_is_refused_in_words():
    host = ScriptedHost(delay=0.05)

    async def scenario() -> list:
        first = host.start_turn("a b c d")
        events = [e async for e in host.start_turn("again").events()]
        assert host.turn is first and first.running
        await host.wait_idle()
        return events

    events = run(scenario())
    assert isinstance(events[0], Error) and events[0].kind == ErrorKind.BUSY and events[0].final
    assert isinstance(events[-1], Done) and events[-1].stop_reason == StopReason.ERROR
    assert events[-1].message == events[0].message


def test_every_event_of_a_real_turn_comes_through_the_turns_one_queue(claude, provider):
    """Sandbox status (from the lease) and live tool output (from the tool) reach the consumer through the turn."""
    claude.push(tool_reply(ToolUse("run_command", {"command": "echo out-1; sleep 0.3; echo out-2"})),
                text_reply("Done."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            turn = s.start_turn("run it")
            events = [e async for e in turn.events()]
            return turn, events, s

    turn, events, session = run(scenario())
    assert any(isinstance(e, SandboxStatus) for e in events), events
    assert "out-1" in "".join(e.text for e in events if isinstance(e, ToolOutput)), events
    assert events[-1] is turn.done and turn.done.stop_reason == StopReason.END_TURN
    assert not hasattr(session, "_queue"), "the session must not keep a queue of its own"


def test_a_capped_reply_is_said_once_on_the_page_and_in_the_terminal(claude, provider):
    from agent.cli import PlainPrinter
    from webui.render import render_events

    claude.push(Reply((Text("This answer was cut"),), stop_reason="max_tokens"))

    async def scenario():
        async with agent_session(make_settings(claude, max_tokens=64), provider) as s:
            return [e async for e in s.run_turn("write a novel")]

    events = run(scenario())
    done = events[-1]
    assert isinstance(done, Done) and done.stop_reason == StopReason.MAX_TOKENS and "64 tokens" in done.message
    notes = [m.content for m in render_events(events) if "limit" in str(m.content)]
    assert len(notes) == 1 and "64 tokens" in notes[0], notes
    out, err = io.StringIO(), io.StringIO()
    printer = PlainPrinter(out, err)
    for e in events:
        printer.show(e)
    printed = out.getvalue() + err.getvalue()
    assert printed.count("limit") == 1 and "64 tokens" in printed, printed


def test_a_failed_turn_is_said_once_on_the_page():
    from webui.render import render_events

    message = "Claude is overloaded right now (529). Wait a minute and send your message again."
    events = [TextDelta("Hi"), Error(ErrorKind.OVERLOADED, message, final=True),
              Done(StopReason.ERROR, message=message)]
    shown = [str(m.content) for m in render_events(events)]
    assert sum("overloaded" in c for c in shown) == 1, shown
