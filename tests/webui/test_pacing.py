"""Pacing of the page's streamed updates (webui/pacing.py)."""

from __future__ import annotations

from webui.pacing import Pacer


def test_pacer_yields_at_once_after_quiet_then_spaces_yields():
    now = [100.0]
    pacer = Pacer(min_interval=0.04, clock=lambda: now[0])
    assert pacer.due()  # nothing shown for a while: the first token goes out at once
    pacer.before_yield()
    pacer.after_yield()
    assert not pacer.due() and abs(pacer.wait_time() - 0.04) < 1e-9
    now[0] += 0.05
    assert pacer.due()


def test_pacer_stretches_interval_when_yields_get_expensive():
    now = [0.0]
    pacer = Pacer(min_interval=0.04, cost_factor=4.0, max_interval=0.5, clock=lambda: now[0])
    for _ in range(20):
        pacer.before_yield()
        now[0] += 0.03  # Gradio needs 30 ms per yield (a long chat)
        pacer.after_yield()
        now[0] += pacer.interval
    assert 0.11 < pacer.interval <= 0.5  # ~4 x 30 ms: Gradio's share stays bounded
