"""The phases that run against one database (figures 2, 3, 4 and 6), in order,
on one LNbits and relay: SQLite, then PostgreSQL on databases of the
benchmark's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from instance import Instance, start_instance, stop_instance
from phases import BUDGET, guarded
from report import Report
from scenarios.end_to_end import bench_latency, bench_throughput
from scenarios.floor import floor_run, planned_payments, report_floor
from scenarios.rpc import bench_rpc
from scenarios.rpc_flood import bench_flood
from scenarios.settlement_list import bench_list
from scenarios.withdraw import bench_withdraw
from sizes import Sizes


@dataclass
class DatabaseRun:
    """One database's phases against ``instance``; ``server_url`` is the
    PostgreSQL server's (the floor makes a database of its own there)."""

    db: str
    database_url: str | None
    server_url: str | None
    work_dir: Path
    sizes: Sizes
    report: Report
    instance: Instance

    @property
    def pid(self) -> int | None:
        proc = self.instance.server.proc
        return proc.pid if proc else None

    async def rpc(self) -> None:
        instance, sizes, report = self.instance, self.sizes, self.report
        await guarded(
            report,
            "2",
            "RPC",
            self.db,
            lambda: bench_rpc(instance, sizes, report),
            120,
            needs_s=30,
            pid=self.pid,
        )
        await guarded(
            report,
            "2",
            "RPC under a flood",
            self.db,
            lambda: bench_flood(instance, sizes, report),
            90,
            needs_s=20 + sizes.flood_max_s,
            pid=self.pid,
        )

    async def latency(self) -> None:
        instance, sizes, report = self.instance, self.sizes, self.report
        await guarded(
            report,
            "3",
            "latency",
            self.db,
            lambda: bench_latency(instance, sizes, report),
            120 + 2 * sizes.latency_settlements,
            needs_s=10 + 1.5 * sizes.latency_settlements,
            pid=self.pid,
        )

    async def withdraw(self) -> None:
        instance, sizes, report = self.instance, self.sizes, self.report
        await guarded(
            report,
            "3",
            "cash-in by LNURL",
            self.db,
            lambda: bench_withdraw(instance, sizes, report),
            60 + 2 * sizes.withdraw_cash_ins,
            needs_s=10 + sizes.withdraw_cash_ins,
            pid=self.pid,
        )

    async def floor(self, payments: int) -> dict[str, Any]:
        return await floor_run(self.work_dir, self.server_url, payments, self.db)

    async def throughput_and_floor(self) -> None:
        """The floor brackets the throughput run, half just before and half
        just after, so that a change of load on this shared machine hits both
        figures of the ratio alike."""
        instance, sizes, report = self.instance, self.sizes, self.report
        first_half = max(1, planned_payments(sizes) // 2)
        floor_before = await guarded(
            report,
            "4",
            "floor",
            self.db,
            lambda: self.floor(first_half),
            200,
            needs_s=75,
        )
        throughput = await guarded(
            report,
            "3",
            "throughput",
            self.db,
            lambda: bench_throughput(instance, sizes, report),
            400,
            needs_s=45,
            pid=self.pid,
        )
        if not (floor_before and throughput and throughput.get("legs_paid")):
            return
        legs = min(int(throughput["legs_paid"]), sizes.floor_max_payments)
        rest = max(1, legs - first_half)

        async def second_half() -> None:
            after = await self.floor(rest)
            report_floor(report, self.db, floor_before, after, throughput)

        await guarded(report, "4", "floor", self.db, second_half, 200, needs_s=0)

    async def settlement_list(self) -> None:
        instance, sizes, report = self.instance, self.sizes, self.report
        await guarded(
            report,
            "6",
            "settlement list",
            self.db,
            lambda: bench_list(instance, self.database_url, sizes, report),
            240,
            needs_s=30,
            pid=self.pid,
        )


async def run_database(
    db: str,
    database_url: str | None,
    server_url: str | None,
    work_dir: Path,
    sizes: Sizes,
    report: Report,
    *,
    with_rpc: bool,
) -> None:
    relay = harness.RelayProcess()
    relay.start()
    try:
        instance = await start_instance(work_dir, relay, database_url, db)
        run = DatabaseRun(
            db, database_url, server_url, work_dir, sizes, report, instance
        )
        try:
            if with_rpc:
                await run.rpc()
            await run.latency()
            await run.withdraw()
            await run.throughput_and_floor()
            await run.settlement_list()
        finally:
            await stop_instance(instance)
    finally:
        relay.stop()


async def run_postgres(
    server_url: str | None,
    no_postgres: str | None,
    work_dir: Path,
    sizes: Sizes,
    report: Report,
) -> None:
    """Figures 3, 4 and 6 on PostgreSQL, or one SKIP row saying why not."""
    if server_url and BUDGET.spent(90):
        report.skip(
            "3,4,6",
            "PostgreSQL rows",
            "postgres",
            f"the time budget (--budget {BUDGET.seconds:.0f} s) is nearly spent",
        )
        return
    if not server_url:
        why = no_postgres or (
            "no --postgres URL and SATMACHINEADMIN_TEST_DATABASE_URL is unset "
            "(make bench gets one from tools/postgres.sh)"
        )
        report.skip("3,4,6", "PostgreSQL rows", "postgres", why)
        return
    print("- PostgreSQL", flush=True)
    try:
        report.meta["postgres"] = await harness.postgres_version(server_url)
        async with harness.fresh_postgres_database(server_url, "e2e") as url:
            await run_database(
                "postgres", url, server_url, work_dir, sizes, report, with_rpc=False
            )
    except Exception as exc:
        report.error("3", "PostgreSQL", "postgres", exc)
