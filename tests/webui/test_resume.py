"""The browser's stored copy of a chat, as the server checks it (webui/resume.py) and gives it back to the model
(AgentSession.restore), without a browser."""

from __future__ import annotations

from pathlib import Path

from agent.session import AgentSession
from tests.browser.conftest import base_settings
from tests.browser.fakes import FakeProvider
from webui.admission import Caps, LocalSlots, RefusalKind
from webui.resume import GONE_FILE, read_stored, secret_matches, shown_history, transcript_turns
from webui.visitors import request_address


def _history(tmp: Path) -> list[dict]:
    own = tmp / "own"
    own.mkdir()
    (own / "chart.png").write_bytes(b"png")
    return [
        {"role": "user", "content": [{"type": "text", "text": "Plot it"}]},
        {"role": "assistant", "metadata": {"title": "Thinking"}, "content": [{"type": "text", "text": "hmm"}]},
        {"role": "assistant", "metadata": {"title": "Ran Python code", "status": "done"},
         "content": [{"type": "text", "text": "x = 1"}]},
        {"role": "assistant", "content": [{"type": "file", "file": {"path": str(own / "chart.png")}}]},
        {"role": "assistant", "content": [{"type": "file", "file": {"path": "/etc/passwd"}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Here is the chart."}]},
        {"role": "user", "content": "Thanks"},
        {"role": "system", "content": "not a chat message"},
    ]


def test_files_show_again_only_from_the_conversations_own_folder(tmp_path):
    history = _history(tmp_path)
    shown = shown_history(read_stored({"history": history}).history, tmp_path / "own")
    files = [p["file"]["path"] for m in shown for p in m["content"] if p["type"] == "file"]
    assert files == [str(tmp_path / "own" / "chart.png")]
    assert GONE_FILE in str(shown), "a file from elsewhere was not replaced by the note"
    after_grace = shown_history(read_stored({"history": history}).history, None)
    assert not [p for m in after_grace for p in m["content"] if p["type"] == "file"]


def test_the_model_gets_the_chat_back_as_text_with_the_pages_turn_numbers(tmp_path):
    turns = transcript_turns(read_stored({"history": _history(tmp_path)}).history)
    assert [t[0] for t in turns] == [0, 1]
    assert turns[0][1] == "Plot it" and "[step: Ran Python code]" in turns[0][2] and "Here is the chart." in turns[0][2]
    assert "hmm" not in turns[0][2], "thinking went back to the model"
    agent = AgentSession(base_settings(anthropic_api_key="k"), FakeProvider())
    agent.restore(turns, note="fresh sandbox")
    assert [m["role"] for m in agent.messages] == ["user", "assistant", "user"]
    agent.rewind(1)  # undo of the last message on the page cuts the same turn
    assert [m["role"] for m in agent.messages] == ["user", "assistant"]


def test_a_long_stored_chat_is_cut_to_its_newest_turns():
    history = []
    for i in range(400):
        history += [{"role": "user", "content": f"q{i} " + "x" * 1000}, {"role": "assistant", "content": "a" * 1000}]
    turns = transcript_turns(read_stored({"history": history}).history)
    assert turns[-1][0] == 399 and turns[0][0] > 0
    assert sum(len(u) + len(r) for _, u, r in turns) <= 200_000


def test_stored_values_are_checked():
    assert read_stored("garbage").ticket is None and read_stored(None).history == []
    assert read_stored({"id": "short", "secret": "s"}).ticket is None
    stored = read_stored({"id": "a" * 22, "secret": "b" * 43, "history": [{"role": "user", "content": "hi"}, 7]})
    assert stored.ticket is not None and len(stored.history) == 1
    assert "b" * 43 not in repr(stored.ticket)
    assert not secret_matches("b" * 43, None)


def test_slots_per_client_and_in_total():
    slots, caps = LocalSlots(), Caps(per_client=2, total=3)
    assert slots.acquire("a1", "A", caps) is None and slots.acquire("a1", "A", caps) is None  # idempotent
    assert slots.acquire("a2", "A", caps) is None
    refused = slots.acquire("a3", "A", caps)
    assert refused is not None and refused.kind is RefusalKind.CLIENT_FULL and "2 chats open" in refused.message
    assert slots.acquire("b1", "B", caps) is None
    full = slots.acquire("c1", "C", caps)
    assert full is not None and full.kind is RefusalKind.ALL_FULL and "The demo is busy" in full.message
    slots.release("a1")
    assert slots.acquire("c1", "C", caps) is None and slots.held() == 3 and slots.held("A") == 1


def test_forwarded_for_counts_only_behind_a_trusted_proxy():
    class Request:
        headers = {"x-forwarded-for": "198.51.100.7, 10.0.0.1"}
        client = type("C", (), {"host": "127.0.0.1"})()

    assert request_address(Request(), trust_proxy=False) == "127.0.0.1"
    assert request_address(Request(), trust_proxy=True) == "198.51.100.7"
    assert request_address(None, trust_proxy=True) == ""
