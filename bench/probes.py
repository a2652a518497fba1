"""What the benchmark watches: each process's CPU and memory, and the services' own metrics."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """`pid` and every process below it (PostgreSQL's backends, say)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(child) for child in children)
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def _memory_mb(pids: list[int]) -> float:
    """Proportional set size: shared pages (PostgreSQL's buffers) counted once."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(match.group(1)) if match else 0
    return total / 1024


@dataclass
class ProcessWatch:
    """Samples named process trees every `interval` seconds in a thread: the peak memory,
    and the CPU used between `mark`s."""

    pids: dict[str, int]
    interval: float = 1.0
    peak_mb: dict[str, float] = field(default_factory=dict)
    _marks: dict[str, dict[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            # A copy: the benchmark adds and removes services while this thread reads.
            for name, pid in dict(self.pids).items():
                memory = _memory_mb(_children(pid))
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), memory)

    def mark(self, label: str) -> None:
        now = time.monotonic()
        self._marks[label] = {"at": now} | {
            name: _cpu_seconds(_children(pid)) for name, pid in dict(self.pids).items()
        }

    def cpu_seconds(self, names: tuple[str, ...]) -> float:
        """The CPU the named process trees have used so far, together."""
        return sum(_cpu_seconds(_children(self.pids[n])) for n in names if n in self.pids)

    def cpu_percent(self, start: str, end: str) -> dict[str, float]:
        """Each process tree's CPU between two marks, in % of one core."""
        a, b = self._marks[start], self._marks[end]
        seconds = b["at"] - a["at"]
        return {name: 100 * (b[name] - a[name]) / seconds for name in a.keys() & b.keys() - {"at"}}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def pid_of(var_dir: Path, name: str) -> int | None:
    try:
        return int((var_dir / "run" / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(http: httpx.AsyncClient, urls: list[str], name: str, **labels: str) -> float:
    total = 0.0
    for url in urls:
        total += metric_sum((await http.get(f"{url}/metrics")).text, name, **labels)
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
