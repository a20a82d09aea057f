"""One turn, one queue: the task that does a turn's work and the single stream of its events.

Every event of a turn (the model's text and tool steps, live tool output, sandbox status, errors) goes through
``Turn.emit`` into the turn's one queue, and the turn always ends with exactly one ``Done``. The consumer (the
page's handler, the CLI, a test) reads it with ``events()`` or, to pace itself, with ``get(timeout)``.

The work runs in its own task, so it outlives its consumer: when the consumer goes away mid-turn (the page's
handler cancelled by Stop or a closed tab, a CLI interrupted) the turn is cancelled once and winds down on its
own (dangling tool calls answered, transcript valid) instead of being torn apart. Whether Stop was asked for is
known here and only here (``stop_requested``).

``TurnHost`` is what a conversation needs around its turns: start one (refusing a second while one runs), stop
it from any thread, wait for a stopped one to wind down, and rewind the transcript to turn N (undo, retry,
clear). ``AgentSession`` is one; the page's test double is another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from agent.events import Done, Error, ErrorKind, Event, StopReason
from agent.oplog import SessionLog, watcher
from agent.transcript import TurnMarks

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
Drive = Callable[[Emit], Awaitable[None]]

BUSY = "A reply is still running; wait for it or press Stop."
INTERNAL = "Something went wrong inside the agent. Send your message again; if it keeps failing, start a new chat."


class Turn:
    """A running (or finished) turn: its task and the one queue its events go through."""

    def __init__(self, number: int, drive: Drive, watch: Emit | None = None) -> None:
        self.number = number
        self._watch = watch  # sees every event as it is emitted (the operator log, agent/oplog.py)
        self.stop_requested = False
        self.done: Done | None = None  # the final event, once emitted
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._consumed = False  # Done handed to the consumer
        self.task = asyncio.create_task(self._run(drive), name=f"agent turn {number}")

    @classmethod
    def refused(cls, number: int, kind: ErrorKind, message: str, watch: Emit | None = None) -> Turn:
        """A turn that does nothing but say why it cannot run."""

        async def say(emit: Emit) -> None:
            emit(Error(kind=kind, message=message, final=True))
            emit(Done(stop_reason=StopReason.ERROR, message=message))

        return cls(number, say, watch)

    # ----- producing --------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Put one event on the turn's queue (nothing after ``Done``)."""
        if self.done is not None:
            return
        if isinstance(event, Done):
            self.done = event
        self._queue.put_nowait(event)
        if self._watch is not None:
            try:
                self._watch(event)
            except Exception:  # an observer never breaks a turn
                log.exception("a turn observer failed")

    async def _run(self, drive: Drive) -> None:
        try:
            await drive(self.emit)
        except asyncio.CancelledError:
            self.emit(Error(kind=ErrorKind.CANCELLED, message="Stopped by the user.", final=True))
            self.emit(Done(stop_reason=StopReason.CANCELLED, message="Stopped."))
        except Exception:
            log.exception("agent turn failed")
            self.emit(Error(kind=ErrorKind.INTERNAL, message=INTERNAL, final=True))
            self.emit(Done(stop_reason=StopReason.ERROR, message=INTERNAL))
        finally:
            if self.done is None:  # a driver that forgot its Done: the stream still ends with one
                self.emit(Done(stop_reason=StopReason.ERROR, message=INTERNAL))

    # ----- consuming --------------------------------------------------------------------------------------
    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None when ``timeout`` passed first, or after ``Done`` was handed out."""
        if self._consumed:
            return None
        try:
            if timeout is None:
                event = await self._queue.get()
            else:
                event = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        self._consumed = isinstance(event, Done)
        return event

    def get_nowait(self) -> Event | None:
        """The next event if one is waiting, else None."""
        if self._consumed or self._queue.empty():
            return None
        event = self._queue.get_nowait()
        self._consumed = isinstance(event, Done)
        return event

    @property
    def finished(self) -> bool:
        """The consumer has seen ``Done``."""
        return self._consumed

    async def events(self) -> AsyncIterator[Event]:
        """Every event up to and including ``Done``; a consumer leaving early stops the turn."""
        try:
            while True:
                event = await self.get()
                if event is None:
                    return
                yield event
                if isinstance(event, Done):
                    return
        finally:
            if not self._consumed:
                self.cancel()

    # ----- stopping ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self.task.done()

    def cancel(self) -> None:
        """Stop the work (model stream and running tools). Safe from any thread; only the first call counts, so
        a second Stop cannot interrupt the clean-up that keeps the transcript valid."""

        def _cancel() -> None:
            if not self.task.done() and not self.stop_requested:
                self.stop_requested = True
                self.task.cancel()

        try:
            if _in_loop(self._loop):
                _cancel()
            else:
                self._loop.call_soon_threadsafe(_cancel)
        except RuntimeError:  # the loop is closed: nothing is running any more
            pass

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the work to end (never cancels it); True when it has."""
        if self.task.done():
            return True
        if self.task.get_loop() is not asyncio.get_running_loop():
            return False
        await asyncio.wait([self.task], timeout=timeout)
        return self.task.done()


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class TurnHost:
    """A conversation's turns: ``messages`` (the transcript), the current ``turn``, rewinding by turn number.

    Subclasses implement ``_drive(text, files, emit)`` (the work of one turn) and may override
    ``_refusal()`` (a reason not to start, e.g. no API key).
    """

    messages: list[dict[str, Any]]

    def __init__(self) -> None:
        self.messages = []
        self.turn: Turn | None = None
        self.telemetry: SessionLog | None = None  # the operator log's view of this conversation (agent/oplog.py)
        self._marks = TurnMarks()

    async def _drive(self, text: str, files: list[Path], emit: Emit) -> None:
        raise NotImplementedError

    def _refusal(self) -> tuple[ErrorKind, str] | None:
        return None

    # ----- turns ------------------------------------------------------------------------------------------
    @property
    def turn_running(self) -> bool:
        return self.turn is not None and self.turn.running

    def start_turn(self, text: str, files: Sequence[Path] | None = None, number: int | None = None) -> Turn:
        """Start one user message's turn now (needs a running event loop) and return it.

        ``number`` is the turn's place in the conversation (the page: user messages before it); by default the
        next one. A turn still running, or a refusal (no key), gives a turn that only says why.
        """
        n = self._marks.next_number() if number is None else number
        watch = watcher(self.telemetry, n)
        if self.turn_running:
            return Turn.refused(n, ErrorKind.BUSY, BUSY, watch)
        refusal = self._refusal()
        if refusal is not None:
            return Turn.refused(n, *refusal, watch)
        self._marks.begin(n, self.messages)
        items = list(files or [])
        self.turn = Turn(n, lambda emit: self._drive(text, items, emit), watch)
        return self.turn

    async def run_turn(self, text: str, files: Sequence[Path] | None = None) -> AsyncIterator[Event]:
        """Send one user message; yields its events as they happen, always ending with ``Done``.

        A consumer that stops early stops the turn and (unlike ``Turn.events``) waits up to 5 s for it to wind
        down, so the next ``run_turn`` finds the transcript complete.
        """
        turn = self.start_turn(text, files)
        try:
            async for event in turn.events():
                yield event
        finally:
            if not turn.finished:
                turn.cancel()
                await turn.wait(5.0)

    def cancel(self) -> None:
        """Stop the running turn: the model stream and any running tool. Safe from any thread."""
        turn = self.turn
        if turn is not None:
            turn.cancel()

    async def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait (briefly) for a stopped turn to wind down so the transcript is complete; True when idle."""
        turn = self.turn
        if turn is None or await turn.wait(timeout):
            return True
        log.warning("the previous turn did not finish within %.1f s", timeout)
        return False

    def rewind(self, number: int) -> None:
        """Forget turn ``number`` and every later one: the transcript goes back to where that turn started.

        Undo, retry and clear on the page (and editing a message) are this: the model never sees what the
        person removed. The sandbox is not rewound. Call it while no turn runs.
        """
        if self.turn_running:
            raise RuntimeError("rewind while a turn is running")
        self._marks.rewind(number, self.messages)
