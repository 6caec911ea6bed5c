"""Figures 1 and 5, CPU only: NIP-44 against LNbits' own, and the distribution
arithmetic's growth with the number of LPs. bench/micro.py measures them in a
process of its own (LNbits' NIP-44 class wants LNbits' settings)."""

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
from sizes import Sizes


async def _micro_figures(work_dir: Path, seconds: float) -> dict[str, Any]:
    """bench/micro.py's JSON."""
    folder = Path(tempfile.mkdtemp(prefix="micro-", dir=work_dir))
    env = {**os.environ, "LNBITS_DATA_FOLDER": str(folder)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(harness.BENCH_DIR / "micro.py"),
        "--seconds",
        str(seconds),
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode:
        raise RuntimeError(f"micro.py failed: {err.decode()[-800:]}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def _nip44_rows(nip: dict[str, Any], report: Report) -> None:
    rates, samples = nip["ops_per_s"], nip["samples"]

    def rate_row(name: str, key: str) -> None:
        report.add(
            Row(
                "1",
                name,
                "-",
                f"{rates[key]:,.0f} ops/s",
                data={"samples": samples[key]},
            )
        )

    rate_row("NIP-44 enc+dec 1 KiB, ours (cached key)", "ours")
    rate_row("NIP-44 enc+dec 1 KiB, LNbits' NIP44Encryption", "lnbits")
    report.add(
        Row(
            "1",
            "  ours ÷ LNbits",
            "-",
            f"{nip['ratio']:.2f}x",
            ">= 1.5x",
            "PASS" if nip["ratio"] >= 1.5 else "FAIL",
            {"ratio": nip["ratio"]},
        )
    )
    rate_row("  ours with ECDH per call (no cache)", "ours_uncached")


def _distribution_rows(dist: dict[str, Any], report: Report) -> None:
    per_lp = {n: dist[n]["us_per_lp"] for n in dist}
    growth = per_lp["100000"] / per_lp["1000"]
    for n, values in dist.items():
        report.add(
            Row(
                "5",
                f"distribution math, {int(n):,} LPs",
                "-",
                f"{values['us_per_settlement']:,.1f} µs/settlement "
                f"({values['us_per_lp']:.2f} µs/LP)",
                data=values,
            )
        )
    report.add(
        Row(
            "5",
            "  µs/LP at 100 000 ÷ at 1 000",
            "-",
            f"{growth:.2f} (1.0 = exactly linear)",
            "~linear (< 2)",
            "PASS" if growth < 2 else "FAIL",
            {"growth": growth},
        )
    )


async def run_micro(work_dir: Path, sizes: Sizes, report: Report) -> None:
    data = await _micro_figures(work_dir, sizes.micro_seconds)
    _nip44_rows(data["nip44"], report)
    _distribution_rows(data["distribution"], report)
