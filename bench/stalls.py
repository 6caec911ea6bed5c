"""How late LNbits' event loop runs what it is given, and what it runs meanwhile.

Installed by ``bench/turns.py`` in the LNbits process (``run.py --turns DIR``).
A thread hands the loop an empty callback every ``EVERY_S`` and times how long
the loop takes to run it: the wait any ready task has at that moment (a request's
handler, a turn handed over by a ``Database`` lock). When the callback has not
run after ``STALL_S``, the thread reads the loop thread's stack once: what is
running, not waiting, at that moment. Stalls are grouped by the nearest frames of
LNbits or this extension on that stack, so a reader sees which code holds the
loop, which neither the turn counts (they time the databases) nor a CPU sampler
over all threads (the loop's share among aiosqlite's threads) shows.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from types import FrameType

EVERY_S = 0.01
STALL_S = 0.05
DEPTH = 4
TOP = 25
_OWN = ("satmachineadmin/", "lnbits/")
_PLUMBING = ("/turns.py", "/stalls.py")


def _where(frame: FrameType | None) -> str:
    """The innermost frames of LNbits or the extension, innermost first."""
    names: list[str] = []
    while frame is not None and len(names) < DEPTH:
        path = frame.f_code.co_filename
        if any(part in path for part in _OWN) and not path.endswith(_PLUMBING):
            short = "/".join(Path(path).parts[-2:])
            names.append(f"{short}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(names) or "(outside LNbits: libraries, the loop itself)"


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class LoopStalls:
    def __init__(self) -> None:
        self.lags: list[float] = []
        # where -> [stalls, seconds stalled, longest]
        self.stalls: dict[str, list[float]] = {}
        self._started = False

    def watch(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        """Starts watching ``loop``, which runs in thread ``thread_id`` (once)."""
        if self._started:
            return
        self._started = True
        threading.Thread(
            target=self._watch, args=(loop, thread_id), daemon=True
        ).start()

    def _watch(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        while not loop.is_closed():
            ran = threading.Event()
            sent = time.perf_counter()
            try:
                loop.call_soon_threadsafe(ran.set)
            except RuntimeError:  # closed meanwhile
                return
            where = None
            if not ran.wait(STALL_S):
                where = _where(sys._current_frames().get(thread_id))
                ran.wait()
            lag = time.perf_counter() - sent
            self.lags.append(lag)
            if where is not None:
                entry = self.stalls.setdefault(where, [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += lag
                entry[2] = max(entry[2], lag)
            time.sleep(EVERY_S)

    def lines(self) -> list[str]:
        lags = sorted(self.lags)
        stalled = sum(entry[1] for entry in self.stalls.values())
        lines = [
            "",
            f"the event loop: {len(lags)} probes, lag p50/p95/p99/max "
            + "/".join(
                f"{_percentile(lags, share) * 1000:.1f}" for share in (0.5, 0.95, 0.99)
            )
            + f"/{(lags[-1] if lags else 0) * 1000:.1f} ms; "
            f"{sum(entry[0] for entry in self.stalls.values()):.0f} stalls over "
            f"{STALL_S * 1000:.0f} ms, {stalled:.1f} s in all; by what was running "
            "50 ms into each:",
            f"{'stalls':>7} {'stalled s':>9} {'longest ms':>10}  running",
        ]
        rows = sorted(self.stalls.items(), key=lambda item: -item[1][1])[:TOP]
        for where, (count, seconds, longest) in rows:
            lines.append(f"{count:7.0f} {seconds:9.1f} {longest * 1000:10.1f}  {where}")
        return lines
