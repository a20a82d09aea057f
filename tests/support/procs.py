"""The host's processes as /proc shows them: command lines and process trees, for the tests and benchmarks
that find what a server started and check what it left behind."""

from __future__ import annotations

import os
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


def process_tree(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process descending from them."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent_of[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
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

    @staticmethod
    def _stat(pid: str) -> tuple[int, str] | None:
        """(parent pid, start time) of a live process, None when it is gone."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return None
        return int(fields[1]), fields[19]

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.poll()
            time.sleep(0.05)

    def poll(self) -> None:
        parents: dict[int, tuple[int, str]] = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            stat = self._stat(pid)
            if stat is not None:
                parents[int(pid)] = stat
        known = {pid for pid, _ in self.seen} | {self.root}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, start) in parents.items():
                if pid not in known and ppid in known:
                    known.add(pid)
                    changed = True
                if pid in known and (pid, start) not in self.seen:
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    self.seen[(pid, start)] = f"{pid}: {cmdline[:160]}"

    def alive(self) -> list[str]:
        return [line for (pid, start), line in self.seen.items()
                if (stat := self._stat(str(pid))) is not None and stat[1] == start]

    def assert_all_gone(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + timeout
        while (left := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"{self.what} left processes behind (embedded server / sandbox not shut down):\n" + "\n".join(left)
