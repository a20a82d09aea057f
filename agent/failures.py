"""Turn API failures into plain words a person can act on.

One function, ``describe_api_failure``, maps whatever the anthropic SDK raised (or our own
``StreamCutOff`` for a stream that ended without ``message_stop``) to a ``Failure``: an event kind,
a message without any technical noise or key material, whether a retry by us is safe, and the
server's suggested wait.

Retries are owned by the agent loop alone (the SDK client is built with ``max_retries=0``, see
agent/claude_client.py), so ``transient`` here decides every retry: a wait the server asks for that is longer
than ``MAX_SILENT_WAIT_S`` is never waited out; the turn ends at once saying how long to wait.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import anthropic
import httpx2

from agent.events import ErrorKind

# The one way to start over, named as the page's button says it (the CLI reads it as starting again).
NEW_CHAT = "Press New chat to start a fresh conversation."
MAX_SILENT_WAIT_S = 20.0  # the longest wait (server-requested or a silent server) before the person hears of it


class StreamCutOff(Exception):
    """The model stream ended without ``message_stop`` (the SDK does not raise on a clean close)."""


@dataclass(frozen=True)
class Failure:
    kind: ErrorKind
    message: str
    transient: bool  # worth retrying (when nothing of this request was shown yet)
    retry_after: float | None = None
    detail: str = ""  # for whoever runs the app (log; a local page's "details" line): settings, status codes

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ErrorKind(self.kind))

    def retry_message(self, wait: float) -> str:
        """What happened (the first sentence, without the advice to send again) and that a retry is coming."""
        what = self.message.split(". ")[0].rstrip(".")
        return f"{what}. Retrying in {wait:g} s ..."


_KEYISH = re.compile(r"(sk-ant-[A-Za-z0-9_\-]+|e2b_[A-Za-z0-9]+)")


def scrub(text: str, limit: int = 200) -> str:
    """Shorten an API-provided message and blank anything that looks like a key."""
    text = _KEYISH.sub("[key]", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_type_and_message(exc: anthropic.APIStatusError) -> tuple[str | None, str]:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        return err.get("type"), str(err.get("message") or "")
    return None, ""


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    try:
        headers = exc.response.headers
    except Exception:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue
    return None


def _wait_words(seconds: float | None) -> str:
    if seconds is None:
        return "Wait a minute"
    if seconds < 1.5:
        return "Wait a second"
    if seconds < 90:
        return f"Wait about {round(seconds)} seconds"
    return f"Wait about {round(seconds / 60)} minutes"


DROPPED = Failure("connection", "The connection to Claude dropped in the middle of the reply. "
                  "Send your message again to continue.", transient=True)


def _may_wait(seconds: float | None) -> bool:
    """A retry is worth it only if the server's requested wait (if any) is short enough to wait out."""
    return seconds is None or seconds <= MAX_SILENT_WAIT_S


def describe_api_failure(exc: BaseException, model: str, *, mid_stream: bool = False) -> Failure:
    """Plain words for ``exc``.

    ``mid_stream``: the response stream was already open (the caller got a stream back from
    ``messages.create``) when ``exc`` was raised. Without it the classifier still recognises errors raised by
    the HTTP layer while reading a stream (the SDK wraps everything raised before the stream opens in
    ``APIConnectionError`` / ``APITimeoutError``, and nothing after), so both ways give the right words.
    """
    if isinstance(exc, StreamCutOff):
        return DROPPED
    raw_transport = isinstance(exc, httpx2.TransportError) and not isinstance(exc, anthropic.APIError)
    in_stream = mid_stream or raw_transport
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        if in_stream:
            return Failure("timeout", "Claude stopped answering in the middle of the reply. Send your message "
                           "again.", transient=True)
        return Failure("timeout", "Claude did not answer in time. Send your message again in a moment.",
                       transient=True, detail="The request to the Anthropic API timed out.")
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
        if in_stream:
            return DROPPED
        return Failure("connection", "Could not reach Claude. Check your internet connection, then send your "
                       "message again.", transient=True,
                       detail="Connecting to the Anthropic API failed: check the network and ANTHROPIC_BASE_URL.")
    if isinstance(exc, anthropic.APIStatusError):
        etype, emsg = _error_type_and_message(exc)
        status = exc.status_code
        if status == 401 or etype == "authentication_error":
            return Failure("auth", "Claude did not accept the API key. If you pasted your own key under "
                           "Settings, check it there; otherwise tell whoever runs this page.", transient=False,
                           detail="The Anthropic API answered 401 (authentication): check ANTHROPIC_API_KEY or the key "
                           "pasted in Settings.")
        if status == 403 or etype == "permission_error":
            return Failure("auth", f"This API key may not use the model {model}. Pick another model under "
                           "Settings.", transient=False,
                           detail="The Anthropic API answered 403 (permission): check the key's permissions in the "
                           "Anthropic console.")
        if status == 429 or etype == "rate_limit_error":
            wait = _retry_after(exc)
            return Failure("rate_limit", f"Claude has had too many requests from this key. {_wait_words(wait)}, "
                           "then send your message again.", transient=_may_wait(wait), retry_after=wait,
                           detail="The Anthropic API answered 429 (rate limit).")
        if status == 529 or etype == "overloaded_error":
            wait = _retry_after(exc)
            return Failure("overloaded", "Claude is overloaded right now. Wait a minute and send your "
                           "message again.", transient=_may_wait(wait), retry_after=wait,
                           detail="The Anthropic API answered 529 (overloaded).")
        if status == 404 or etype == "not_found_error":
            return Failure("bad_request", f"The model {model} is not available. Pick another model under "
                           "Settings.", transient=False, detail=f"The Anthropic API answered 404 for the model id {model}.")
        if status == 413 or etype == "request_too_large":
            return Failure("bad_request", "This conversation (with its files and outputs) is too large to send. "
                           f"{NEW_CHAT}", transient=False, detail="The Anthropic API answered 413 (request too large).")
        if status == 400 or etype == "invalid_request_error":
            if "too long" in emsg.lower() or "context" in emsg.lower() and "limit" in emsg.lower():
                return Failure("bad_request", f"This conversation is too long for the model. {NEW_CHAT}",
                               transient=False, detail=f"The Anthropic API answered 400: {scrub(emsg)}")
            return Failure("bad_request", f"Claude could not take this request. Send your message again; if this "
                           f"keeps happening, {NEW_CHAT[0].lower()}{NEW_CHAT[1:]}", transient=False,
                           detail=f"The Anthropic API answered 400: {scrub(emsg) or 'invalid request'}")
        if status == 408:
            return Failure("timeout", "Claude did not answer in time. Send your message again in a moment.",
                           transient=True, detail="408 from the Anthropic API.")
        if status >= 500 or etype == "api_error" or status in (200, 409):
            wait = _retry_after(exc)
            return Failure("server", "Claude had a problem on its side. Send your message again in a moment.",
                           transient=_may_wait(wait), retry_after=wait, detail=f"The Anthropic API answered HTTP {status}.")
        return Failure("server", "Claude answered with an error. Send your message again in a moment.",
                       transient=False, detail=f"The Anthropic API answered HTTP {status}.")
    return Failure("server", "Something went wrong while talking to Claude. Send your message again.",
                   transient=False, detail=f"Unexpected {type(exc).__name__} from the Anthropic SDK.")
