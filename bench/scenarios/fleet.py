"""Figure 8, the fleet: many simulated machines, each with its own key, against
one LNbits for a few minutes. Each sends a beacon every 30 s and a ``get_info``
every 10 s; some also run a cash-out every 5 s. Reported: the RPC round trip
beside the relay's own echo, dispense → last leg beside the bare payments that
many legs take, LNbits' resident memory first minute → last minute, and whether
every request was answered."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from cpu import CpuSampler
from instance import (
    Atm,
    Instance,
    Operator,
    close_atms,
    make_operator,
    new_atm,
    rpc,
    start_instance,
    stop_instance,
)
from lnbits_api import API, call
from measure import fmt_ms, latency_summary
from phases import guarded
from report import Report, Row
from sizes import Sizes

from .cash_outs import CashOut, LegClock, cash_out, outcome, wait_settled
from .floor import floor_run
from .relay import relay_timings

LEGS = 4  # no LPs: the platform fee and the operator's three splits


@dataclass
class Fleet:
    """What the machines did, as they saw it."""

    rpc_latencies: list[float] = field(default_factory=list)
    sent: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    beacons: int = 0
    beacon_errors: int = 0
    cash_outs: list[CashOut] = field(default_factory=list)
    cash_out_errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)
    busy: float | None = None  # LNbits' CPU time ÷ wall time over the minutes


async def _add_machine(
    instance: Instance, operator: Operator, customer_sats: int
) -> Atm:
    """A simulated machine added by npub and paired; a cashing one also gets a
    funded customer and its wallet's invoice key (for the leg clock)."""
    sim = new_atm(instance.server_npub, instance.relay.url)
    token = operator.account.token
    expected = await call(
        instance.http,
        "POST",
        f"{API}/machines",
        token=token,
        body={"npub": sim.npub, "name": f"ATM {sim.npub[-6:]}", "fiat_code": "GTQ"},
    )
    await sim.connect()
    paired = await sim.pair(expected["seed_url"].split("token=")[1].split("&")[0])
    machine = await call(
        instance.http, "GET", f"{API}/machines/{paired['machine_id']}", token=token
    )
    inkey, customer = "", ""
    if customer_sats:
        await operator.account.refresh(instance.http)
        inkey = operator.account.wallet(machine["wallet_id"])["inkey"]
        customer = await instance.customer(customer_sats)
    return Atm(sim, machine, inkey, customer)


async def _pair_fleet(
    instance: Instance, operator: Operator, sizes: Sizes
) -> list[Atm]:
    per_customer = int(sizes.fleet_seconds / sizes.fleet_cash_every_s + 3) * 50_000
    gate = asyncio.Semaphore(8)
    atms: list[Atm] = []

    async def one(n: int) -> None:
        async with gate:
            sats = per_customer if n < sizes.fleet_cashing else 0
            atms.append(await _add_machine(instance, operator, sats))

    try:
        await asyncio.gather(*(one(n) for n in range(sizes.fleet_machines)))
    except BaseException:
        await close_atms(atms)
        raise
    return sorted(atms, key=lambda atm: not atm.customer_key)


async def _every(period: float, until: float, step: Any) -> None:
    """``step`` every ``period`` seconds from a random phase until ``until``
    (the machines' clocks are not in step)."""
    next_at = time.monotonic() + random.uniform(0, period)  # noqa: S311
    while True:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= until:
            return
        await step()
        next_at = max(next_at + period, time.monotonic())


def _machine_tasks(
    instance: Instance, atm: Atm, sizes: Sizes, fleet: Fleet, until: float
) -> list[Any]:
    async def info() -> None:
        fleet.sent += 1
        started = time.perf_counter()
        try:
            await rpc(atm.sim, "get_info")
        except Exception as exc:  # counted: answered must equal sent
            fleet.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        fleet.rpc_latencies.append(time.perf_counter() - started)
        fleet.answered += 1

    async def beacon() -> None:
        try:
            await atm.sim.publish_beacon()
            fleet.beacons += 1
        except Exception:
            fleet.beacon_errors += 1

    async def sale() -> None:
        try:
            fleet.cash_outs.append(await cash_out(instance, atm))
        except Exception as exc:
            fleet.cash_out_errors.append(f"{type(exc).__name__}: {exc}"[:200])

    tasks = [
        _every(sizes.fleet_info_every_s, until, info),
        _every(sizes.fleet_beacon_every_s, until, beacon),
    ]
    if atm.customer_key:
        tasks.append(_every(sizes.fleet_cash_every_s, until, sale))
    return tasks


