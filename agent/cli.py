"""``python -m agent``: the agent in a terminal.

    python -m agent "make a bar chart of 3 random numbers"      # one turn, streamed
    python -m agent                                             # interactive chat (Ctrl-D or Ctrl-C to leave)
    python -m agent --json "..."                                # one JSON event per line (Event.to_dict())
    python -m agent --out charts "..."                          # save charts and long outputs into ./charts

Charts, tables and outputs too long for Claude are saved under ``./agent-outputs/<date-time>/`` (or ``--out``);
plain mode prints each file's path, and ``--json`` adds a ``saved`` list of paths to each ``tool_finished`` event.

Exit status 0 when the turn(s) ended normally; otherwise non-zero with one plain line on stderr saying why
(1: the turn failed, 2: configuration problem such as a missing key or a broken .env line, 130: stopped with
Ctrl-C). Plain mode also puts a short line on stderr for each announced retry, and a warning for a model the
installed SDK lists as deprecated. The sandbox and the embedded local sandbox server are always shut down on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TextIO

from agent.config import Settings
from agent.events import (
    Artifact,
    Done,
    Error,
    Event,
    SandboxStatus,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolOutput,
    ToolRunning,
)
from agent.presenter import TURN_FAILED, duration, end_note, file_extension, in_terminal, size, step_title

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
FAILED_ENDINGS = (StopReason.ERROR, StopReason.TOOL_LIMIT)  # exit status 1, the sentence on stderr
CLI_SUMMARY_CHARS = 100  # a terminal line has room for more of the command than a step title


class _Outcome:
    """How the last turn ended: the one line to print on failure and the exit status."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.status = EXIT_OK


