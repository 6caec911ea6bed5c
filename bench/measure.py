"""How every figure is measured and summarised: timed calls, percentiles, and the
one way a latency distribution is written in the table."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable


async def timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    """Seconds of each of ``count`` calls of ``call``, one after another."""
    seconds = []
    for _ in range(count):
        t0 = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - t0)
    return seconds


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
    }


def fmt_ms(summary: dict[str, float]) -> str:
    return (
        f"p50/95/99 {summary['p50_ms']:.1f}/{summary['p95_ms']:.1f}/"
        f"{summary['p99_ms']:.1f} ms (n={summary['n']})"
    )
