"""How the Claude stand-in turns a scripted ``Reply`` into the Messages API's streamed events (and its JSON body)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from tests.support.claude_script import Reply, Text, Thinking

# --------------------------------------------------------------------------------------------------
# Turning a Reply into the wire events
# --------------------------------------------------------------------------------------------------

Step = tuple[Literal["event"], str, dict[str, Any]] | tuple[Literal["sleep"], float]


def _split(text: str, chunks: int) -> list[str]:
    chunks = max(1, min(chunks, len(text) or 1))
    size, extra = divmod(len(text), chunks)
    out, pos = [], 0
    for i in range(chunks):
        n = size + (1 if i < extra else 0)
        out.append(text[pos : pos + n])
        pos += n
    return out


def _cut(text: str, chunk: int, cuts: Sequence[int]) -> list[str]:
    if cuts:
        edges = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
        return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    if chunk > 0:
        return [text[i : i + chunk] for i in range(0, len(text), chunk)] or [""]
    return [text]


def reply_steps(reply: Reply, message_id: str, model: str, ids: Iterator[int]) -> tuple[list[Step], list[Step]]:
    """The body events split in two: everything up to the end of the last block's deltas, and the close.

    The split point is where "error"/"drop"/"hang" endings cut the stream (mid-block, like a real failure).
    """
    u = reply.usage
    head: list[Step] = [
        ("event", "message_start", {
            "type": "message_start",
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": u.input, "output_tokens": 1,
                          "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read},
            },
        }),
        ("event", "ping", {"type": "ping"}),
    ]
    tail: list[Step] = []
    for i, block in enumerate(reply.blocks):
        # every block's start and deltas go in the head; the last block's stop goes to the tail
        if block.pause:
            head.append(("sleep", block.pause))
        if isinstance(block, Text):
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "text", "text": ""}}))
            for j, piece in enumerate(_split(block.text, block.chunks)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "text_delta", "text": piece}}))
        elif isinstance(block, Thinking):
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for j, piece in enumerate(_split(block.text, block.chunks)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "thinking_delta", "thinking": piece}}))
            head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                          "delta": {"type": "signature_delta", "signature": block.signature}}))
        else:
            tool_id = block.id or f"toolu_standin_{next(ids):04d}"
            head.append(("event", "content_block_start", {"type": "content_block_start", "index": i,
                                                          "content_block": {"type": "tool_use", "id": tool_id,
                                                                            "name": block.name, "input": {}}}))
            for j, piece in enumerate([] if block.no_delta else _cut(block.json_text(), block.chunk, block.cuts)):
                if j and block.delay:
                    head.append(("sleep", block.delay))
                head.append(("event", "content_block_delta", {"type": "content_block_delta", "index": i,
                                                              "delta": {"type": "input_json_delta", "partial_json": piece}}))
        stop = ("event", "content_block_stop", {"type": "content_block_stop", "index": i})
        if i < len(reply.blocks) - 1:
            head.append(stop)
        else:
            tail.append(stop)
    if reply.pause_before_end:
        tail.append(("sleep", reply.pause_before_end))
    tail.append(("event", "message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": reply.final_stop_reason, "stop_sequence": None},
                                            "usage": {"output_tokens": u.output}}))
    tail.append(("event", "message_stop", {"type": "message_stop"}))
    return head, tail


def final_message(reply: Reply, message_id: str, model: str, ids: Iterator[int]) -> dict[str, Any]:
    """The same reply as one non-streamed Message (for ``stream: false`` requests)."""
    content: list[dict[str, Any]] = []
    for block in reply.blocks:
        if isinstance(block, Text):
            content.append({"type": "text", "text": block.text})
        elif isinstance(block, Thinking):
            content.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
        else:
            content.append({"type": "tool_use", "id": block.id or f"toolu_standin_{next(ids):04d}",
                            "name": block.name, "input": json.loads(block.json_text() or "{}")})
    u = reply.usage
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reply.final_stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": u.input, "output_tokens": u.output,
                      "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read}}
