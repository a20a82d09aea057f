"""A sandbox whose creation outlasts the lease (the tab closed while a slow cloud sandbox was still starting)
must be killed as soon as it arrives, not left running until its timeout."""

from __future__ import annotations

import asyncio

from agent.lease import SandboxLease
from agent.sandbox import SandboxUnavailable


class _Box:
    sandbox_id = "slow-1"

    def __init__(self) -> None:
        self.killed = False

    async def kill(self) -> bool:
        self.killed = True
        return True


class _SlowProvider:
    kind = "e2b"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.made: list[_Box] = []

    async def create(self, metadata):
        await asyncio.sleep(self.delay)
        box = _Box()
        self.made.append(box)
        return box


def test_a_sandbox_finishing_its_start_after_the_lease_closed_is_killed():
    provider = _SlowProvider(delay=0.5)

    async def scenario():
        lease = SandboxLease(provider, {}, 60, on_status=lambda status: None)
        lease.CREATE_WAIT_S = 0.05  # the close gives up waiting long before the creation ends
        lease.ensure_started()
        creating = lease._creating
        await asyncio.sleep(0.05)
        await lease.kill(replaced=False)
        try:
            await creating
        except SandboxUnavailable:
            pass
        return lease

    lease = asyncio.run(scenario())
    assert len(provider.made) == 1, "the creation should have completed"
    assert provider.made[0].killed, "a sandbox that arrived after its lease closed must be killed at once"
    assert lease.sandbox is None
