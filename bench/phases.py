"""Running a phase: within the time budget (a phase that cannot fit is skipped,
one that overruns is stopped), its exception an ERROR row, the load average and
its duration noted in its rows, and with ``--profile`` sampled by py-spy."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report import Report

Phase = Callable[[], Awaitable[Any]]


@dataclass
class Budget:
    """The run's time budget (``--budget``) and where ``--profile`` and
    ``--turns`` write."""

    seconds: float = 250.0
    deadline: float = math.inf
    profile_dir: Path | None = None
    turns_dir: Path | None = None

    def start(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def spent(self, needs_s: float) -> bool:
        """Whether ``needs_s`` more seconds no longer fit."""
        return time.monotonic() + needs_s > self.deadline


BUDGET = Budget()


async def guarded(
    report: Report,
    section: str,
    name: str,
    db: str,
    phase: Phase,
    timeout_s: float,
    *,
    needs_s: float,
    pid: int | None = None,
) -> Any:
    """Runs one phase within ``timeout_s``, recording an exception as an ERROR
    row; skips it when the time budget cannot hold ``needs_s`` more seconds."""
    if BUDGET.spent(needs_s):
        report.skip(
            section,
            name,
            db,
            f"the time budget (--budget {BUDGET.seconds:.0f} s) is spent",
        )
        return None
    first = len(report.rows)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    # Never more than half a minute past the budget, whatever the phase's own bound.
    timeout_s = min(timeout_s, max(needs_s, BUDGET.deadline + 30 - started))
    try:
        async with profiled(pid, f"{db}-{name.replace(' ', '-')}"):
            return await asyncio.wait_for(phase(), timeout_s)
    except Exception as exc:
        report.error(section, name, db, exc)
        return None
    finally:
        for row in report.rows[first:]:
            row.data["loadavg_1m"] = [load_before, os.getloadavg()[0]]
            row.data["phase_s"] = time.monotonic() - started


@contextlib.asynccontextmanager
async def profiled(pid: int | None, name: str) -> AsyncIterator[None]:
    """With ``--profile DIR``: py-spy samples process ``pid`` meanwhile (raw
    collapsed stacks, per thread, into DIR/name.txt; see profile_summary.py)."""
    out_dir = BUDGET.profile_dir
    if out_dir is None or pid is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--threads",
        "--format",
        "raw",
        "--output",
        str(out_dir / f"{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            spy.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.wait(), 30)
        except asyncio.TimeoutError:
            spy.kill()
            await spy.wait()
