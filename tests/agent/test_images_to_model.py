"""Claude sees the images its code produced (as image blocks in the tool_result), and only the newest few stay
in the context so a chart-heavy chat does not re-send every old picture on every request."""

from __future__ import annotations

import base64

from agent.events import Artifact
from agent.transcript import IMAGE_DROPPED_NOTE, KEEP_IMAGES, prune_images, tool_result_block
from tests.agent.helpers import agent_session, collect, make_settings, run
from tests.support.claude_standin import ToolUse, text_reply, tool_reply

CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"


def _images(block: dict) -> list[dict]:
    content = block.get("content")
    return [c for c in content if c.get("type") == "image"] if isinstance(content, list) else []


def test_a_chart_goes_back_to_claude_as_an_image(claude, provider):
    claude.push(tool_reply(ToolUse("execute_code", {"code": CHART}, id="toolu_img")), text_reply("I see a line."))

    async def scenario():
        async with agent_session(make_settings(claude), provider) as s:
            return await collect(s, "plot it")

    turn = run(scenario())
    assert not turn.errors, turn.describe()
    [result] = [b for b in claude.requests[1].tool_results() if b["tool_use_id"] == "toolu_img"]
    images = _images(result)
    assert len(images) == 1, f"the chart should be sent back as one image block, got {result}"
    source = images[0]["source"]
    assert source["type"] == "base64" and source["media_type"] == "image/png"
    assert base64.b64decode(source["data"]).startswith(b"\x89PNG")


def _result_with_image(n: int) -> dict:
    png = b"\x89PNG\r\n\x1a\n" + bytes([n])
    return tool_result_block(f"toolu_{n}", f"chart {n}", False, (Artifact("image/png", png),))


def test_only_the_newest_images_stay_in_the_context():
    messages: list[dict] = []
    for n in range(KEEP_IMAGES + 2):
        messages.append({"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{n}",
                                                            "name": "execute_code", "input": {}}]})
        messages.append({"role": "user", "content": [_result_with_image(n)]})
    prune_images(messages)
    kept = [len(_images(m["content"][0])) for m in messages if m["role"] == "user"]
    assert kept == [0, 0] + [1] * KEEP_IMAGES, kept
    oldest = messages[1]["content"][0]["content"]
    assert {"type": "text", "text": IMAGE_DROPPED_NOTE} in oldest, oldest
    assert oldest[0] == {"type": "text", "text": "chart 0"}, "the tool's own text must survive pruning"


def test_text_and_oversized_or_non_image_artifacts_are_not_attached():
    big = Artifact("image/png", b"\x89PNG" + b"0" * 4_000_000)
    html = Artifact("text/html", "<table></table>")
    block = tool_result_block("toolu_x", "", True, (big, html))
    assert block == {"type": "tool_result", "tool_use_id": "toolu_x", "content": "(no output)", "is_error": True}
