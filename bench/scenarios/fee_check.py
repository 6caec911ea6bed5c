"""Figure 2's fee rows: the added cost of the fee check (contract §9.2) in a
request. bench/fee_check.py measures it in a process of its own (it boots LNbits
in process)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import harness
from report import Report, Row

GOAL_P50_MS = 1.0


async def _fee_figures(work_dir: Path, calls: int) -> dict[str, Any]:
    """bench/fee_check.py's JSON."""
    folder = Path(tempfile.mkdtemp(prefix="fees-", dir=work_dir))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(harness.BENCH_DIR / "fee_check.py"),
        "--calls",
        str(calls),
        cwd=folder,
        env={**os.environ, "TMPDIR": str(folder)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode:
        raise RuntimeError(f"fee_check.py failed: {err.decode()[-800:]}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def _ms(summary: dict[str, float]) -> str:
    return (
        f"p50/95/99 {summary['p50_ms']:.2f}/{summary['p95_ms']:.2f}/"
        f"{summary['p99_ms']:.2f} ms (n={summary['n']})"
    )


async def run_fee_check(work_dir: Path, calls: int, report: Report) -> None:
    data = await _fee_figures(work_dir, calls)
    price, info = data["price"], data["get_info"]
    report.add(
        Row(
            "2",
            "fee check per make_invoice/pay_invoice (rpc.fees.price), in process",
            "sqlite",
            _ms(price),
            f"p50 < {GOAL_P50_MS:g} ms",
            "PASS" if price["p50_ms"] < GOAL_P50_MS else "FAIL",
            price,
        )
    )
    report.add(
        Row(
            "2",
            "  for scale: a whole get_info handled in process",
            "sqlite",
            _ms(info),
            data=info,
        )
    )
