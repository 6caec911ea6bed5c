"""The cash in a machine, estimated (contract §9.4): pure, synchronous, integers.

The server knows a machine's cassettes from its last count — a ``report_cash`` or
the operator's refill — and lowers that count by the bills each ``report_dispense``
names since. Bills are named by denomination, not by cassette: those of one
denomination are taken from the cassettes holding it in position order, each down
to empty, so that an estimate never goes below zero; bills no cassette could have
held are left unattributed (and show at the next count as a difference).

Rates come from the bills of a recent window (7 days, or less if the machine has
been counted for less); the "days until" figures are decimal strings with one
decimal, rounded down, or None when nothing moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_BILLS",
    "RATE_WINDOW_S",
    "Cassette",
    "bills_added",
    "days_until",
    "estimate_counts",
    "fiat_held_minor",
    "fill_percent",
    "rate_window_s",
    "reconcile",
    "total_by_denomination",
]

# Far beyond any cassette, cashbox or week of dispensing; below any overflow.
MAX_BILLS = 10_000_000
RATE_WINDOW_S = 7 * 86400
# A machine counted for a few minutes does not make a rate of its first bills.
MIN_RATE_WINDOW_S = 3600
DAY_S = 86400


class CashError(ValueError):
    """An input out of the bounds this module computes within."""


def _capped(value: int, what: str) -> int:
    """A sum of bills: more than any box holds is as good as MAX_BILLS."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CashError(f"{what} must be a whole number, not negative")
    return min(value, MAX_BILLS)


def _bills(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CashError(f"{what} must be a whole number")
    if not 0 <= value <= MAX_BILLS:
        raise CashError(f"{what} must be 0..{MAX_BILLS}")
    return value


@dataclass(frozen=True)
class Cassette:
    position: str
    denomination_minor: int
    capacity: int


def _order(position: str) -> tuple[int, str]:
    return (int(position), position) if position.isdigit() else (10**9, position)


def total_by_denomination(bills: Iterable[tuple[int, int]]) -> dict[int, int]:
    """(denomination, count) pairs summed per denomination."""
    totals: dict[int, int] = {}
    for denomination, count in bills:
        _bills(count, "a count of bills")
        totals[denomination] = totals.get(denomination, 0) + count
    return totals


def estimate_counts(
    cassettes: Iterable[Cassette],
    counted: Mapping[str, int],
    dispensed: Mapping[int, int],
) -> dict[str, int]:
    """Each position's count now: its last count (missing: 0) less the bills of
    its denomination dispensed since, lowest position first, never below 0."""
    remaining = {d: _capped(n, "a count of bills") for d, n in dispensed.items()}
    estimate: dict[str, int] = {}
    for cassette in sorted(cassettes, key=lambda c: _order(c.position)):
        count = _bills(counted.get(cassette.position, 0), "a count")
        taken = min(count, remaining.get(cassette.denomination_minor, 0))
        if taken:
            remaining[cassette.denomination_minor] -= taken
        estimate[cassette.position] = count - taken
    return estimate


def reconcile(reported: Mapping[str, int], estimated: Mapping[str, int]) -> dict:
    """Per position: what the machine (or the operator) counted minus what the
    server estimated; positive means more bills than expected."""
    return {
        position: _bills(reported[position], "a count")
        - _bills(estimated.get(position, 0), "an estimate")
        for position in sorted(reported, key=_order)
    }


def fiat_held_minor(cassettes: Iterable[Cassette], counts: Mapping[str, int]) -> int:
    return sum(
        c.denomination_minor * _bills(counts.get(c.position, 0), "a count")
        for c in cassettes
    )


def fill_percent(count: int, capacity: int | None) -> int | None:
    """How full, in whole percent rounded down; None without a capacity."""
    if capacity is None or capacity <= 0:
        return None
    return _bills(count, "a count") * 100 // _bills(capacity, "a capacity")


def rate_window_s(now: int, counted_since: int | None) -> int:
    """The window the rates are measured over: the last 7 days, or since the
    machine was first counted if that is more recent (at least an hour)."""
    if counted_since is None:
        return RATE_WINDOW_S
    return max(MIN_RATE_WINDOW_S, min(RATE_WINDOW_S, now - counted_since))


def days_until(remaining: int, moved_in_window: int, window_s: int) -> str | None:
    """Days until ``remaining`` bills are gone at the window's pace, one decimal,
    rounded down; None if nothing moved in the window."""
    remaining = _capped(remaining, "a count")
    moved_in_window = _capped(moved_in_window, "a count of bills")
    if moved_in_window == 0:
        return None
    if not 0 < window_s <= 10 * RATE_WINDOW_S:
        raise CashError("the rate window must be positive and bounded")
    # remaining / (moved / window) seconds, in tenths of a day.
    tenths = remaining * window_s * 10 // (moved_in_window * DAY_S)
    return f"{tenths // 10}.{tenths % 10}"


def bills_added(counts: Iterable[int]) -> int:
    """Bills that went into a box across successive counts, oldest first: each
    rise counts, a fall (the box emptied at a refill) starts again from there."""
    added, previous = 0, None
    for count in counts:
        _bills(count, "a count")
        if previous is not None and count > previous:
            added += count - previous
        previous = count
    return added