async def _sample_rss(pid: int, fleet: Fleet, until: float) -> None:
    status = Path(f"/proc/{pid}/status")
    while time.monotonic() < until:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    fleet.rss.append((time.monotonic(), int(line.split()[1])))
        await asyncio.sleep(2.0)


async def _run_fleet(
    instance: Instance,
    operator: Operator,
    atms: list[Atm],
    sizes: Sizes,
    pid: int,
) -> tuple[Fleet, Any]:
    """The fleet's minutes, then every cash-out's settlement read back with its
    legs as the leg clock saw them paid."""
    fleet = Fleet()
    clock = LegClock()
    try:
        for atm in atms:
            if atm.inkey:
                await clock.watch(instance, atm.inkey)
        until = time.monotonic() + sizes.fleet_seconds
        steps = [
            step
            for atm in atms
            for step in _machine_tasks(instance, atm, sizes, fleet, until)
        ]
        sampler = asyncio.create_task(_sample_rss(pid, fleet, until))
        async with CpuSampler(pid, every_s=0.5) as cpu:
            started = time.time()
            await asyncio.gather(*steps)
            ended = time.time()
        await sampler
        used = cpu.between(started, ended)
        fleet.busy = None if used is None else used / (ended - started)
        ids = {tx.settlement_id for tx in fleet.cash_outs}
        details = await wait_settled(instance, operator, ids, clock, 180)
        result = outcome(fleet.cash_outs, details, clock) if ids else None
        return fleet, result
    finally:
        await clock.close()


def _rss_growth(samples: list[tuple[float, int]]) -> tuple[float, float, float]:
    """Mean resident memory (KiB) of the first and the last minute, and the
    growth between them (a share)."""
    if not samples:
        return math.nan, math.nan, math.nan
    start, end = samples[0][0], samples[-1][0]
    window = min(60.0, (end - start) / 2)
    first = [kib for at, kib in samples if at <= start + window]
    last = [kib for at, kib in samples if at >= end - window]
    first_mean, last_mean = sum(first) / len(first), sum(last) / len(last)
    return first_mean, last_mean, last_mean / first_mean - 1


async def bench_fleet(
    instance: Instance, work_dir: Path, sizes: Sizes, report: Report, pid: int
) -> None:
    hops, echoes = await relay_timings(instance.relay.url, 40)
    floor = await floor_run(work_dir, None, 40, instance.db)
    # The fleet's operator owns a wallet per machine and three split wallets:
    # LNbits reads all of an owner's wallets (with their balances) for each
    # payment's notification, so this is the floor the fleet's legs stand on.
    owner_floor = await floor_run(
        work_dir, None, 40, instance.db, owner_wallets=sizes.fleet_machines + 3
    )
    operator = await make_operator(instance, lps=0)
    atms = await _pair_fleet(instance, operator, sizes)
    try:
        fleet, result = await _run_fleet(instance, operator, atms, sizes, pid)
    finally:
        await close_atms(atms)
    handling = await _server_handling(instance, operator)
    _report(
        report,
        instance.db,
        sizes,
        fleet,
        result,
        echoes,
        (floor, owner_floor),
        handling,
    )
    del hops


async def _server_handling(instance: Instance, operator: Operator) -> dict[str, Any]:
    """The server's own share of the newest get_info answers (rpc_log.latency_ms:
    from the request's arrival in a handler to its answer handed to the relay
    pool); the rest of a round trip is waiting to be read, and the relay."""
    log = await call(
        instance.http, "GET", f"{API}/rpc/log?limit=1000", token=operator.account.token
    )
    handled = [row["latency_ms"] / 1000 for row in log if row["method"] == "get_info"]
    return latency_summary(handled)


