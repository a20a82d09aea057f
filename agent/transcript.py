"""Keeping the Messages-API transcript valid, whatever happened to a turn.

Rules the API enforces that matter here: roles alternate (so user content is merged into a trailing user
message), text blocks are non-empty, every ``tool_use`` is answered by a ``tool_result`` in the next user
message (results first, in call order), thinking blocks go back unchanged with their signature.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from agent.events import Artifact

Message = dict[str, Any]

# Images a tool produced go back to Claude so it can look at its own charts. Only the newest few stay in the
# transcript (older ones become a short note): every later request re-sends them, and they are costly.
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 3_500_000  # the API refuses larger base64 images (5 MB encoded)
KEEP_IMAGES = 3
IMAGE_DROPPED_NOTE = "[an image shown earlier was removed from the context to save space]"


def append_user(messages: list[Message], blocks: list[dict[str, Any]]) -> None:
    """Add user content, merging into a trailing user message so roles keep alternating."""
    if blocks:
        _extend_last(messages, "user", blocks)


def append_assistant(messages: list[Message], blocks: list[dict[str, Any]]) -> bool:
    """Add assistant content when it holds something worth keeping (not just thinking); True if added.

    After a ``pause_turn`` the paused message is the last one and the continuation extends it.
    """
    if not any(b["type"] not in ("thinking", "redacted_thinking") for b in blocks):
        return False
    _extend_last(messages, "assistant", blocks)
    return True


def _extend_last(messages: list[Message], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append ``blocks`` to the last message when it has ``role`` (roles must alternate), else add a message."""
    if messages and messages[-1]["role"] == role:
        last = messages[-1]
        if isinstance(last["content"], str):
            last["content"] = [{"type": "text", "text": last["content"]}]
        last["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


def tool_result_block(
    tool_use_id: str, text: str, is_error: bool, artifacts: Sequence[Artifact] = ()
) -> dict[str, Any]:
    """A tool_result; images among ``artifacts`` are attached so Claude sees what the user sees."""
    images = [
        {"type": "image", "source": {"type": "base64", "media_type": a.mime,
                                     "data": base64.b64encode(a.data).decode()}}
        for a in artifacts
        if a.mime in IMAGE_MIMES and isinstance(a.data, bytes) and len(a.data) <= MAX_IMAGE_BYTES
    ]
    content: str | list[dict[str, Any]] = text or "(no output)"
    if images:
        content = [{"type": "text", "text": content}, *images]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}
    if is_error:
        block["is_error"] = True
    return block


def prune_images(messages: list[Message], keep: int = KEEP_IMAGES) -> None:
    """Keep only the newest ``keep`` tool-result images; replace older ones with a short text note."""
    seen = 0
    for message in reversed(messages):
        if message["role"] != "user" or isinstance(message["content"], str):
            continue
        for block in reversed(message["content"]):
            if block.get("type") != "tool_result" or not isinstance(block.get("content"), list):
                continue
            parts = block["content"]
            for i in range(len(parts) - 1, -1, -1):
                if parts[i].get("type") != "image":
                    continue
                seen += 1
                if seen > keep:
                    parts[i] = {"type": "text", "text": IMAGE_DROPPED_NOTE}


class TurnMarks:
    """Where each turn of a transcript started, by turn number, so the transcript can be rewound to turn N.

    A mark is (turn number, transcript length, blocks in the trailing user message): a turn that follows a failed
    one merges its user text into that trailing user message, so rewinding it also cuts those blocks.
    """

    def __init__(self) -> None:
        self._marks: list[tuple[int, int, int | None]] = []

    def next_number(self) -> int:
        return self._marks[-1][0] + 1 if self._marks else 0

    def rewind(self, number: int, messages: list[Message]) -> None:
        """Cut ``messages`` back to where turn ``number`` started and forget it and every later turn."""
        gone = [m for m in self._marks if m[0] >= number]
        if not gone:
            return
        _, length, blocks = gone[0]
        del messages[length:]
        if blocks is not None and messages and isinstance(messages[-1].get("content"), list):
            del messages[-1]["content"][blocks:]
        self._marks = [m for m in self._marks if m[0] < number]

    def begin(self, number: int, messages: list[Message]) -> None:
        """Turn ``number`` starts now: forget any turn at or after it (see ``rewind``), then mark this one."""
        self.rewind(number, messages)
        last = messages[-1] if messages else None
        content = last.get("content") if last and last.get("role") == "user" else None
        self._marks.append((number, len(messages), len(content) if isinstance(content, list) else None))
