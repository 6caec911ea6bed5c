"""Figure 2: the RPC round trip of ``get_info`` through the relay — one ATM in a
row (the goal), the server's own share of it, the relay alone, PyPI's
nostr-relay instead, and several ATMs at once."""

from __future__ import annotations

import asyncio
import time

from instance import Atm, Instance, Operator, add_atm, close_atms, make_operator, rpc
from lnbits_api import API, call
from measure import fmt_ms, latency_summary, timed
from report import Report, Row
from sizes import Sizes

from .relay import relay_timings, rpc_via_nostr_relay


async def _sequential(
    instance: Instance, atm: Atm, sizes: Sizes, report: Report
) -> None:
    """One ATM's get_info after get_info: the goal's row."""
    for _ in range(10):
        await rpc(atm.sim, "get_info")
    started = time.perf_counter()
    seconds = await timed(lambda: rpc(atm.sim, "get_info"), sizes.rpc_requests)
    elapsed = time.perf_counter() - started
    summary = latency_summary(seconds)
    rate = sizes.rpc_requests / elapsed
    p99 = summary["p99_ms"]
    report.add(
        Row(
            "2",
            "RPC get_info round trip, 1 ATM, sequential",
            instance.db,
            f"{fmt_ms(summary)}; {rate:.0f} req/s",
            "p99 < 50 ms",
            "PASS" if p99 < 50 else "FAIL",
            {**summary, "requests_per_s": rate},
        )
    )


async def _server_share(
    instance: Instance, operator: Operator, atm: Atm, sizes: Sizes
) -> dict[str, float]:
    """The server's own share: rpc_log.latency_ms, from the request event's
    arrival to its answer handed to the relay pool (whole milliseconds)."""
    log = await call(
        instance.http,
        "GET",
        f"{API}/rpc/log?machine_id={atm.machine['id']}&limit=1000",
        token=operator.account.token,
    )
    handled = [row["latency_ms"] / 1000 for row in log if row["method"] == "get_info"][
        : sizes.rpc_requests
    ]
    return latency_summary(handled)


async def _concurrent(
    instance: Instance, atms: list[Atm], sizes: Sizes, report: Report
) -> None:
    """Every ATM sends get_info after get_info, all at once."""

    async def loop(atm: Atm) -> list[float]:
        return await timed(lambda: rpc(atm.sim, "get_info"), sizes.rpc_concurrent_each)

    started = time.perf_counter()
    per_atm = await asyncio.gather(*(loop(atm) for atm in atms))
    elapsed = time.perf_counter() - started
    seconds = [s for chunk in per_atm for s in chunk]
    summary = latency_summary(seconds)
    rate = len(seconds) / elapsed
    report.add(
        Row(
            "2",
            f"RPC get_info, {len(atms)} ATMs at once",
            instance.db,
            f"{fmt_ms(summary)}; {rate:.0f} req/s",
            data={**summary, "requests_per_s": rate},
        )
    )


async def bench_rpc(instance: Instance, sizes: Sizes, report: Report) -> None:
    hop_s, echo_s = await relay_timings(instance.relay.url, 100)
    hops, echoes = latency_summary(hop_s), latency_summary(echo_s)
    operator = await make_operator(instance, lps=0)
    atms = [
        await add_atm(instance, operator, 0) for _ in range(sizes.rpc_concurrent_atms)
    ]
    db = instance.db
    try:
        await _sequential(instance, atms[0], sizes, report)
        server = await _server_share(instance, operator, atms[0], sizes)
        report.latency("2", "  of which server handling (rpc_log)", db, server)
        report.latency("2", "  relay alone: echo round trip, no LNbits", db, echoes)
        report.latency("2", "  relay alone: one hop", db, hops)
        await rpc_via_nostr_relay(instance, operator, sizes, report)
        await _concurrent(instance, atms, sizes, report)
    finally:
        await close_atms(atms)
