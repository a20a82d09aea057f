"""The Anthropic client the agent uses: the SDK's own, without its retries, with a deadline for the first answer.

Who retries: the agent loop, only (agent/loop.py). The SDK's built-in retries are switched off
(``max_retries=0``) because they are silent (a person sees nothing while the SDK sleeps and tries again) and
because each of the loop's attempts would otherwise run up to ``1 + max_retries`` SDK attempts, multiplying the
two. The loop's retries are announced with ``Error(retrying=True)``, cover what the SDK cannot retry (a stream
that fails after it opened but before anything of it was shown), and follow ``Failure.transient``
(agent/failures.py), which refuses to wait out a ``retry-after`` longer than ``MAX_SILENT_WAIT_S``.

Timeouts: ``AGENT_API_TIMEOUT`` is the silence tolerated *inside* a reply (the HTTP read timeout; Claude may
think for a while between events). Before the reply starts, a server that accepts the connection but never
answers would hold a turn that long without a word; so each attempt must get its response headers within
``FIRST_ANSWER_DEADLINE_S`` (or ``AGENT_API_TIMEOUT`` if shorter), else it fails as a timeout and the loop
announces a retry. That deadline is longer than ``MAX_SILENT_WAIT_S`` on purpose: a long conversation without a
cache hit can take Claude many seconds to read before its reply starts, and cutting that off would re-send (and
pay for) the whole prompt again for nothing; the page shows that it is waiting meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2
from anthropic import Middleware

from agent.config import Settings
from agent.failures import MAX_SILENT_WAIT_S

__all__ = ["FIRST_ANSWER_DEADLINE_S", "MAX_SILENT_WAIT_S", "FirstAnswerDeadline", "make_client", "first_answer_deadline"]

CONNECT_TIMEOUT_S = 10.0
FIRST_ANSWER_DEADLINE_S = 60.0


class FirstAnswerDeadline(Middleware):
    """SDK middleware: one attempt must receive its response headers within ``seconds``.

    The middleware chain runs once per HTTP attempt and returns as soon as the headers are in (streamed bodies
    are read later, under the client's read timeout), so this bounds only the wait for the reply to start.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle_async(self, request: Any, call_next: Any) -> Any:
        try:
            return await asyncio.wait_for(call_next(request), self.seconds)
        except TimeoutError:
            opts = request.options
            raise anthropic.APITimeoutError(request=httpx2.Request(opts.method, opts.url)) from None


def first_answer_deadline(settings: Settings) -> float:
    """Seconds an attempt may wait for its response headers."""
    return min(FIRST_ANSWER_DEADLINE_S, settings.api_timeout_s)


def make_client(settings: Settings) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
        max_retries=0,  # the loop owns retries (module docstring)
        timeout=anthropic.Timeout(settings.api_timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.api_timeout_s)),
        middleware=[FirstAnswerDeadline(first_answer_deadline(settings))],
    )
