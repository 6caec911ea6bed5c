"""Figure 3, end to end: cash-outs → settlements → every leg paid. Latency at one
settlement a second (the goal), and throughput with several ATMs and LPs."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from cpu import CpuSampler
from instance import Atm, Instance, add_atm, close_atms, make_operator
from measure import fmt_ms, latency_summary
from report import Report, Row
from sizes import Sizes

from .cash_outs import CashOut, LegClock, Outcome, cash_out, outcome, wait_settled


async def _paced_cash_outs(instance: Instance, atm: Atm, n: int) -> list[CashOut]:
    """``n`` cash-outs of one ATM whose dispenses are one second apart."""
    start = time.time() + 1.0
    cash_outs: list[CashOut] = []
    for i in range(n):
        # The next customer's invoice and payment run in the half second
        # before its dispense, while the previous settlement may still pay.
        await asyncio.sleep(max(0.0, start + i - 0.5 - time.time()))
        cash_outs.append(await cash_out(instance, atm, dispense_at=start + i))
    return cash_outs


async def _latency_run(instance: Instance, n: int) -> Outcome:
    operator = await make_operator(instance, lps=0)
    atm = await add_atm(instance, operator, customer_sats=(n + 2) * 50_000)
    clock = LegClock()
    try:
        await clock.watch(instance, atm.inkey)
        await cash_out(instance, atm)  # warm-up, not counted
        cash_outs = await _paced_cash_outs(instance, atm, n)
        details = await wait_settled(
            instance, operator, {tx.settlement_id for tx in cash_outs}, clock, 60 + n
        )
        return outcome(cash_outs, details, clock)
    finally:
        await clock.close()
        await close_atms([atm])


async def bench_latency(instance: Instance, sizes: Sizes, report: Report) -> None:
    """One ATM, one settlement a second, no LPs: 4 legs each (platform fee and
    the operator's three splits)."""
    n = sizes.latency_settlements
    result = await _latency_run(instance, n)
    summary = latency_summary(result.latencies)
    rate = (n - 1) / max(1e-9, result.last_dispense - result.first_dispense)
    ok = summary["p99_ms"] < 500 and not result.not_settled and not result.missing_clock
    report.add(
        Row(
            "3",
            "dispense → last leg paid, 1/s, 4 legs",
            instance.db,
            fmt_ms(summary)
            + (f"; {result.not_settled} not settled" if result.not_settled else ""),
            "p99 < 500 ms",
            "PASS" if ok else "FAIL",
            {
                **summary,
                "offered_settlements_per_s": rate,
                "legs_paid": result.legs_paid,
                "not_settled": result.not_settled,
                **result.timings(),
            },
        )
    )
    answers = latency_summary(result.answer_latencies)
    report.latency("3", "  report_dispense answered", instance.db, answers)
    first = latency_summary(result.first_leg)
    gaps = latency_summary(result.leg_gaps)
    report.add(
        Row(
            "3",
            "  first leg paid; then each next leg",
            instance.db,
            f"p50 {first['p50_ms']:.0f} ms; then p50/95 {gaps['p50_ms']:.0f}/"
            f"{gaps['p95_ms']:.0f} ms per leg",
            data={"first_leg_paid": first, "between_legs": gaps},
        )
    )


async def _throughput_run(
    instance: Instance, sizes: Sizes
) -> tuple[list[CashOut], Outcome]:
    m, k = sizes.throughput_machines, sizes.throughput_tx_each
    operator = await make_operator(instance, lps=sizes.lps)
    atms = [
        await add_atm(instance, operator, customer_sats=(k + 2) * 50_000)
        for _ in range(m)
    ]
    clock = LegClock()
    try:
        for atm in atms:
            await clock.watch(instance, atm.inkey)

        async def run(atm: Atm) -> list[CashOut]:
            return [await cash_out(instance, atm) for _ in range(k)]

        assert instance.server.proc is not None
        async with CpuSampler(instance.server.proc.pid) as cpu:
            batches = await asyncio.gather(*(run(atm) for atm in atms))
            cash_outs = [tx for batch in batches for tx in batch]
            details = await wait_settled(
                instance, operator, {tx.settlement_id for tx in cash_outs}, clock, 240
            )
        result = outcome(cash_outs, details, clock)
        result.cpu_s = cpu.between(result.first_dispense, result.last_leg)
        return cash_outs, result
    finally:
        await clock.close()
        await close_atms(atms)


def _throughput_data(
    sizes: Sizes, cash_outs: list[CashOut], result: Outcome
) -> dict[str, Any]:
    settled = len(cash_outs) - result.not_settled
    window = result.window
    return {
        **latency_summary(result.latencies),
        "machines": sizes.throughput_machines,
        "tx_per_machine": sizes.throughput_tx_each,
        "lps": sizes.lps,
        "settlements": settled,
        "not_settled": result.not_settled,
        "legs_paid": result.legs_paid,
        "legs_per_settlement": result.legs_paid / settled if settled else 0,
        "window_s": window,
        "settlements_per_s": settled / window if window > 0 else math.nan,
        "legs_per_s": result.legs_paid / window if window > 0 else math.nan,
        "cpu_s": result.cpu_s,  # LNbits' process over the window, all threads
        **result.timings(),
    }


async def bench_throughput(
    instance: Instance, sizes: Sizes, report: Report
) -> dict[str, Any]:
    """M ATMs, K cash-outs each, back to back; 3 splits and ``sizes.lps`` LPs."""
    m, k = sizes.throughput_machines, sizes.throughput_tx_each
    cash_outs, result = await _throughput_run(instance, sizes)
    data = _throughput_data(sizes, cash_outs, result)
    summary = latency_summary(result.latencies)
    report.add(
        Row(
            "3",
            f"throughput, {m}x{k} cash-outs, {sizes.lps} LPs",
            instance.db,
            f"{data['settlements_per_s']:.2f} settlements/s x "
            f"{data['legs_per_settlement']:.0f} legs = "
            f"{data['legs_per_s']:.1f} legs/s; {fmt_ms(summary)}",
            verdict="" if not result.not_settled else "FAIL",
            data=data,
        )
    )
    return data