class PlainPrinter:
    """Readable terminal output: the answer's text as it streams, tool steps as short indented lines.

    Retry notices go to ``err`` (they are about the connection, not the answer). A tool result that was cut for
    the model and whose output was not streamed live (read_file) is saved whole to a file under ``outputs_dir``
    and its path printed: the person can read all of it without flooding the terminal. Each artifact (a chart,
    an SVG, an HTML table) is saved there too, as ``<call id>-<n>.<ext>``, and its path printed in its tag.
    """

    def __init__(self, out: TextIO, err: TextIO | None = None, outputs_dir: Path | None = None) -> None:
        self.out = out
        self.err = err if err is not None else sys.stderr
        self.outputs_dir = outputs_dir
        self.at_line_start = True
        self.in_thinking = False
        self.color = out.isatty()
        self.streamed: set[str] = set()  # tool call ids whose output was printed live
        self.inputs: dict[str, dict] = {}  # tool call id -> its input, for the finished line's title

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.at_line_start = text.endswith("\n")
            self.out.flush()

    def _line(self, text: str) -> None:
        if not self.at_line_start:
            self._write("\n")
        self._write(text + "\n")

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def show(self, ev: Event) -> None:
        if not isinstance(ev, ThinkingDelta) and self.in_thinking:
            self.in_thinking = False
            self._line("")
        if isinstance(ev, TextDelta):
            self._write(ev.text)
        elif isinstance(ev, ThinkingDelta):
            if not self.in_thinking:
                self.in_thinking = True
                self._line(self._dim("(thinking)"))
            self._write(self._dim(ev.text))
        elif isinstance(ev, ToolRunning):  # (ToolStarted is not printed: the summary needs the full input)
            self.inputs[ev.id] = ev.input
            self._line(f"▶ {step_title(ev.name, ev.input, finished=False, limit=CLI_SUMMARY_CHARS)}")
        elif isinstance(ev, ToolOutput):
            self.streamed.add(ev.id)
            for line in ev.text.splitlines() or [""]:
                self._line(self._dim(f"  │ {line}"))
        elif isinstance(ev, ToolFinished):
            r = ev.result
            mark = "✗" if r.is_error else "✓"
            arts = "".join(f" [{a.mime}, {_size(a.data)}{self._save_artifact(ev.id, i, a)}]"
                           for i, a in enumerate(r.artifacts, 1))
            first = r.output.strip().splitlines()[-1] if r.is_error and r.output.strip() else ""
            tail = f" — {first[:200]}" if first else ""
            title = step_title(ev.name, self.inputs.pop(ev.id, {}), finished=True, limit=CLI_SUMMARY_CHARS)
            self._line(f"{mark} {title} ({duration(ev.duration)}){arts}{tail}")
            if r.full_output is not None and r.full_output != r.output and ev.id not in self.streamed:
                self._line(self._dim(f"  │ {self._save_full(ev.id, r.full_output)}"))
        elif isinstance(ev, SandboxStatus):
            if ev.state == "restarted":
                self._line(self._dim(f"[sandbox restarted: {ev.message}]"))
            elif ev.state == "waiting":  # a provider with a waiting line: the place in line, as it changes
                self._line(self._dim(f"[{ev.message}]"))
        elif isinstance(ev, Error) and ev.retrying:
            if not self.at_line_start:
                self._write("\n")
            self.err.write(ev.message.replace("\n", " ").strip() + "\n")
            self.err.flush()
        elif isinstance(ev, Error) and ev.final and ev.detail:  # the terminal is the operator's: say the detail
            self._line(self._dim(f"[details: {ev.detail}]"))
        elif isinstance(ev, Error) and not ev.final:  # the turn goes on (sandbox trouble); Done words the ending
            self._line(self._dim(f"[{ev.message}]"))
        elif isinstance(ev, Done):
            if ev.stop_reason not in FAILED_ENDINGS and ev.stop_reason != StopReason.CANCELLED and end_note(ev):
                self._line(self._dim(f"[{in_terminal(end_note(ev))}]"))  # e.g. cut off at the output limit: said once, here
            if not self.at_line_start:
                self._write("\n")

    def _folder(self) -> Path:
        """The folder for saved outputs and artifacts, made on first use (``default_outputs_dir()`` if none given)."""
        if self.outputs_dir is None:
            self.outputs_dir = default_outputs_dir()
        self.outputs_dir = self.outputs_dir.absolute()  # printed paths work from any folder
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        return self.outputs_dir

    def save_files(self, ev: ToolFinished) -> list[str]:
        """Save a finished call's artifacts and its uncut output (if Claude got a shortened copy); their paths."""
        saved = [self._save_artifact(ev.id, i, a).removeprefix(" → ") for i, a in enumerate(ev.result.artifacts, 1)]
        r = ev.result
        if r.full_output is not None and r.full_output != r.output:
            with contextlib.suppress(OSError):
                path = self._folder() / f"{_file_stem(ev.id)}.txt"
                path.write_text(r.full_output, encoding="utf-8", errors="replace")
                saved.append(str(path))
        return [p for p in saved if p and not p.startswith(",")]

    def _save_artifact(self, call_id: str, index: int, artifact: Artifact) -> str:
        """Write one artifact (a chart, an SVG, an HTML table, ...) to a file; the words to add to its tag.

        A terminal cannot show a PNG, so without a file the chart the tool line announces would be lost.
        """
        try:
            path = self._folder() / f"{_file_stem(call_id)}-{index}{file_extension(artifact.mime, artifact.name)}"
            if isinstance(artifact.data, bytes):
                path.write_bytes(artifact.data)
            else:
                path.write_text(artifact.data, encoding="utf-8", errors="replace")
        except OSError:
            return ", could not be saved"
        return f" → {path}"

    def _save_full(self, call_id: str, text: str) -> str:
        """Write the uncut output to a file; the words to print about it."""
        shown = _size(text.encode("utf-8", "replace"))
        try:
            path = self._folder() / f"{_file_stem(call_id)}.txt"
            path.write_text(text, encoding="utf-8", errors="replace")
        except OSError:
            return f"(the full output, {shown}, was shortened for Claude and could not be saved)"
        return f"(Claude got a shortened copy; the full output, {shown}, is in {path})"


def deprecation_warning(model: str) -> str | None:
    """One plain line if the installed anthropic SDK lists ``model`` as deprecated (its own warning is muted)."""
    tables: list[dict] = []
    try:
        from anthropic.resources.messages.messages import DEPRECATED_MODELS as table
        tables.append(dict(table))
    except Exception:
        pass
    try:
        from anthropic._data import DEPRECATED_MODELS as data_table
        tables.append(dict(data_table))
    except Exception:
        pass
    for table in tables:
        if model in table:
            return (f"Warning: the model {model} is deprecated (end of life: {table[model]}); "
                    "pick a current one with --model.")
    return None


def default_outputs_dir() -> Path:
    """``./agent-outputs/<date-time>``: next to where the CLI was started, one folder per run."""
    return Path.cwd() / "agent-outputs" / time.strftime("%Y%m%d-%H%M%S")


def _file_stem(call_id: str) -> str:
    """A tool call id made safe as a file name."""
    return "".join(c for c in call_id if c.isalnum() or c in "_-") or "tool"


def _size(data: bytes | str) -> str:
    return size(len(data))


