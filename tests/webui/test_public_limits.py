"""The page's side of the public-hosting limits, without a browser: downloads one at a time per session with the
previous copy deleted, the caps' plain messages, the preview never showing an address only the server can open,
the /status counts, the budget in the usage line, and each session getting its own guard from its address."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import httpx

from agent.downloads import DownloadCaps, DownloadTooLarge
from agent.guardrails import Guard, Guardrails, Limits
from agent.presenter import budget_words
from webui.artifacts import ArtifactStore
from webui.downloads import BUSY, DownloadDesk
from webui.opstatus import StatusEndpoint
from webui.visitors import Visitors, request_address
from webui.workspace import LOCAL_PREVIEW_HIDDEN, WorkspaceActions, is_internal_url


class _Agent:
    """Writes ``size`` bytes per download, waiting on ``gate`` first when one is set."""

    def __init__(self, size: int = 10) -> None:
        self.size = size
        self.gate: asyncio.Event | None = None
        self.guard = Guard()

    async def save_file(self, path: str, dest: Path, cap: int) -> int:
        if self.gate is not None:
            await self.gate.wait()
        if self.size > cap:
            raise DownloadTooLarge(f"{Path(path).name} is larger than the limit")
        dest.write_bytes(b"x" * self.size)
        return self.size


class _Session:
    """Like BrowserSession: an object per tab (weakly referenced by the page's per-session state)."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)


def _session(tmp_path: Path, agent=None) -> _Session:
    return _Session(key="k", agent=agent or _Agent(), artifacts=ArtifactStore(tmp_path))


def test_a_second_download_while_one_runs_gets_a_plain_message(tmp_path):
    session = _session(tmp_path)
    desk = DownloadDesk()

    async def scenario():
        session.agent.gate = asyncio.Event()
        first = asyncio.create_task(desk.file(session, "/home/user/a.bin"))
        await asyncio.sleep(0.05)
        try:  # without the one-at-a-time rule these wait for the first to finish: fail instead of hanging
            second = await asyncio.wait_for(desk.file(session, "/home/user/b.bin"), 2)
            zipped = await asyncio.wait_for(desk.zip(session), 2)
        finally:
            session.agent.gate.set()
        session.agent.gate.set()
        return await first, second, zipped

    first, second, zipped = asyncio.run(scenario())
    assert first[0] is not None and Path(first[0]).exists()
    assert second == (None, BUSY) and zipped == (None, BUSY)


def test_the_previous_download_is_deleted_when_the_next_starts_and_all_at_session_end(tmp_path):
    session = _session(tmp_path)
    desk = DownloadDesk()
    first, _ = asyncio.run(desk.file(session, "/home/user/a.bin"))
    second, _ = asyncio.run(desk.file(session, "/home/user/b.bin"))
    assert not Path(first).exists() and not Path(first).parent.exists(), "the served copy must not pile up"
    assert Path(second).exists()
    session.artifacts.cleanup()
    assert not Path(second).exists()


def test_a_download_past_its_cap_says_so_and_keeps_nothing(tmp_path):
    session = _session(tmp_path, _Agent(size=2048))
    desk = DownloadDesk(DownloadCaps(file_bytes=1024, zip_bytes=4096))
    path, note = asyncio.run(desk.file(session, "/home/user/big.bin"))
    assert path is None and note == "⚠️ big.bin is larger than the limit"
    assert not list((session.artifacts.folder / "downloads").iterdir()), "no partial copy left"


def test_the_preview_never_shows_an_address_only_the_server_can_open(tmp_path):
    status = SimpleNamespace(sandbox_id="sbx1", state="ready")
    session = SimpleNamespace(agent=SimpleNamespace(sandbox_status=lambda: status))
    registry = SimpleNamespace(get=lambda key: session, open=lambda key: session)
    for url in ("http://127.0.0.1:49999/p/abc/", "http://5173-sbx1.localhost:49999/", "http://10.0.0.5:80/"):
        provider = SimpleNamespace(preview_url=lambda sid, port, url=url: url)
        public = WorkspaceActions(registry, provider, public=True)  # type: ignore[arg-type]
        shown = public.preview(5173, SimpleNamespace(session_hash="s"))
        assert shown == LOCAL_PREVIEW_HIDDEN and "127.0.0.1" not in shown and "localhost" not in shown
        private = WorkspaceActions(registry, provider)  # type: ignore[arg-type]
        assert url in private.preview(5173, SimpleNamespace(session_hash="s")), "on a laptop the link is shown"
    cloud = SimpleNamespace(preview_url=lambda sid, port: "https://5173-sbx1.e2b.app")
    assert "e2b.app" in WorkspaceActions(registry, cloud, public=True).preview(5173, SimpleNamespace(session_hash="s"))
    assert not is_internal_url("https://5173-sbx1.e2b.app") and is_internal_url("http://[::1]:80/")


def test_status_counts_sessions_sandboxes_and_turns_and_nothing_else():
    def agent(state, running):
        return SimpleNamespace(sandbox_status=lambda: SimpleNamespace(state=state, sandbox_id="secret-id"),
                               turn_running=running)

    sessions = {"key-a": SimpleNamespace(agent=agent("ready", True)),
                "key-b": SimpleNamespace(agent=agent("closed", False))}
    registry = type("R", (), {"__iter__": lambda self: iter(list(sessions)), "get": lambda self, k: sessions.get(k),
                              "slots": SimpleNamespace(waiting=lambda: 4)})()

    async def fallback(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"gradio"})

    async def fetch(path):
        app = StatusEndpoint(fallback, registry)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)

    answer = asyncio.run(fetch("/status"))
    body = answer.json()
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert {k: body[k] for k in ("sessions", "sandboxes", "turns_running", "waiting")} == {
        "sessions": 2, "sandboxes": 1, "turns_running": 1, "waiting": 4}
    assert "key-a" not in answer.text and "secret-id" not in answer.text
    assert asyncio.run(fetch("/other")).text == "gradio"


