"""The sampling loop: stream Claude's reply, run its tool calls as soon as each is complete, feed the results
back, and repeat until Claude stops calling tools or a limit is hit.

Why a custom loop (not the SDK's tool runner): tools must start while the model is still streaming
(at each ``content_block_stop``), several calls must run concurrently, and every step must surface as a typed
event for the page. Everything is emitted through ``emit`` (the turn's one queue, see ``agent/turn.py``), tool
output included; the transcript ``messages`` is updated in place and is valid after every outcome: success, API
failure, cut-off stream, limit, or cancellation. ``run`` returns how the turn ended, for its ``Done``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import httpx2

from agent.claude_client import MAX_SILENT_WAIT_S
from agent.config import Settings
from agent.events import (
    Error,
    ErrorKind,
    Event,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputDelta,
    ToolResult,
    ToolRunning,
    ToolStarted,
    Usage,
    UsageUpdate,
)
from agent.failures import StreamCutOff, describe_api_failure
from agent.pricing import usage_with_cost
from agent.reply import Block, Reply, ToolCall, parse_partial
from agent.transcript import append_assistant, append_user, prune_images, tool_result_block

log = logging.getLogger(__name__)

STOPPED_BY_USER = "Stopped by the user."
OWN_BACKOFF_S = (1.0, 3.0)  # waits between the loop's announced retries (AGENT_API_RETRIES; the SDK itself retries none)

RunTool = Callable[[str, str, dict[str, Any]], Awaitable[ToolResult]]  # (call id, tool name, input) -> result


class AgentLoop:
    """Runs one user turn's model/tool round trips. Create one per turn."""

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        settings: Settings,
        system: str,
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        run_tool: RunTool,
        emit: Callable[[Event], None],
        add_usage: Callable[[Usage], Usage],
        thinking: bool | None = None,
        halt: Callable[[], str | None] = lambda: None,  # a guardrail's reason to end the turn (agent/guardrails.py)
    ) -> None:
        self.client = client
        self.settings = settings
        self.system = system
        self.tools = tools
        self.messages = messages
        self.run_tool = run_tool
        self.emit = emit
        self.add_usage = add_usage
        self.halt = halt
        self.turn_usage = Usage()
        self.steps = 0
        self.failure = ""  # the sentence of the failure that ended the turn
        # switched off (and the caller can see it) if the model rejects adaptive thinking
        self.thinking = settings.thinking if thinking is None else thinking

    # ------------------------------------------------------------------ the loop
    async def run(self) -> tuple[StopReason, str]:
        """How the turn ended and, when that needs saying, one sentence for a person (for ``Done``).

        Raises CancelledError (transcript already valid) when cancelled.
        """
        while True:
            reply = await self._sample()
            if reply is None:
                return StopReason.ERROR, self.failure
            if reply.calls:
                self.steps += 1
                await self._answer_calls(reply)
                if reply.limit_hit:
                    return StopReason.TOOL_LIMIT, self._step_limit_message()
                if (reason := self.halt()) is not None:
                    return StopReason.LIMIT, self._limit(reason)
                continue
            if reply.stop_reason == "pause_turn":  # the server paused a long turn: resume it, within the step limit
                self.steps += 1
                if self.steps >= self.settings.max_tool_steps:
                    return StopReason.TOOL_LIMIT, self._step_limit_message()
                continue
            reason = StopReason.from_api(reply.stop_reason)
            if reason is StopReason.MAX_TOKENS:
                return reason, (f"The reply reached the output limit ({self.settings.max_tokens} tokens, "
                                "AGENT_MAX_TOKENS) and was cut off. Send \"continue\" to get the rest.")
            return reason, ""

    def _step_limit_message(self) -> str:
        return self._limit(f"Stopped after {self.settings.max_tool_steps} tool steps in one turn (the "
                           "AGENT_MAX_TOOL_STEPS limit). Send a message such as \"continue\" to let it go on.")

    def _limit(self, message: str) -> str:
        """A limit ends the turn like a failure: a final Error (for consumers of errors), repeated by Done."""
        self.emit(Error(kind=ErrorKind.LIMIT, message=message, final=True))
        return message

    async def _sample(self) -> Reply | None:
        """One model request, retried while nothing of it was shown; None after a failure (already reported)."""
        attempt = 0
        while True:
            reply = Reply()
            try:
                await self._stream(reply)
            except asyncio.CancelledError:
                _uncancel()  # the clean-up below awaits; let its own timeouts work normally
                self._account(reply)
                await self._close_partial(reply, STOPPED_BY_USER)
                raise
            except Exception as exc:  # SDK errors, a cut-off stream, or a bug while assembling
                if not isinstance(exc, (anthropic.APIError, StreamCutOff, httpx2.TransportError)):
                    log.exception("unexpected failure while streaming a reply")
                self._account(reply)
                if (isinstance(exc, anthropic.BadRequestError) and self.thinking and not reply.emitted
                        and "thinking" in str(exc).lower()):
                    log.info("the model rejected adaptive thinking; retrying without it")
                    self.thinking = False
                    continue
                failure = describe_api_failure(exc, self.settings.model, mid_stream=reply.opened)
                wait_ok = (failure.retry_after or 0) <= MAX_SILENT_WAIT_S  # never a long silent wait
                if failure.transient and not reply.emitted and attempt < self.settings.api_max_retries and wait_ok:
                    wait = failure.retry_after or OWN_BACKOFF_S[min(attempt, len(OWN_BACKOFF_S) - 1)]
                    attempt += 1
                    self.emit(Error(kind=failure.kind, message=failure.retry_message(wait),
                                    retrying=True, retry_after=wait))
                    await asyncio.sleep(wait)
                    continue
                try:  # tools that already started had real effects: let them finish and report what happened
                    await self._finish_started_calls(reply)
                except asyncio.CancelledError:
                    _uncancel()
                    await self._close_partial(reply, STOPPED_BY_USER)
                    raise
                await self._close_partial(reply, "Not run: Claude's reply was cut off by an error.")
                self.failure = failure.message
                log.warning("the model request failed: %s", failure.detail or failure.message)
                self.emit(Error(kind=failure.kind, message=failure.message, retry_after=failure.retry_after,
                                final=True, detail=failure.detail))
                return None
            self._account(reply)
            append_assistant(self.messages, reply.content())
            return reply

    # ------------------------------------------------------------------ one streamed request
    def _request_args(self) -> dict[str, Any]:
        s = self.settings
        args: dict[str, Any] = {
            "model": s.model,
            "max_tokens": s.max_tokens,
            # The system prompt (and the tools before it) are one cached prefix; the top-level cache_control
            # additionally marks the newest block, so every tool step re-reads the conversation from cache.
            "system": [{"type": "text", "text": self.system, "cache_control": {"type": "ephemeral"}}],
            "cache_control": {"type": "ephemeral"},
            "tools": self.tools,
            "messages": self.messages,
            "stream": True,
        }
        if self.thinking:
            args["thinking"] = {"type": "adaptive", "display": "summarized"}
        return args

    async def _stream(self, reply: Reply) -> None:
        stream = await self.client.messages.create(**self._request_args())
        reply.opened = True
        try:
            async for event in stream:
                self._on_event(reply, event)
        finally:
            await stream.close()
        if not reply.finished or reply.stop_reason is None:
            raise StreamCutOff()

    def _say(self, reply: Reply, event: Event) -> None:
        reply.emitted = True
        self.emit(event)

    def _on_event(self, reply: Reply, event: Any) -> None:
        etype = event.type
        if etype == "message_start":
            u = event.message.usage
            reply.input_tokens = u.input_tokens or 0
            reply.output_tokens = u.output_tokens or 0
            reply.cache_write = u.cache_creation_input_tokens or 0
            reply.cache_read = u.cache_read_input_tokens or 0
        elif etype == "content_block_start":
            cb = event.content_block
            block = Block(type=cb.type)
            if cb.type == "tool_use":
                block.id, block.name = cb.id, cb.name
                if isinstance(getattr(cb, "input", None), dict):
                    block.partial_input = dict(cb.input)
                self._say(reply, ToolStarted(id=cb.id, name=cb.name))
            elif cb.type == "redacted_thinking":
                block.data = cb.data
            elif cb.type == "text" and cb.text:
                block.text = cb.text
                self._say(reply, TextDelta(text=cb.text))
            elif cb.type == "thinking" and cb.thinking:
                block.text = cb.thinking
                self._say(reply, ThinkingDelta(text=cb.thinking))
            reply.blocks[event.index] = block
        elif etype == "content_block_delta":
            block = reply.blocks.get(event.index)
            if block is None:
                return
            d = event.delta
            if d.type == "text_delta":
                block.text += d.text
                self._say(reply, TextDelta(text=d.text))
            elif d.type == "thinking_delta":
                block.text += d.thinking
                self._say(reply, ThinkingDelta(text=d.thinking))
            elif d.type == "signature_delta":
                block.signature += d.signature
            elif d.type == "input_json_delta" and d.partial_json:
                block.json += d.partial_json
                # Re-parse only after the input grew by a sixteenth: a large write_file arrives in thousands of
                # deltas, and parsing the whole prefix on each would cost quadratic time on the event loop.
                if len(block.json) - block.parsed_len > block.parsed_len // 16:
                    block.partial_input = parse_partial(block.json, block.partial_input)
                    block.parsed_len = len(block.json)
                self._say(reply, ToolInputDelta(id=block.id, name=block.name, partial_json=d.partial_json,
                                                input=block.partial_input))
        elif etype == "content_block_stop":
            block = reply.blocks.get(event.index)
            if block is None:
                return
            block.complete = True
            if block.type == "tool_use":
                self._start_call(reply, block)
        elif etype == "message_delta":
            reply.stop_reason = event.delta.stop_reason
            u = event.usage
            reply.output_tokens = u.output_tokens or reply.output_tokens
            if getattr(u, "input_tokens", None) is not None:
                reply.input_tokens = u.input_tokens
            if getattr(u, "cache_creation_input_tokens", None) is not None:
                reply.cache_write = u.cache_creation_input_tokens
            if getattr(u, "cache_read_input_tokens", None) is not None:
                reply.cache_read = u.cache_read_input_tokens
        elif etype == "message_stop":
            reply.finished = True

    # ------------------------------------------------------------------ tools
    def _start_call(self, reply: Reply, block: Block) -> None:
        """A tool_use block is complete: start the tool now, while the model may still be streaming."""
        call = ToolCall(id=block.id, name=block.name, input={})
        reply.calls.append(call)
        try:
            parsed = json.loads(block.json) if block.json.strip() else block.partial_input
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self._refuse(reply, call, "Not run: the tool input was not valid JSON (it may have been cut off by "
                                      "the output limit). Try again with a shorter input.")
            return
        call.input = parsed
        if self.steps >= self.settings.max_tool_steps:
            reply.limit_hit = True
            self._refuse(reply, call, f"Not run: the limit of {self.settings.max_tool_steps} tool steps for this "
                                      "turn was reached.")
            return
        self._say(reply, ToolRunning(id=call.id, name=call.name, input=parsed))
        call.started_at = time.monotonic()
        call.task = asyncio.create_task(self._execute(call), name=f"tool {call.name} {call.id}")

    def _refuse(self, reply: Reply, call: ToolCall, message: str) -> None:
        call.result = ToolResult(output=message, is_error=True)
        self._say(reply, ToolFinished(id=call.id, name=call.name, result=call.result, duration=0.0))

    async def _execute(self, call: ToolCall) -> ToolResult:
        started = time.monotonic()
        try:
            result = await self.run_tool(call.id, call.name, call.input)
        except Exception:  # run_tool reports failures as results; this is only a safety net
            log.exception("tool %s raised", call.name)
            result = ToolResult(output=f"The {call.name} tool failed unexpectedly.", is_error=True)
        self.emit(ToolFinished(id=call.id, name=call.name, result=result, duration=time.monotonic() - started))
        return result

    async def _answer_calls(self, reply: Reply) -> None:
        """Wait for every call of the reply and send the results back in call order."""
        tasks = [c.task for c in reply.calls if c.task is not None]
        try:
            if tasks:
                await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            _uncancel()
            await self._stop_calls(reply, STOPPED_BY_USER)
            self._append_results(reply)
            raise
        self._append_results(reply)

    def _append_results(self, reply: Reply) -> None:
        append_user(self.messages, self._results(reply))
        prune_images(self.messages)

    def _results(self, reply: Reply) -> list[dict[str, Any]]:
        out = []
        for c in reply.calls:
            r = c.result if c.result is not None else c.task.result()  # type: ignore[union-attr]
            out.append(tool_result_block(c.id, r.output, r.is_error, r.artifacts))
        return out

    @staticmethod
    async def _finish_started_calls(reply: Reply) -> None:
        """Wait for the calls already running (each has its own time limit)."""
        running = [c.task for c in reply.calls if c.task is not None and not c.task.done()]
        if running:
            await asyncio.wait(running)

    async def _stop_calls(self, reply: Reply, reason: str) -> None:
        """Cancel unfinished calls (their code is interrupted) and give each an error result."""
        pending = [c for c in reply.calls if c.task is not None and not c.task.done()]
        for c in pending:
            c.task.cancel()  # type: ignore[union-attr]
        if pending:
            await asyncio.wait([c.task for c in pending], timeout=3.0)  # type: ignore[misc]
        for c in reply.calls:
            if c.result is not None:
                continue
            task = c.task
            if task is not None and task.done() and not task.cancelled() and task.exception() is None:
                c.result = task.result()
                continue
            c.result = ToolResult(output=reason, is_error=True)
            self.emit(ToolFinished(id=c.id, name=c.name, result=c.result, duration=c.elapsed()))
        # tool_use blocks that never completed never ran: close their pending steps for the consumer
        for b in reply.blocks.values():
            if b.type == "tool_use" and not any(c.id == b.id for c in reply.calls):
                self.emit(ToolFinished(id=b.id, name=b.name, result=ToolResult(output=reason, is_error=True),
                                       duration=0.0))

    async def _close_partial(self, reply: Reply, reason: str) -> None:
        """Keep what was streamed (text, finished thinking, complete tool calls) and answer dangling calls."""
        await self._stop_calls(reply, reason)
        if append_assistant(self.messages, reply.content()) and reply.calls:
            self._append_results(reply)

    # ------------------------------------------------------------------ usage
    def _account(self, reply: Reply) -> None:
        if not (reply.input_tokens or reply.output_tokens or reply.cache_read or reply.cache_write):
            return
        u = usage_with_cost(self.settings.model, reply.input_tokens, reply.output_tokens, reply.cache_write,
                            reply.cache_read)
        self.turn_usage = self.turn_usage + u
        session_total = self.add_usage(u)
        self.emit(UsageUpdate(turn=u, session=session_total))


def _uncancel() -> None:
    """Mark the current task's cancellation as handled (we re-raise CancelledError after cleaning up)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
