"""Figure 7, LP payout schedules: payments made and time to pay the LPs, for 200
LPs and 50 cash-outs, under each schedule (bench/schedules.py, in an LNbits of
its own in a subprocess, SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import harness
from report import Report, Row
from sizes import Sizes


async def _schedules_process(work_dir: Path, sizes: Sizes) -> str:
    """Runs bench/schedules.py; its output."""
    log_path = work_dir / "schedules.log"
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(harness.BENCH_DIR / "schedules.py"),
            "--lps",
            str(sizes.schedule_lps),
            "--cash-outs",
            str(sizes.schedule_cash_outs),
            "--each-cash-outs",
            str(sizes.schedule_each_cash_outs),
            cwd=harness.REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await asyncio.wait_for(proc.wait(), 900)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                await proc.wait()
    return log_path.read_text(errors="replace")


def _row(result: dict[str, Any], wanted: int, lps: int) -> Row:
    runs = result["cash_outs"]
    scale = wanted / runs
    payments = result["payments"] * scale if result["schedule"] == "each" else None
    seconds = result["seconds"] * scale
    scaled = runs != wanted
    if payments is None:
        shown = f"{result['payments']:,} payments"
    else:
        shown = f"{payments:,.0f} payments ({result['payments']:,} for {runs})"
    timing = f"{seconds:.1f} s" + (f" (scaled from {runs} cash-outs)" if scaled else "")
    accrued = result["lp_sats_still_accrued"]
    tail = f"; {accrued:,} sats below the threshold, accrued" if accrued else ""
    wrong = result["lp_wallets_wrong"]
    return Row(
        "7",
        f"  {result['schedule']}",
        "sqlite",
        f"{shown}, {result['payments_per_cash_out']:.1f} per cash-out; {timing}" + tail,
        verdict="FAIL" if wrong else "",
        data={**result, "scaled_to_cash_outs": wanted, "lps": lps},
    )


async def bench_schedules(work_dir: Path, sizes: Sizes, report: Report) -> None:
    text = await _schedules_process(work_dir, sizes)
    line = next(
        (line for line in text.splitlines() if line.startswith("SCHEDULES ")), None
    )
    if line is None:
        tail = "\n".join(text.splitlines()[-20:])
        raise RuntimeError("the schedules run failed:\n" + tail)
    outcome = json.loads(line[len("SCHEDULES ") :])
    lps, wanted = outcome["lps"], outcome["cash_outs"]
    report.add(
        Row(
            "7",
            f"LP payout schedules, {lps} LPs, {wanted} cash-outs: payments, time",
            "sqlite",
            "the LPs' sats all paid (a threshold's remainder stays accrued)",
        )
    )
    for result in outcome["results"]:
        report.add(_row(result, wanted, lps))
