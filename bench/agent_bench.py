"""Agent benchmark: what the agent core adds on top of the model and the sandbox.

Everything runs locally: the Claude stand-in (tests/support/claude_standin.py) over real HTTP, reached by the
unmodified anthropic SDK, and the embedded local sandbox server (agent.localbox) through the e2b SDK.

Measures
  1. time to the first text event: AgentSession.run_turn vs. the bare SDK stream, same stand-in (goal: <= 5 ms
     added at p50);
  2. a turn whose model message holds 3 independent `sleep 1` run_command calls (goal: ~1 s of tool time, not 3);
  3. time from the first tool_use being complete (ToolRunning) to its result (ToolFinished) on a fresh session,
     with the sandbox created in parallel with the model request (what the agent does) vs. created only when the
     tool needs it (emulated by holding back provider.create until the tool starts) (goal: start fully hidden).

    .venv/bin/python -m bench.agent_bench [--rounds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402

from agent.config import Settings  # noqa: E402
from agent.events import TextDelta, ToolFinished, ToolRunning  # noqa: E402
from agent.sandbox import SandboxProvider  # noqa: E402
from agent.session import AgentSession  # noqa: E402
from tests.support.claude_standin import ClaudeStandin, Reply, Text, ToolUse, text_reply  # noqa: E402

FAKE_KEY = "test-key-bench"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def settings_for(standin: ClaudeStandin) -> Settings:
    return Settings.from_env().replace(anthropic_api_key=FAKE_KEY, anthropic_base_url=standin.base_url,
                                       sandbox="local", e2b_api_key=None, e2b_api_url=None, e2b_sandbox_url=None,
                                       e2b_domain=None, thinking=False)


class LazyProvider:
    """The real provider, except that create() waits until ``gate`` is set (a no-prewarm agent)."""

    def __init__(self, real: SandboxProvider) -> None:
        self._real = real
        self.gate = asyncio.Event()
        self.kind = real.kind

    async def create(self, metadata: dict[str, str]) -> Any:
        await self.gate.wait()
        return await self._real.create(metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


# --------------------------------------------------------------------------------------------------


async def first_text_latency(standin: ClaudeStandin, provider: SandboxProvider, rounds: int) -> dict[str, Any]:
    settings = settings_for(standin)
    client = anthropic.AsyncAnthropic(api_key=FAKE_KEY, base_url=standin.base_url, max_retries=0)
    session = AgentSession(settings, provider, session_tag="bench-ttft")
    bare: list[float] = []
    agent: list[float] = []
    try:
        # warm both paths (connection pool, imports, the session's sandbox)
        standin.push(text_reply("warm", chunks=2), text_reply("warm", chunks=2))
        async for _ in session.run_turn("warm up"):
            pass
        async with client.messages.stream(model=settings.model, max_tokens=100,
                                          messages=[{"role": "user", "content": "warm"}]) as st:
            async for _ in st:
                pass

        async def bare_once() -> float:
            standin.push(text_reply("Hello there, this is the reply.", chunks=5))
            t0 = time.perf_counter()
            first = None
            async with client.messages.stream(model=settings.model, max_tokens=100,
                                              messages=[{"role": "user", "content": "hi"}]) as st:
                async for ev in st:
                    if first is None and ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                        first = time.perf_counter() - t0
            return first

        async def agent_once() -> float:
            # a short conversation each time: measure the agent's own cost, not a 400-message transcript
            del session.messages[:]
            standin.push(text_reply("Hello there, this is the reply.", chunks=5))
            t0 = time.perf_counter()
            first = None
            async for ev in session.run_turn("hi"):
                if first is None and isinstance(ev, TextDelta):
                    first = time.perf_counter() - t0
            return first

        for i in range(rounds):  # alternate which path goes first, so drift in machine load hits both alike
            if i % 2:
                bare.append(await bare_once())
                agent.append(await agent_once())
            else:
                agent.append(await agent_once())
                bare.append(await bare_once())
    finally:
        await session.close()
        await client.close()
    return {"rounds": rounds, "bare_p50": pct(bare, 0.5), "bare_p90": pct(bare, 0.9),
            "agent_p50": pct(agent, 0.5), "agent_p90": pct(agent, 0.9),
            "added_p50": pct(agent, 0.5) - pct(bare, 0.5)}


async def three_tools(standin: ClaudeStandin, provider: SandboxProvider, rounds: int) -> dict[str, Any]:
    settings = settings_for(standin)
    spans, turns = [], []
    for r in range(rounds):
        session = AgentSession(settings, provider, session_tag=f"bench-3tools-{r}")
        try:
            await session.list_files()  # the sandbox is up: measure tool concurrency, not sandbox start
            calls = tuple(ToolUse("run_command", {"command": f"sleep 1; echo {i}"}) for i in range(3))
            standin.push(Reply((Text("Running three commands."), *calls)), text_reply("Done."))
            running: dict[str, float] = {}
            finished: dict[str, float] = {}
            t0 = time.perf_counter()
            async for ev in session.run_turn("run three sleeps"):
                if isinstance(ev, ToolRunning):
                    running[ev.id] = time.perf_counter()
                elif isinstance(ev, ToolFinished):
                    finished[ev.id] = time.perf_counter()
            turns.append(time.perf_counter() - t0)
            assert len(finished) == 3, f"expected 3 finished tools, got {len(finished)}"
            spans.append(max(finished.values()) - min(running.values()))
        finally:
            await session.close()
    return {"rounds": rounds, "tool_span_p50": pct(spans, 0.5), "tool_span_max": max(spans),
            "turn_p50": pct(turns, 0.5)}


async def first_tool_result(standin: ClaudeStandin, provider: SandboxProvider, rounds: int,
                            prewarm: bool, model_delay: float, pool: str) -> dict[str, Any]:
    """Fresh session per round; the model 'thinks' for ``model_delay`` s of streamed text, then calls a tool.

    ``pool="warm"``: wait until the local server's warm jail is back (creation costs milliseconds);
    ``pool="cold"``: take the warm jail first, so the session's sandbox boots from scratch (as a slow cloud
    start would be).
    """
    settings = settings_for(standin)
    waits = []
    for r in range(rounds):
        lazy = None if prewarm else LazyProvider(provider)
        session = AgentSession(settings, lazy or provider, session_tag=f"bench-first-tool-{r}")
        hog = None
        try:
            await asyncio.sleep(3.0)  # let the server refill its warm pool
            if pool == "cold":
                hog = await provider.create({"session": "bench-hog"})
            chunks = 8
            standin.push(Reply((Text("Let me check that in the sandbox for you.", chunks=chunks,
                                     delay=model_delay / chunks),
                                ToolUse("run_command", {"command": "echo ready"}))),
                         text_reply("Done."))
            running_at = finished_at = None
            async for ev in session.run_turn("check something"):
                if isinstance(ev, ToolRunning) and running_at is None:
                    running_at = time.perf_counter()
                    if lazy is not None:
                        lazy.gate.set()
                elif isinstance(ev, ToolFinished) and finished_at is None:
                    finished_at = time.perf_counter()
            waits.append(finished_at - running_at)
        finally:
            await session.close()
            if hog is not None:
                await hog.kill()
    return {"rounds": rounds, "prewarm": prewarm, "pool": pool, "model_delay_s": model_delay,
            "tool_result_p50": pct(waits, 0.5), "tool_result_max": max(waits)}


async def create_cost(provider: SandboxProvider, rounds: int, pool: str) -> float:
    """p50 of provider.create() with the warm jail available, or taken ("cold")."""
    times = []
    for _ in range(rounds):
        await asyncio.sleep(3.0)
        hog = await provider.create({"session": "bench-hog"}) if pool == "cold" else None
        t0 = time.perf_counter()
        sbx = await provider.create({"session": "bench-create"})
        times.append(time.perf_counter() - t0)
        await sbx.kill()
        if hog is not None:
            await hog.kill()
    return pct(times, 0.5)


async def main_async(rounds: int, text_rounds: int) -> dict[str, Any]:
    standin = ClaudeStandin().start()
    provider = SandboxProvider.from_settings(settings_for(standin))
    try:
        # start the embedded server before timing anything
        warm = await provider.create({"session": "bench-warm"})
        await warm.kill()
        results = {
            "first_text": await first_text_latency(standin, provider, text_rounds),
            "three_tools": await three_tools(standin, provider, max(3, rounds // 10)),
        }
        n = max(3, rounds // 6)
        for pool, delay in (("warm", 0.8), ("cold", 0.8), ("cold", 3.0)):
            results[f"create_{pool}"] = results.get(f"create_{pool}") or await create_cost(provider, n, pool)
            for prewarm in (True, False):
                key = f"first_tool_{'prewarm' if prewarm else 'lazy'}_{pool}_{delay}"
                results[key] = await first_tool_result(standin, provider, n, prewarm, delay, pool)
    finally:
        provider.close()
        standin.stop()
    return results


def report(r: dict[str, Any]) -> str:
    ft, tt = r["first_text"], r["three_tools"]
    rows = [
        "| measure | result | goal |",
        "|---|---|---|",
        f"| first text event, bare SDK (p50 / p90, {ft['rounds']} rounds) | {ms(ft['bare_p50'])} / {ms(ft['bare_p90'])} | |",
        f"| first text event, AgentSession (p50 / p90) | {ms(ft['agent_p50'])} / {ms(ft['agent_p90'])} | |",
        f"| added by the agent (p50) | {ms(ft['added_p50'])} | <= 5 ms |",
        f"| 3 x `sleep 1` tool calls in one message: tool time p50 / max ({tt['rounds']} turns) | "
        f"{tt['tool_span_p50']:.2f} s / {tt['tool_span_max']:.2f} s | ~1 s, not 3 s |",
        f"| same, whole turn p50 | {tt['turn_p50']:.2f} s | |",
    ]
    for pool in ("warm", "cold"):
        rows.append(f"| provider.create() alone, {pool} pool (p50) | {ms(r[f'create_{pool}'])} | |")
    for pool, delay in (("warm", 0.8), ("cold", 0.8), ("cold", 3.0)):
        pw, lz = r[f"first_tool_prewarm_{pool}_{delay}"], r[f"first_tool_lazy_{pool}_{delay}"]
        rows += [
            f"| first tool_use complete -> result, {pool} pool, sandbox created in parallel with the model "
            f"(p50 / max, {pw['rounds']} fresh sessions, model streams {pw['model_delay_s']} s first) | "
            f"{ms(pw['tool_result_p50'])} / {ms(pw['tool_result_max'])} | start fully hidden |",
            f"| same, sandbox created only when the tool needs it (p50 / max) | {ms(lz['tool_result_p50'])} / "
            f"{ms(lz['tool_result_max'])} | (comparison) |",
        ]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30, help="scales the sandbox measures (rounds/6 sessions each)")
    ap.add_argument("--text-rounds", type=int, default=200, help="rounds of the first-text-event measure")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = ap.parse_args()
    results = asyncio.run(main_async(args.rounds, args.text_rounds))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
