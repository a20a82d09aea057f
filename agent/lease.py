"""One conversation's sandbox: created lazily (or pre-warmed), reused, kept alive, replaced when it died.

Why a separate object: the session deals with turns and the transcript; this deals with one remote
resource's life. Creation runs as its own task (shielded from turn cancellation) so it can overlap the first
model request; every use slides the sandbox's timeout; a dead sandbox is replaced and a note for the model
("earlier state is gone") is kept until someone delivers it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agent.events import SandboxStatus
from agent.sandbox import Sandbox, SandboxProvider, SandboxReset, SandboxUnavailable

log = logging.getLogger(__name__)

RESTART_NOTE = (
    "Note: the sandbox had stopped and was restarted as a fresh one; earlier state is lost (files, variables "
    "and processes are gone)."
)


class SandboxLease:
    CREATE_WAIT_S = 30.0  # how long kill() waits for a creation under way before leaving it to clean up itself

    def __init__(
        self,
        provider: SandboxProvider,
        metadata: dict[str, str],
        idle_timeout_s: int,
        on_status: Callable[[SandboxStatus], None],
    ) -> None:
        self.provider = provider
        self.metadata = metadata
        self.idle_timeout_s = idle_timeout_s
        self.on_status = on_status
        self.sandbox: Sandbox | None = None
        self.status: SandboxStatus | None = None
        self._creating: asyncio.Task[Sandbox] | None = None
        self._touching: asyncio.Task[None] | None = None
        self._replaced = False  # the next creation replaces a sandbox that existed (state lost)
        self._reset_note_given = False  # the reset note was issued; the replacement needs no second note
        self._note: str | None = None
        self._reset_ids: set[str] = set()  # sandboxes the user reset on purpose: a tool failing on one is not retried
        self._lock = asyncio.Lock()
        self.closed = False  # after close(): nothing is created any more (no sandbox may outlive its session)

    # ------------------------------------------------------------------ status

    def _set_status(self, state: str, message: str = "", expires_at: float | None = None) -> None:
        sid = self.sandbox.sandbox_id if self.sandbox is not None and state != "closed" else ""
        self.status = SandboxStatus(state=state, provider=self.provider.kind, sandbox_id=sid,  # type: ignore[arg-type]
                                    expires_at=expires_at, message=message)
        self.on_status(self.status)

    def take_note(self) -> str | None:
        """The pending "state is gone" note for the model, handed out once."""
        note, self._note = self._note, None
        return note

    # ------------------------------------------------------------------ getting the sandbox

    async def wait_for_room(self) -> None:
        """Before a turn: wait until the provider has room for this conversation's sandbox.

        A provider may admit sandboxes through a waiting line (the page's, ``webui/waiting.py``: an optional
        ``wait_for_room(report)``); meanwhile the place in line is reported as the status "waiting", with the plain
        words in its message. SandboxUnavailable (plain words) when the provider gives up. Nothing to wait for
        with a sandbox here or on its way, or a provider without a line (the CLI's).
        """
        waiter = getattr(self.provider, "wait_for_room", None)
        if waiter is None or self.closed or self.sandbox is not None:
            return
        if self._creating is not None and not self._creating.done():
            return
        before = self.status
        try:
            await waiter(lambda message: self._set_status("waiting", message))
        finally:
            if self.status is not None and self.status.state == "waiting":
                self.status = before  # no longer waiting: starting (next), or as it was (gave up, stopped)

    def ensure_started(self) -> None:
        """Start creating the sandbox now if there is none (returns at once)."""
        if self.closed:
            return
        if self.sandbox is None and (self._creating is None or self._creating.done()):
            self._set_status("starting", "Starting the sandbox ...")
            self._creating = asyncio.create_task(self._create(), name="sandbox create")
            # a failure nobody awaited (no tool was used) is still reported through the status; mark it seen
            self._creating.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _create(self) -> Sandbox:
        try:
            sandbox = await self.provider.create(self.metadata)
        except SandboxUnavailable as exc:
            self._set_status("failed", str(exc))
            raise
        if self.closed or asyncio.current_task() is not self._creating:
            # killed (tab closed / reset) while this creation was still under way and not waited for: don't
            # let the late sandbox live on until its timeout
            try:
                await asyncio.wait_for(sandbox.kill(), 10.0)
            except Exception:
                log.warning("could not kill a sandbox that finished starting after its lease ended")
            if not self.closed:
                raise SandboxReset("The sandbox was reset while it was starting.")
            raise SandboxUnavailable("This conversation's sandbox was closed while it was starting.")
        self.sandbox = sandbox
        restarted = self._replaced
        self._replaced = False
        expires = time.time() + self.idle_timeout_s
        if restarted:
            if self._note is None and not self._reset_note_given:  # a reset already told the model
                self._note = RESTART_NOTE
            self._reset_note_given = False
            self._set_status("restarted", "A fresh sandbox replaced the previous one; earlier state is gone.",
                             expires)
        else:
            self._set_status("ready", "", expires)
        return sandbox

    async def get(self) -> Sandbox:
        """The live sandbox, created if needed; every call slides its timeout."""
        if self.closed:
            raise SandboxUnavailable("This conversation was closed; its sandbox is gone.")
        if self.sandbox is None:
            self.ensure_started()
            assert self._creating is not None
            task = self._creating
            try:
                # shielded: a cancelled turn must not abort a creation the next turn will want
                await asyncio.shield(task)
            finally:
                if task.done() and (task.cancelled() or task.exception() is not None):
                    self._creating = None  # the next use tries again
        if self.sandbox is None:  # closed or reset while it was being created
            if not self.closed:
                raise SandboxReset("The sandbox was reset while it was starting.")
            raise SandboxUnavailable("The sandbox was closed.")
        self._touch()
        return self.sandbox

    def _touch(self) -> None:
        """Extend the sandbox's life (sliding timeout) without delaying the caller."""
        if self._touching is not None and not self._touching.done():
            return
        sandbox = self.sandbox
        if sandbox is None:
            return
        self._touching = asyncio.create_task(self._extend(sandbox), name="sandbox set_timeout")

    async def _extend(self, sandbox: Sandbox) -> None:
        try:
            await sandbox.set_timeout(self.idle_timeout_s)
        except Exception as exc:  # a dead sandbox shows up when a tool uses it; nothing to do here
            log.info("set_timeout failed: %s", type(exc).__name__)
            return
        if sandbox is self.sandbox and self.status is not None:
            s = self.status
            self.status = SandboxStatus(state=s.state, provider=s.provider, sandbox_id=s.sandbox_id,
                                        expires_at=time.time() + self.idle_timeout_s, message=s.message)

    async def settle(self) -> SandboxStatus | None:
        """End of a turn: wait (briefly) for a pending timeout extension; the current status, if the sandbox is up.

        A "restarted" status has been announced by then, so it settles to "ready" (with the new expiry).
        """
        if self._touching is not None and not self._touching.done():
            await asyncio.wait([self._touching], timeout=2.0)
        s = self.status
        if s is None or s.state not in ("ready", "restarted"):
            return None
        if s.state == "restarted":
            s = SandboxStatus(state="ready", provider=s.provider, sandbox_id=s.sandbox_id, expires_at=s.expires_at)
            self.status = s
        return s

    async def replace_if_dead(self, seen: Sandbox | None) -> bool:
        """After a tool failed on ``seen``: if that sandbox is gone, start a fresh one. True if replaced."""
        async with self._lock:
            if seen is None or seen is not self.sandbox:
                return seen is not None and not self.was_reset(seen)  # someone already replaced it
            try:
                alive = await asyncio.wait_for(seen.is_running(), 10.0)
            except Exception:
                alive = False
            if alive:
                return False
            log.info("sandbox %s died; replacing it", seen.sandbox_id)
            self.sandbox = None
            self._replaced = True
            self.ensure_started()
            return True

    # ------------------------------------------------------------------ ending

    def was_reset(self, seen: Sandbox) -> bool:
        """Whether ``seen`` was killed by a deliberate reset (`kill(replaced=True)`), not by dying."""
        return getattr(seen, "sandbox_id", None) in self._reset_ids

    async def kill(self, *, replaced: bool) -> None:
        """Kill the sandbox (or the one being created).

        ``replaced``: a reset; the next use creates a fresh one, counted as a restart. Otherwise this closes the
        lease for good.
        """
        if not replaced:
            self.closed = True
        task, self._creating = self._creating, None
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is None and task is not None:
            if not task.done():
                await asyncio.wait([task], timeout=self.CREATE_WAIT_S)
            if task.done() and not task.cancelled() and task.exception() is None:
                sandbox = task.result()
                self.sandbox = None
        if sandbox is not None:
            if replaced:
                self._reset_ids.add(sandbox.sandbox_id)
            try:
                await asyncio.wait_for(sandbox.kill(), 10.0)
            except Exception as exc:
                log.warning("killing sandbox failed: %s", type(exc).__name__)
            if replaced:
                self._replaced = True
                self._reset_note_given = True
                self._note = ("Note: the sandbox was reset (restarted as a fresh one); earlier state is lost (files, "
                              "variables and processes are gone).")
        self._set_status("closed", "The sandbox was closed.")
