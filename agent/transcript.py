"""Keeping the Messages-API transcript valid, whatever happened to a turn.

Rules the API enforces that matter here: roles alternate (so user content is merged into a trailing user
message), text blocks are non-empty, every ``tool_use`` is answered by a ``tool_result`` in the next user
message (results first, in call order), thinking blocks go back unchanged with their signature.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def append_user(messages: list[Message], blocks: list[dict[str, Any]]) -> None:
    """Add user content, merging into a trailing user message so roles keep alternating."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == "user":
        last = messages[-1]
        if isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}]
        last["content"].extend(blocks)
    else:
        messages.append({"role": "user", "content": list(blocks)})


def append_assistant(messages: list[Message], blocks: list[dict[str, Any]]) -> bool:
    """Add assistant content when it holds something worth keeping (not just thinking); True if added.

    After a ``pause_turn`` the paused message is the last one and the continuation extends it.
    """
    if not any(b["type"] not in ("thinking", "redacted_thinking") for b in blocks):
        return False
    if messages and messages[-1]["role"] == "assistant":
        last = messages[-1]
        if isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}]
        last["content"].extend(blocks)
    else:
        messages.append({"role": "assistant", "content": list(blocks)})
    return True


def tool_result_block(tool_use_id: str, text: str, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text or "(no output)"}
    if is_error:
        block["is_error"] = True
    return block
