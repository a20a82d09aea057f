"""When should a streaming turn hand its (whole) message list to the page?

Every yield makes Gradio post-process the entire chat and send a diff, and that work grows with the length
of the conversation (≈2 ms on an empty chat, ≈38 ms after 500 messages). Yielding per token therefore gets
slower and slower in long chats. The pacer yields at once when the page has shown nothing for a while (so the
first token appears with no added delay) and otherwise at most every ``min_interval`` seconds, stretched to a
multiple of the measured per-yield cost, so Gradio's share of the CPU stays bounded however long the chat is.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        min_interval: float = 0.04,
        cost_factor: float = 4.0,
        max_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.cost_factor = cost_factor
        self.max_interval = max_interval
        self._clock = clock
        self._last_yield = float("-inf")
        self._yield_cost = 0.0  # smoothed seconds spent outside the generator per yield
        self._yield_started: float | None = None

    @property
    def interval(self) -> float:
        return min(self.max_interval, max(self.min_interval, self.cost_factor * self._yield_cost))

    def wait_time(self) -> float:
        """Seconds until a yield is allowed (0: now)."""
        return max(0.0, self._last_yield + self.interval - self._clock())

    def due(self) -> bool:
        return self.wait_time() <= 0.0

    def before_yield(self) -> None:
        self._yield_started = self._clock()

    def after_yield(self) -> None:
        """Call when the generator resumes: the time since ``before_yield`` is what the yield cost Gradio."""
        now = self._clock()
        if self._yield_started is not None:
            cost = now - self._yield_started
            self._yield_cost = cost if self._yield_cost == 0.0 else 0.7 * self._yield_cost + 0.3 * cost
        self._last_yield = now
        self._yield_started = None
