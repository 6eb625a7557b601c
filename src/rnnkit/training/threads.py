"""PyTorch's CPU thread count, fitted to the cores other processes leave free.

Two OpenMP threads on a 2-core machine train the demo's character LSTM twice as fast as one while
the machine is quiet, and three times slower than one when another process keeps a core busy: each
parallel region waits for its slowest thread, and a descheduled thread holds up the rest
(``benchmarks/contention.py``: 48k → 14k chars/s with 2 threads, 26k → 25k with 1). So, unless the
user fixes ``--threads``, the trainer measures every few seconds how many of its cores the *other*
processes use — the busy time of those cores in ``/proc/stat`` less this process's own CPU time —
and uses the rest, at least one.

Linux only (``/proc/stat``); elsewhere the thread count stays PyTorch's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .callbacks import Callback

PROC_STAT = Path("/proc/stat")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def busy_seconds(cores: list[int]) -> float | None:
    """CPU seconds the ``cores`` have spent busy since boot (all processes), or None without /proc/stat."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{core}" for core in cores}
    total = 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            values = [int(v) for v in fields[1:9]]          # user nice system idle iowait irq softirq steal
            total += sum(values) - values[3] - values[4]
    return total / TICKS


def own_seconds() -> float:
    """CPU seconds this process has used (all its threads)."""
    times = os.times()
    return times.user + times.system


class ThreadGovernor(Callback):
    """Sets ``torch.set_num_threads`` to the cores left free by other processes (module docstring).

    Args:
        interval: seconds between measurements.
        busy: CPU seconds busy on our cores so far; own: this process's CPU seconds (both for tests).
    """

    def __init__(self, interval: float = 5.0, busy: Callable[[list[int]], float | None] = busy_seconds,
                 own: Callable[[], float] = own_seconds) -> None:
        self.interval = interval
        self.busy, self.own = busy, own
        self.cores = _cores()
        self.last: tuple[float, float, float] | None = None       # (wall, busy, own) at the last look
        self.threads = torch.get_num_threads()

    def _look(self) -> tuple[float, float, float] | None:
        busy = self.busy(self.cores)
        return None if busy is None else (time.monotonic(), busy, self.own())

    def on_start(self, trainer) -> None:
        self.last = self._look()
        if self.last is not None:          # a first short look, so the first steps start right
            time.sleep(0.2)
            self._update()

    def on_step(self, trainer) -> None:
        if self.last is not None and time.monotonic() - self.last[0] >= self.interval:
            self._update()

    def _update(self) -> None:
        now = self._look()
        wall, busy, own = (b - a for a, b in zip(self.last, now))
        self.last = now
        if wall <= 0:
            return
        others = max(0.0, (busy - own) / wall)                     # cores the other processes kept busy
        threads = max(1, min(len(self.cores), round(len(self.cores) - others)))
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