async def _run_turn(session, prompt: str, show, outcome: _Outcome) -> None:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, session.cancel)
    except (NotImplementedError, RuntimeError):
        pass
    outcome.error, outcome.status = None, EXIT_OK
    try:
        async for ev in session.run_turn(prompt):
            show(ev)
            if isinstance(ev, Done):
                if ev.stop_reason == StopReason.CANCELLED:
                    outcome.status, outcome.error = EXIT_INTERRUPTED, in_terminal(end_note(ev))
                elif ev.stop_reason in FAILED_ENDINGS:
                    outcome.status, outcome.error = EXIT_FAILED, in_terminal(end_note(ev)) or TURN_FAILED
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError):
            pass


async def _close(session, provider) -> None:
    try:
        await asyncio.wait_for(session.close(), 30)
    except BaseException:
        pass
    await asyncio.to_thread(provider.close)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m agent", description="Claude coding agent with a sandbox.")
    p.add_argument("prompt", nargs="*", help="the request; none starts an interactive chat")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument("--model", help="model id (default: ANTHROPIC_MODEL or the built-in default)")
    p.add_argument("--sandbox", choices=("local", "e2b"), help="sandbox provider (default: auto)")
    p.add_argument("--no-thinking", action="store_true", help="turn adaptive thinking off")
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="folder for saved charts and long outputs (default: ./agent-outputs/<date-time>)")
    p.add_argument("--verbose", action="store_true", help="log diagnostics to stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        warnings.simplefilter("ignore")

    def fail(message: str, status: int) -> int:
        sys.stderr.write(message.replace("\n", " ").strip() + "\n")
        sys.stderr.flush()
        return status

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        return fail(f"Configuration problem: {exc}", EXIT_CONFIG)
    changes = {}
    if args.model:
        changes["model"] = args.model
    if args.sandbox:
        changes["sandbox"] = args.sandbox
    if args.no_thinking:
        changes["thinking"] = False
    settings = settings.replace(**changes)
    missing = settings.missing_key_message("cli")
    if missing:
        return fail(missing, EXIT_CONFIG)
    deprecated = deprecation_warning(settings.model)
    if deprecated:
        sys.stderr.write(deprecated + "\n")
        sys.stderr.flush()

    from agent.sandbox import SandboxProvider
    from agent.session import AgentSession

    provider = SandboxProvider.from_settings(settings)
    session = AgentSession(settings, provider, session_tag="cli")
    outcome = _Outcome()
    printer = PlainPrinter(sys.stdout, sys.stderr, outputs_dir=args.out)
    if args.json:
        def show(ev: Event) -> None:
            data = ev.to_dict()
            if isinstance(ev, ToolFinished):
                data["saved"] = printer.save_files(ev)
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    else:
        show = printer.show

    interactive = not args.prompt
    with asyncio.Runner() as runner:
        try:
            if interactive:
                runner.run(_chat(session, show, outcome, prompt="" if args.json else "you> "))
            else:
                runner.run(_run_turn(session, " ".join(args.prompt), show, outcome))
        except KeyboardInterrupt:  # Ctrl-C outside a turn: leave quietly (a chat), or say it stopped (one shot)
            if interactive:
                outcome.status, outcome.error = EXIT_OK, None
            else:
                outcome.status, outcome.error = EXIT_INTERRUPTED, "Stopped."
        finally:
            try:
                runner.run(_close(session, provider))
            except BaseException:
                provider.close()
    if outcome.status != EXIT_OK:
        return fail(outcome.error or "The turn failed.", outcome.status)
    return EXIT_OK


async def _chat(session, show, outcome: _Outcome, prompt: str) -> None:
    """Multi-turn chat on stdin until EOF; a failed or stopped turn does not end the chat.

    Lines are read by a daemon thread so the event loop keeps running while the person types (the sandbox
    is being pre-warmed meanwhile) and so a pending read never blocks the exit.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    want_line = threading.Event()
    show_prompt = bool(prompt) and sys.stdin.isatty()

    def reader() -> None:
        while True:
            want_line.wait()
            want_line.clear()
            try:
                line: str | None = input(prompt if show_prompt else "")
            except (EOFError, OSError, ValueError):
                line = None
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=reader, name="stdin reader", daemon=True).start()
    await session.prewarm()
    while True:
        want_line.set()
        line = await lines.get()
        if line is None:
            if show_prompt:
                print()
            outcome.status, outcome.error = EXIT_OK, None
            return
        if not line.strip():
            continue
        await _run_turn(session, line, show, outcome)
        if outcome.status != EXIT_OK and outcome.error:
            print(f"[{outcome.error}]", file=sys.stderr if outcome.status != EXIT_INTERRUPTED else sys.stdout,
                  flush=True)
        outcome.status, outcome.error = EXIT_OK, None
