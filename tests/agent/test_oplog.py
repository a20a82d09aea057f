"""The operator log (agent/oplog.py): one JSON line per session start and end, turn, tool call and refusal, with
durations, tokens, cost, the sandbox id and a salted address hash — never message text, tool input/output or keys."""

from __future__ import annotations

import json
import logging

from agent.guardrails import Guard, Guardrails, Limits
from agent.oplog import SessionLog, address_hash
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.support.claude_standin import Tokens, ToolUse, text_reply, tool_reply
from tests.support.fake_sandbox import FakeSandbox, FakeSandboxProvider

SECRET = "zebra-secret-4471"


def test_one_json_line_per_session_turn_tool_and_refusal_without_any_text(claude, caplog):
    async def echo(command, out, err):
        out(f"{SECRET} output\n")
        return 0

    claude.push(tool_reply(ToolUse("run_command", {"command": f"echo {SECRET}"}), usage=Tokens(input=1000)),
                text_reply(f"done {SECRET}", usage=Tokens(input=1200, output=40)))
    provider = FakeSandboxProvider(make=lambda: FakeSandbox("sbx-77", command=echo))
    client = address_hash("198.51.100.9", b"salt")

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            s.guard = Guard(guardrails=Guardrails(operator=Limits(turns=1)), client=client)
            s.telemetry = SessionLog("sess-1", client, "local")
            await collect(s, f"please {SECRET}")
            await collect(s, f"again {SECRET}")  # refused: the turn limit

    with caplog.at_level(logging.INFO, logger="agent.operator"):
        run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.operator"]
    records = [json.loads(line) for line in lines]
    kinds = [r["event"] for r in records]
    assert kinds == ["session_start", "tool", "turn", "refusal", "turn", "session_end"], kinds
    tool, turn, refusal, session_end = records[1], records[2], records[3], records[5]
    assert tool["tool"] == "run_command" and tool["duration_s"] >= 0 and tool["sandbox"] == "sbx-77"
    assert turn["input_tokens"] == 2200 and turn["output_tokens"] > 0 and turn["cost_usd"] > 0
    assert turn["tools"] == 1 and turn["stop_reason"] == "end_turn" and turn["duration_s"] > 0
    assert refusal["kind"] == "limit"
    assert session_end["turns"] == 2 and session_end["sandbox"] == "sbx-77" and session_end["cost_usd"] > 0
    assert all(r["client"] == client for r in records) and "198.51.100.9" not in "".join(lines)
    joined = "\n".join(lines)
    assert SECRET not in joined and claude.api_key not in joined, "no text, tool input/output or key in the log"
