"""How busy a process kept the CPU: its CPU time (all its threads), sampled.

A figure made of one event loop's work cannot beat the CPU that loop gets: a
floor that keeps LNbits on the CPU 95 % of the time can be beaten by at most 5 %
by running things side by side, and beyond that only by doing less. Beside the
floor's and the pipeline's rates the benchmark therefore reports LNbits' CPU
time per payment and per leg, which the machine's load moves far less than the
rates (figure 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from bisect import bisect_left
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command's name
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


class CpuSampler:
    """Samples a process's CPU time against ``time.time()`` (the clock the
    benchmark's leg clock uses) while running."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CpuSampler:
        self._note()  # a sample before anything the caller times from now
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._note()

    async def _sample(self) -> None:
        while True:
            self._note()
            await asyncio.sleep(self.every_s)

    def _note(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            self.samples.append((time.time(), cpu_seconds(self.pid)))

    def _at(self, at: float) -> float | None:
        """CPU time at ``at``, between the samples around it."""
        times = [t for t, _ in self.samples]
        i = bisect_left(times, at)
        if i == 0 or i == len(times):
            return None
        (t0, c0), (t1, c1) = self.samples[i - 1], self.samples[i]
        return c0 + (c1 - c0) * (at - t0) / (t1 - t0) if t1 > t0 else c0

    def between(self, start: float, end: float) -> float | None:
        """CPU seconds the process used from ``start`` to ``end``."""
        first, last = self._at(start), self._at(end)
        if first is None or last is None:
            return None
        return last - first
