"""The host's processes as /proc shows them: command lines and process trees, for the tests and benchmarks
that find what a server started and check what it left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every process still there while /proc is read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(entry.name), argv


def _stat(pid: int | str) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19]
    except (OSError, IndexError, ValueError):
        return None


def _stats() -> dict[int, tuple[int, str]]:
    """(parent pid, start time) of every live process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            found[int(entry.name)] = stat
    return found


def process_tree(roots: Iterable[int], stats: dict[int, tuple[int, str]] | None = None) -> set[int]:
    """``roots`` and every process descending from them."""
    parent_of = {pid: ppid for pid, (ppid, _) in (_stats() if stats is None else stats).items()}
    tree = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent_of.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


class ProcessTree:
    """Every process that ever ran below ``root`` (an app or the CLI, its sandbox server, the sandboxes), seen by
    polling.

    A process is known by (pid, start time), so a recycled pid is not taken for a leftover. Polling while ``root``
    runs catches children before they could be re-parented when it exits."""

    def __init__(self, root: int, what: str = "the program") -> None:
        self.root = root
        self.what = what
        self.seen: dict[tuple[int, str], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.poll()
            time.sleep(0.05)

    def poll(self) -> None:
        stats = _stats()
        for pid in process_tree({pid for pid, _ in self.seen} | {self.root}, stats):
            start = stats[pid][1] if pid in stats else None
            if start is None or (pid, start) in self.seen:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            self.seen[(pid, start)] = f"{pid}: {cmdline[:160]}"

    def alive(self) -> list[str]:
        return [line for (pid, start), line in self.seen.items()
                if (stat := _stat(pid)) is not None and stat[1] == start]

    def assert_all_gone(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + timeout
        while (left := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"{self.what} left processes behind (embedded server / sandbox not shut down):\n" + "\n".join(left)
