"""Figure 4, the floor: bare LNbits internal payments (bench/floor.py, in an
LNbits of its own without the extension) and the pipeline's legs/s as a share
of them. The floor runs half just before and half just after the throughput
run, so that a change of load on this shared machine hits both alike."""

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
from phases import profiled
from report import Report, Row
from sizes import Sizes

# The pipeline's legs/s as a share of bare payments/s: above the floor on
# PostgreSQL, close to it on SQLite (one writer at a time).
PIPELINE_GOAL = {"postgres": 1.0, "sqlite": 0.85}


async def _floor_process(
    work_dir: Path,
    database_url: str | None,
    payments: int,
    db: str,
    owner_wallets: int,
) -> Path:
    """Runs bench/floor.py in a new LNbits home; the path of its log."""
    home = harness.lnbits_home(
        work_dir, f"floor-{db}-{owner_wallets}", with_extension=False
    )
    env = harness.lnbits_env(home, port=harness.free_port(), database_url=database_url)
    log_path = home / "floor.log"
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(harness.BENCH_DIR / "floor.py"),
            "--payments",
            str(payments),
            "--owner-wallets",
            str(owner_wallets),
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            async with profiled(proc.pid, f"{db}-floor-process"):
                await asyncio.wait_for(proc.wait(), 300)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                await proc.wait()
    return log_path


async def bench_floor(
    work_dir: Path,
    database_url: str | None,
    payments: int,
    db: str,
    owner_wallets: int = 0,
) -> dict[str, Any]:
    """``payments`` bare payments in a row: their count, seconds and rate (with
    ``owner_wallets``, between wallets of one owner who has that many)."""
    log_path = await _floor_process(work_dir, database_url, payments, db, owner_wallets)
    text = log_path.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("FLOOR "):
            return dict(json.loads(line[len("FLOOR ") :]))
    raise RuntimeError("the floor run failed:\n" + "\n".join(text.splitlines()[-20:]))


async def floor_run(
    work_dir: Path,
    server_url: str | None,
    payments: int,
    db: str,
    owner_wallets: int = 0,
) -> dict[str, Any]:
    """The floor on SQLite, or on a fresh database of the PostgreSQL server."""
    if server_url:
        async with harness.fresh_postgres_database(server_url, "floor") as url:
            return await bench_floor(work_dir, url, payments, db, owner_wallets)
    return await bench_floor(work_dir, None, payments, db, owner_wallets)


def planned_payments(sizes: Sizes) -> int:
    """As many bare payments as the throughput run should pay legs, at most
    ``floor_max_payments``."""
    return min(
        sizes.throughput_machines * sizes.throughput_tx_each * (4 + sizes.lps),
        sizes.floor_max_payments,
    )


def report_floor(
    report: Report,
    db: str,
    before: dict[str, Any],
    after: dict[str, Any],
    throughput: dict[str, Any],
) -> None:
    """The floor's two halves as one rate, the pipeline's share of it, and
    LNbits' CPU time per bare payment and per leg (``cpu.py``)."""
    count = before["payments"] + after["payments"]
    seconds = before["seconds"] + after["seconds"]
    rate = count / seconds
    ratio = throughput["legs_per_s"] / rate
    goal = PIPELINE_GOAL.get(db, 1.0)
    cpu_s = before["cpu_s"] + after["cpu_s"]
    per_payment_ms = cpu_s / count * 1000
    report.add(
        Row(
            "4",
            f"bare LNbits payments, {count} in a row",
            db,
            f"{rate:.1f} payments/s ({before['payments_per_s']:.1f} before, "
            f"{after['payments_per_s']:.1f} after); LNbits on the CPU "
            f"{per_payment_ms:.1f} ms a payment, {cpu_s / seconds:.0%} busy",
            data={
                "payments_per_s": rate,
                "cpu_ms_per_payment": per_payment_ms,
                "busy": cpu_s / seconds,
                "before": before,
                "after": after,
            },
        )
    )
    report.add(
        Row(
            "4",
            "  pipeline legs/s ÷ bare payments/s",
            db,
            # Three decimals: at two, 0.996 would print as a failing 1.00.
            f"{ratio:.3f} ({throughput['legs_per_s']:.1f} ÷ {rate:.1f})",
            f">= {goal}",
            "PASS" if ratio >= goal else "FAIL",
            {"ratio": ratio, "pipeline_legs_per_s": throughput["legs_per_s"]},
        )
    )
    legs, window = throughput["legs_paid"], throughput["window_s"]
    leg_cpu_s = throughput.get("cpu_s")
    if leg_cpu_s is None or not legs or window <= 0:
        return
    per_leg_ms = leg_cpu_s / legs * 1000
    report.add(
        Row(
            "4",
            "  LNbits' CPU per leg ÷ per bare payment",
            db,
            f"{per_leg_ms / per_payment_ms:.2f} ({per_leg_ms:.1f} ÷ "
            f"{per_payment_ms:.1f} ms; the pipeline's window {leg_cpu_s / window:.0%}"
            " busy)",
            data={
                "ratio": per_leg_ms / per_payment_ms,
                "cpu_ms_per_leg": per_leg_ms,
                "busy": leg_cpu_s / window,
            },
        )
    )
