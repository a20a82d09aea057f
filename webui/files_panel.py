"""The Files panel's wiring: the list follows every turn, and a download is one click.

- After each turn the list of workspace files is read again, keeping the file picked if it still exists: files a
  reply wrote are there without pressing anything. The chat handler is wrapped (``mark_turn_end``) to set a
  ``gr.State`` once its turn is over; a state set by a queued event fires ``change`` in the browser (ChatInterface's
  own end-of-turn copy runs unqueued, and unqueued events fire no state changes).
- *Download file* and *Download all (.zip)* prepare the file on the server (``WorkspaceActions``; the byte path
  with its caps lives there) and the browser then follows the fresh link at once, so one click saves it. The
  link stays in the panel as a fallback.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import gradio as gr

# Clicks the download link once it is new (every prepared download has its own address), for up to 3 s.
FOLLOW_NEW_DOWNLOAD_JS = """async () => {
  for (let i = 0; i < 60; i++) {
    const link = document.querySelector('#download a[download], #download a[href*="file="]');
    if (link && link.href && link.dataset.followed !== link.href) {
      link.dataset.followed = link.href;
      link.click();
      return [];
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  return [];
}"""


def keep_choice(listed: Any, current: str | None) -> Any:
    """The list's update, with the file picked before still picked when it is still there."""
    if isinstance(listed, dict):
        choices = listed.get("choices") or []
        names = [c[1] if isinstance(c, (tuple, list)) else c for c in choices]
        if current and current in names:
            return {**listed, "value": current}
    return listed


def mark_turn_end(respond: Callable[..., AsyncIterator[tuple]]) -> Callable[..., AsyncIterator[tuple]]:
    """The chat handler with one more output: a turn-end mark, set (to a new value) by one last frame after the turn.

    The last frame repeats the turn's final messages (ChatInterface needs a reply in every frame) and skips the
    other outputs; a turn cut short by Stop ends without it.
    """

    async def handler(message: Any, history: list, model: str, api_key: str, request: gr.Request):
        last = None
        async for frame in respond(message, history, model, api_key, request):
            last = frame
            yield (*frame, gr.skip())
        if last is not None:
            yield (last[0], *(gr.skip() for _ in last[1:]), time.monotonic())

    return handler


def wire_files_panel(chat: Any, turn_end: Any, workspace: Any, file_choice: Any, files_note: Any, download: Any,
                     download_one: Any, download_zip: Any) -> None:
    async def refresh(current: str | None, request: gr.Request) -> tuple[Any, str]:
        listed, note = await workspace.list_files(request)
        return keep_choice(listed, current), note

    turn_end.change(refresh, file_choice, [file_choice, files_note], show_progress="hidden",
                              api_visibility="undocumented")
    for button, fn, inputs in ((download_one, workspace.download_file, file_choice),
                               (download_zip, workspace.download_zip, None)):
        button.click(fn, inputs, [download, files_note], api_visibility="undocumented").success(
            None, None, None, js=FOLLOW_NEW_DOWNLOAD_JS, queue=False, show_progress="hidden",
            api_visibility="undocumented")
