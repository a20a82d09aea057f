"""The Anthropic client the agent uses: the SDK's own, with one guard against long silent waits.

The SDK retries 408/409/429/5xx and connection errors before a stream starts, honouring ``retry-after`` however
long it is. A person watching the page would see nothing for minutes; so when the server asks for a wait longer
than ``MAX_SILENT_WAIT_S`` the request is not retried by the SDK and the turn ends at once with a plain message
saying how long to wait (agent/failures.py).
"""

from __future__ import annotations

from typing import Any

import anthropic

from agent.config import Settings

MAX_SILENT_WAIT_S = 20.0


class AgentClaudeClient(anthropic.AsyncAnthropic):
    def _should_retry(self, response: Any) -> bool:  # SDK hook (private API; the fallback keeps SDK behaviour)
        try:
            wait = self._parse_retry_after_header(response.headers)
        except Exception:
            wait = None
        if wait is not None and wait > MAX_SILENT_WAIT_S:
            return False
        return super()._should_retry(response)


def make_client(settings: Settings) -> anthropic.AsyncAnthropic:
    return AgentClaudeClient(
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
        max_retries=settings.api_max_retries,
        timeout=anthropic.Timeout(settings.api_timeout_s, connect=10.0),
    )
