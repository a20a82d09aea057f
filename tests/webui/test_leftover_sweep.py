"""webui.artifacts.sweep_leftovers: outputs and download copies of a killed app run are removed at start-up,
those of live processes (this one, another app sharing the cache) are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from webui.artifacts import ArtifactStore, sweep_leftovers


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def folder(root: Path, name: str) -> Path:
    path = root / name
    (path / "downloads" / "abc").mkdir(parents=True)
    (path / "downloads" / "abc" / "big.bin").write_bytes(b"x" * 1000)
    return path


def test_folders_of_gone_processes_are_swept(tmp_path):
    gone = folder(tmp_path, f"agent-{dead_pid()}-{uuid.uuid4().hex}")
    legacy = folder(tmp_path, f"agent-{uuid.uuid4().hex}")
    live_other = folder(tmp_path, f"agent-{os.getppid()}-{uuid.uuid4().hex}")
    unrelated = folder(tmp_path, "agent-notes")
    store = ArtifactStore(tmp_path)
    mine = store.write_download("report.csv", b"a,b\n").parent.parent.parent
    assert mine.name.startswith(f"agent-{os.getpid()}-")

    assert sweep_leftovers(tmp_path) == 2
    assert not gone.exists() and not legacy.exists()
    assert live_other.exists() and unrelated.exists() and mine.exists()


def test_the_app_sweeps_leftovers_when_it_starts(tmp_path, monkeypatch):
    """The page's lifespan runs the sweep at start-up (a killed run's download copies do not wait for a cleanup
    that never comes)."""
    import asyncio

    from gradio import utils as gradio_utils

    from tests.browser.conftest import base_settings
    from tests.support.fake_sandbox import FakeSandboxProvider
    from webui import artifacts
    from webui.lifecycle import make_lifespan
    from webui.sessions import SessionRegistry

    monkeypatch.setattr(artifacts, "get_upload_folder", lambda: str(tmp_path))
    assert gradio_utils.get_upload_folder() != str(tmp_path)
    gone = folder(tmp_path, f"agent-{dead_pid()}-{uuid.uuid4().hex}")
    provider = FakeSandboxProvider()
    registry = SessionRegistry(base_settings(anthropic_api_key="unused"), provider)

    async def start_and_stop():
        async with make_lifespan(registry, provider)(None):
            return gone.exists()

    assert asyncio.run(start_and_stop()) is False, "the killed run's folder is still there after start-up"