def _report(
    report: Report,
    db: str,
    sizes: Sizes,
    fleet: Fleet,
    result: Any,
    echoes: list[float],
    floors: tuple[dict[str, Any], dict[str, Any]],
    handling: dict[str, Any],
) -> None:
    n, cashing = sizes.fleet_machines, sizes.fleet_cashing
    report.add(
        Row(
            "8",
            f"fleet: {n} machines ({cashing} cashing out), {sizes.fleet_seconds} s",
            db,
            f"{fleet.sent} get_info, {fleet.beacons} beacons, "
            f"{len(fleet.cash_outs)} cash-outs "
            f"({len(fleet.cash_out_errors)} failed)",
            data={
                "cash_out_errors": fleet.cash_out_errors[:20],
                "beacon_errors": fleet.beacon_errors,
            },
        )
    )
    rpc_summary = latency_summary(fleet.rpc_latencies)
    report.add(
        Row(
            "8",
            "  RPC get_info round trip",
            db,
            fmt_ms(rpc_summary),
            "p99 < 100 ms",
            "PASS" if rpc_summary["p99_ms"] < 100 else "FAIL",
            data=rpc_summary,
        )
    )
    report.latency("8", "    of which server handling (rpc_log)", db, handling)
    report.latency(
        "8", "    floor: the relay's echo round trip", db, latency_summary(echoes)
    )
    _report_legs(report, db, result, floors)
    first, last, growth = _rss_growth(fleet.rss)
    report.add(
        Row(
            "8",
            "  LNbits RSS, first minute → last minute",
            db,
            f"{first / 1024:.0f} → {last / 1024:.0f} MiB ({growth * 100:+.1f} %)",
            "< +10 %",
            "PASS" if growth < 0.10 else "FAIL",
            data={"samples_kib": fleet.rss[:: max(1, len(fleet.rss) // 100)]},
        )
    )
    if fleet.busy is not None:
        report.add(
            Row(
                "8",
                "  LNbits' process on the CPU, over the minutes",
                db,
                f"{fleet.busy:.0%} of one core (its event loop is one thread)",
                data={"busy": fleet.busy},
            )
        )
    report.add(
        Row(
            "8",
            "  get_info answered / sent",
            db,
            f"{fleet.answered} / {fleet.sent}",
            "all",
            "PASS" if fleet.answered == fleet.sent else "FAIL",
            data={"errors": fleet.errors[:20]},
        )
    )


def _report_legs(
    report: Report,
    db: str,
    result: Any,
    floors: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    if result is None:
        report.add(
            Row("8", "  dispense → last leg paid", db, "no cash-out", verdict="FAIL")
        )
        return
    summary = latency_summary(result.latencies)
    report.add(
        Row(
            "8",
            f"  dispense → last leg paid, {LEGS} legs",
            db,
            fmt_ms(summary)
            + (f"; {result.not_settled} not settled" if result.not_settled else ""),
            "p99 < 1 s",
            "PASS" if summary["p99_ms"] < 1000 and not result.not_settled else "FAIL",
            data={**summary, "legs_paid": result.legs_paid, **result.timings()},
        )
    )
    for floor in floors:
        per_payment = 1 / floor["payments_per_s"]
        owner = (
            f", one owner of {floor['owner_wallets']} wallets"
            if floor.get("owner_wallets")
            else ""
        )
        report.add(
            Row(
                "8",
                f"    floor: {LEGS} bare LNbits payments in a row{owner}",
                db,
                f"{LEGS * per_payment * 1000:.0f} ms ({floor['payments_per_s']:.1f} "
                "payments/s, one after another)",
                data=floor,
            )
        )


async def run_fleet(work_dir: Path, sizes: Sizes, report: Report) -> None:
    """Figure 8 on SQLite, on an LNbits and relay of its own."""
    relay = harness.RelayProcess()
    relay.start()
    try:
        instance = await start_instance(work_dir, relay, None, "sqlite")
        pid = instance.server.proc.pid if instance.server.proc else 0
        try:
            await guarded(
                report,
                "8",
                "fleet",
                "sqlite",
                lambda: bench_fleet(instance, work_dir, sizes, report, pid),
                sizes.fleet_seconds + 600,
                needs_s=sizes.fleet_seconds + 60,
                pid=pid,
            )
        finally:
            await stop_instance(instance)
    finally:
        relay.stop()