def test_the_usage_line_says_how_much_of_the_budget_is_used():
    assert budget_words((0.04, 0.5)) == "≈ $0.04 of $0.50 used"
    assert budget_words((0.6, 0.5)) == "the ≈ $0.50 budget is used up"
    assert budget_words(None) == ""
    from webui.chat import ChatController

    guard = Guard(guardrails=Guardrails(operator=Limits(session_usd=0.5)))
    guard.spent(0.04)
    session = SimpleNamespace(agent=SimpleNamespace(usage=None, guard=guard))
    controller = ChatController(SimpleNamespace(settings=None))  # type: ignore[arg-type]
    assert controller.usage_text(session).endswith("\n\nThis demo's budget: ≈ $0.04 of $0.50 used")


def test_each_session_gets_its_own_guard_keyed_by_a_hash_of_the_address():
    rails = Guardrails(operator=Limits(turns=3), own_key=Limits(turns=30))
    visitors = Visitors(rails, salt=b"salt")
    request = SimpleNamespace(client=SimpleNamespace(host="203.0.113.7"), headers={"x-forwarded-for": "1.2.3.4"})
    a = _Session(key="a", agent=SimpleNamespace(guard=None, telemetry=None))
    b = _Session(key="b", agent=SimpleNamespace(guard=None, telemetry=None))
    visitors.attach(a, request, own_key=False)
    visitors.attach(b, request, own_key=True)
    assert a.agent.guard is not b.agent.guard and a.agent.guard.client == b.agent.guard.client
    assert "203.0.113.7" not in a.agent.guard.client and len(a.agent.guard.client) == 16
    assert a.agent.guard.limits.turns == 3 and b.agent.guard.limits.turns == 30
    assert request_address(request, trust_proxy=False) == "203.0.113.7", "the header is not trusted by default"
    assert request_address(request, trust_proxy=True) == "1.2.3.4"
    # One IPv6 home or phone line has a whole /64: its addresses are one visitor (caps, daily budget).
    six = [SimpleNamespace(client=SimpleNamespace(host=f"2001:db8:5:6:{n:x}::1"), headers={}) for n in (1, 99)]
    assert request_address(six[0], False) == request_address(six[1], False) == "2001:db8:5:6::/64"
    other = SimpleNamespace(client=SimpleNamespace(host="2001:db8:5:7::1"), headers={})
    assert request_address(other, False) != request_address(six[0], False)
    mapped = SimpleNamespace(client=SimpleNamespace(host="::ffff:203.0.113.7"), headers={})
    assert request_address(mapped, False) == "203.0.113.7"
    forwarded = SimpleNamespace(client=None, headers={"x-forwarded-for": "2001:db8:5:6:ffff::2, 10.0.0.1"})
    assert request_address(forwarded, trust_proxy=True) == "2001:db8:5:6::/64"
    json.dumps(visitors.session_id("a"))
    assert visitors.session_id("a") != "a"


def test_a_refusal_by_the_page_is_one_operator_log_line_without_text(caplog):
    import logging

    visitors = Visitors(Guardrails(), salt=b"salt")
    session = _Session(key="page-key", agent=SimpleNamespace(guard=None, telemetry=None))
    request = SimpleNamespace(client=SimpleNamespace(host="203.0.113.7"), headers={})
    with caplog.at_level(logging.INFO, logger="agent.operator"):
        visitors.attach(session, request, own_key=False)
        visitors.refused(session, "capacity")
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "agent.operator"]
    assert [r["event"] for r in records] == ["session_start", "refusal"]
    assert records[1]["kind"] == "capacity" and records[1]["where"] == "page"
    assert "page-key" not in caplog.text and "203.0.113.7" not in caplog.text
