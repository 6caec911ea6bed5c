"""Benchmarks of satmachineadmin: `make bench` (see bench/README.md).

    python bench/run.py [--postgres URL | --no-postgres REASON] [--quick]

Runs, on this machine, against real processes (LNbits under uvicorn with this
extension and FakeWallet, nostr-sdk's embedded relay, simulated ATMs on
nostr-sdk), and prints one table of results with PASS/FAIL against the goals,
also written as JSON to bench/results/<UTC time>.json and bench/results/latest.json:

1. NIP-44 v2 encrypt+decrypt of 1 KiB: ours (cached conversation key) vs LNbits'
2. RPC round trip (get_info) through the relay, alone and while unknown keys flood it
3. end to end: cash-outs → settlements → legs paid (latency at 1/s; throughput)
4. the floor: bare LNbits internal payments, and the pipeline's share of it
5. distribution arithmetic for 10, 1 000 and 100 000 LPs
6. the settlement list API over 100 000 stored settlements
7. LP payout schedules: payments and time for 200 LPs and 50 cash-outs
8. the fleet: 200 machines, beacons, get_info and cash-outs for two minutes
   (7 and 8: ``--only schedules fleet``, make bench-fleet, not make bench)

3, 4 and 6 run on SQLite and on PostgreSQL (``--postgres URL`` or
``$SATMACHINEADMIN_TEST_DATABASE_URL``: a server URL whose role may CREATEDB; the
benchmark makes databases of its own there and drops them). The goals are goals:
the exit code is 0 whatever they say.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from databases import run_database, run_postgres
from phases import BUDGET, guarded
from report import Report, filesystem, machine_facts
from scenarios.fee_check import run_fee_check
from scenarios.fleet import run_fleet
from scenarios.micro import run_micro
from scenarios.schedules import bench_schedules
from sizes import Sizes


def _work_dir(args: argparse.Namespace, report: Report) -> Path:
    """A new work directory, where the databases go; says so with the machine."""
    work_dir = Path(
        tempfile.mkdtemp(prefix=f"{harness.EXT_ID}-bench-", dir=args.work_dir)
    )
    report.meta["work_dir_filesystem"] = filesystem(work_dir)
    print(
        f"satmachineadmin benchmarks: {report.meta['nproc']} cores, load "
        f"{report.meta['loadavg_start'][0]:.2f}, work dir {work_dir} "
        f"({report.meta['work_dir_filesystem']})",
        flush=True,
    )
    return work_dir


async def _parts(
    args: argparse.Namespace, sizes: Sizes, report: Report, work_dir: Path
) -> None:
    """The parts ``--only`` names, in their order: micro, SQLite, PostgreSQL."""
    if "micro" in args.only:
        print("- micro-benchmarks (NIP-44, distribution)", flush=True)
        await guarded(
            report,
            "1",
            "micro",
            "-",
            lambda: run_micro(work_dir, sizes, report),
            150,
            needs_s=0,
        )
    if "sqlite" in args.only:
        print("- SQLite", flush=True)
        await guarded(
            report,
            "2",
            "fee check",
            "sqlite",
            lambda: run_fee_check(work_dir, sizes.fee_check_calls, report),
            150,
            needs_s=40,
        )
        await run_database("sqlite", None, None, work_dir, sizes, report, with_rpc=True)
    if "postgres" in args.only:
        server_url = None if args.no_postgres else args.postgres
        await run_postgres(server_url, args.no_postgres, work_dir, sizes, report)
    if "schedules" in args.only:
        print("- LP payout schedules (SQLite, in process)", flush=True)
        await guarded(
            report,
            "7",
            "LP payout schedules",
            "sqlite",
            lambda: bench_schedules(work_dir, sizes, report),
            900,
            needs_s=60,
        )
    if "fleet" in args.only:
        print("- the fleet (SQLite)", flush=True)
        await run_fleet(work_dir, sizes, report)


def _finish(report: Report, started: float) -> None:
    """The JSON, and the table on stdout."""
    report.meta["loadavg_end"] = os.getloadavg()
    report.meta["seconds"] = time.monotonic() - started
    path = report.write()
    load = report.meta["loadavg_end"]
    print()
    print(report.table())
    print()
    print(
        f"{report.meta['seconds']:.0f} s; load average at the end {load[0]:.2f} "
        f"(2 cores: other work on this machine slows every figure). "
        f"JSON: {path.relative_to(harness.REPO_ROOT)} and bench/results/latest.json"
    )


async def main_async(args: argparse.Namespace) -> None:
    sizes = Sizes.quick() if args.quick else Sizes()
    for name in ("fleet_machines", "fleet_cashing", "fleet_seconds"):
        if getattr(args, name) is not None:
            setattr(sizes, name, getattr(args, name))
    BUDGET.start(args.budget)
    report = Report()
    report.meta = machine_facts()
    report.meta["sizes"] = vars(sizes)
    started = time.monotonic()
    work_dir = _work_dir(args, report)
    try:
        await _parts(args, sizes, report, work_dir)
    finally:
        if not args.keep:
            harness.remove_tree(work_dir)
    _finish(report, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("SATMACHINEADMIN_TEST_DATABASE_URL"),
        help="PostgreSQL server URL (postgres://user:pass@host:port/db; the role "
        "needs CREATEDB). Default: $SATMACHINEADMIN_TEST_DATABASE_URL",
    )
    parser.add_argument(
        "--no-postgres",
        metavar="REASON",
        help="skip the PostgreSQL rows, saying why",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["micro", "sqlite", "postgres", "schedules", "fleet"],
        default=["micro", "sqlite", "postgres"],
        help="run only these parts (schedules, fleet: make bench-fleet's)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (a smoke test)"
    )
    for name, what in (
        ("machines", "machines"),
        ("cashing", "machines running cash-outs"),
        ("seconds", "seconds"),
    ):
        parser.add_argument(
            f"--fleet-{name}", type=int, metavar="N", help=f"the fleet's {what}"
        )
    parser.add_argument("--work-dir", help="where the databases go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--budget",
        type=float,
        default=250.0,
        metavar="SECONDS",
        help="start no phase after this many seconds (make bench stays < 5 min)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample LNbits with py-spy (not installed by make) during each phase",
    )
    parser.add_argument(
        "--turns",
        metavar="DIR",
        help="count each LNbits' turns on its databases, by caller (bench/turns.py)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        BUDGET.profile_dir = Path(args.profile).resolve()
    if args.turns:
        BUDGET.turns_dir = Path(args.turns).resolve()

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Killed (make interrupted, a timeout): unwind, so every process is stopped.
    signal.signal(signal.SIGTERM, interrupted)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
