"""Every way a conversation's sandbox comes to exist takes its slot first (webui/admission.py ``GatedProvider``):
not only a chat message, but an upload from the Files panel, a file listing or a download too. A script that opens
fresh sessions and calls those listeners gets no sandbox past the caps, and reads why in plain words. Without a
server: the page's registry and Files-panel actions over a real AgentSession and an in-memory sandbox provider."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.sandbox import SandboxUnavailable
from tests.browser.conftest import base_settings
from tests.support.fake_sandbox import FakeSandboxProvider
from webui.admission import Caps, SessionPolicy, WaitingLine
from webui.sessions import SessionRegistry


def _registry(caps: Caps, line: WaitingLine = WaitingLine()) -> tuple[SessionRegistry, FakeSandboxProvider]:
    provider = FakeSandboxProvider()
    settings = base_settings(anthropic_api_key="unused")
    return SessionRegistry(settings, provider, policy=SessionPolicy(caps=caps, line=line)), provider


def test_uploads_listings_and_downloads_cannot_get_around_the_caps(tmp_path):
    async def scenario():
        registry, provider = _registry(Caps(per_client=1, total=2))
        try:
            mine = registry.open("tab-1", "203.0.113.5")
            await mine.agent.upload("a.txt", b"hello")  # the visitor's one sandbox
            assert len(provider.made) == 1 and registry.slots.held("203.0.113.5") == 1
            second = registry.open("tab-2", "203.0.113.5")  # a fresh session of the same visitor
            for attempt in (second.agent.upload("b.txt", b"x"), second.agent.list_files(),
                            second.agent.save_file("/home/user/a.txt", tmp_path / "copy", 100)):
                with pytest.raises(SandboxUnavailable, match="You already have 1 chat open"):
                    await attempt
            other = registry.open("tab-3", "198.51.100.7")
            await other.agent.upload("c.txt", b"x")  # another visitor: the second and last slot
            late = registry.open("tab-4", "192.0.2.44")
            with pytest.raises(SandboxUnavailable, match="all 2 sandboxes are in use"):
                await late.agent.list_files()  # not a turn: it does not wait in line
            return len(provider.made), registry.slots.held(), registry.slots.waiting()
        finally:
            await registry.close_all()

    made, held, waiting = asyncio.run(scenario())
    assert made == 2, "a sandbox was created past a cap"
    assert held == 2 and waiting == 0


def test_the_files_panel_says_why_an_upload_found_no_sandbox(tmp_path):
    from webui.workspace import WorkspaceActions

    async def scenario():
        registry, provider = _registry(Caps(per_client=1, total=5))
        try:
            registry.open("tab-1", "203.0.113.5")
            registry.admit(registry.get("tab-1"))
            actions = WorkspaceActions(registry, provider)
            request = SimpleNamespace(session_hash="tab-2", client=SimpleNamespace(host="203.0.113.5"), headers={})
            upload = tmp_path / "notes.txt"
            upload.write_text("hello")
            return await actions.upload([str(upload)], request)  # type: ignore[arg-type]
        finally:
            await registry.close_all()

    note = asyncio.run(scenario())
    assert "You already have 1 chat open" in note and "try again" not in note.lower(), note
    assert Path(tmp_path / "notes.txt").exists()
