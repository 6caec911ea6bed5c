"""Figure 2's flood row: one ATM's get_info p99 alone and while unknown keys
flood the relay (bench/flood.py makes and paces the flood), and what the server
answered and dropped meanwhile."""

from __future__ import annotations

from typing import Any

import flood
from instance import Instance, add_atm, close_atms, make_operator, rpc
from measure import latency_summary
from nostr_sdk import PublicKey
from report import Report, Row
from sizes import Sizes


async def _measure(instance: Instance, sizes: Sizes) -> tuple[dict, dict, dict]:
    """The flood's figures, and the server's counters before and after it."""
    operator = await make_operator(instance, lps=0)
    atm = await add_atm(instance, operator, 0)
    try:
        for _ in range(10):
            await rpc(atm.sim, "get_info")
        before = await instance.relays_status()
        figures = await flood.measure(
            lambda: rpc(atm.sim, "get_info"),
            relay_url=instance.relay.url,
            server_hex=PublicKey.parse(instance.server_npub).to_hex(),
            requests=sizes.flood_requests,
            rate_per_s=sizes.flood_rate_per_s,
            max_s=sizes.flood_max_s,
        )
        after = await instance.relays_status()
    finally:
        await close_atms([atm])
    return figures, before, after


def _server_meanwhile(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, int], int]:
    """What the server dropped, by reason, and how many requests it answered."""
    dropped = {
        key: after["dropped"].get(key, 0) - before["dropped"].get(key, 0)
        for key in after["dropped"]
    }
    return dropped, after["requests_handled"] - before["requests_handled"]


async def bench_flood(instance: Instance, sizes: Sizes, report: Report) -> None:
    """get_info's p99 alone and while unknown keys flood the relay (flood.py)."""
    figures, before, after = await _measure(instance, sizes)
    alone = latency_summary(figures.pop("unloaded_s"))
    loaded = latency_summary(figures.pop("loaded_s"))
    ratio = loaded["p99_ms"] / alone["p99_ms"]
    dropped, answered = _server_meanwhile(before, after)
    report.add(
        Row(
            "2",
            f"RPC get_info p99, {sizes.flood_rate_per_s:.0f}/s unknown-key flood",
            instance.db,
            f"{loaded['p99_ms']:.1f} ms flooded vs {alone['p99_ms']:.1f} ms alone "
            f"({ratio:.2f}x); p50 {loaded['p50_ms']:.1f} vs {alone['p50_ms']:.1f} ms; "
            f"{figures['flood_sent']} events at {figures['flood_rate_per_s']:.0f}/s",
            "< 2x alone",
            "PASS" if ratio < 2 else "FAIL",
            {
                "unloaded": alone,
                "loaded": loaded,
                "ratio": ratio,
                **figures,
                "server_dropped": dropped,
                "server_answered": answered,
            },
        )
    )
    report.add(
        Row(
            "2",
            "  the server meanwhile",
            instance.db,
            f"answered {answered} (the ATM's {2 * sizes.flood_requests + 10} or "
            f"fewer included); dropped "
            + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()) if v),
        )
    )
