"""When an LP's accrued sats are paid: pure, synchronous, integers only.

Three schedules, per LP enrolment:

- ``each``: every distribution leg is paid on its own, as the settlement lands
  (the default, and always offered);
- ``daily``: once a day at ``hour`` (0..23, UTC), the legs that accrued before
  that moment are paid as one payment;
- ``threshold``: once the accrued legs add up to at least ``threshold_sats``,
  they are paid as one payment.

Times are Unix seconds; a day is 86 400 of them (UTC has no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DAY_S",
    "MAX_THRESHOLD_SATS",
    "MIN_THRESHOLD_SATS",
    "SCHEDULES",
    "Schedule",
    "ScheduleError",
    "check_hour",
    "check_threshold",
    "daily_cutoff",
    "next_daily_at",
    "parse_offered",
]

SCHEDULES = ("each", "daily", "threshold")
DAY_S = 86_400
HOUR_S = 3_600
# Below 1 000 sats a threshold saves the LP nothing worth a schedule; above one
# bitcoin the operator's machine wallets would hold an LP's money for too long.
MIN_THRESHOLD_SATS = 1_000
MAX_THRESHOLD_SATS = 100_000_000


class ScheduleError(ValueError):
    """A schedule setting out of its bounds (the message is the user's)."""


def check_hour(hour: int) -> int:
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ScheduleError("the payout hour must be a whole hour from 0 to 23 (UTC)")
    return hour


def check_threshold(sats: int) -> int:
    if (
        isinstance(sats, bool)
        or not isinstance(sats, int)
        or not MIN_THRESHOLD_SATS <= sats <= MAX_THRESHOLD_SATS
    ):
        raise ScheduleError(
            f"the payout threshold must be from {MIN_THRESHOLD_SATS:,} to "
            f"{MAX_THRESHOLD_SATS:,} sats"
        )
    return sats


def parse_offered(text: str) -> tuple[str, ...]:
    """The stored list of offered schedules, in canonical order; ``each`` is
    always among them."""
    named = {part.strip() for part in text.split(",")}
    return tuple(name for name in SCHEDULES if name in named or name == "each")


def daily_cutoff(hour: int, now: int) -> int:
    """The latest moment at ``hour``:00 UTC not after ``now``: what accrued
    before it is due."""
    check_hour(hour)
    start_of_day = now - now % DAY_S
    cutoff = start_of_day + hour * HOUR_S
    return cutoff if cutoff <= now else cutoff - DAY_S


def next_daily_at(hour: int, now: int) -> int:
    """The next moment at ``hour``:00 UTC after ``now``."""
    return daily_cutoff(hour, now) + DAY_S


@dataclass(frozen=True)
class Schedule:
    """One enrolment's schedule as stored."""

    name: str
    hour: int
    threshold_sats: int

    @property
    def immediate(self) -> bool:
        return self.name not in ("daily", "threshold")

    def due_before(self, *, accrued_sats: int, oldest_at: int, now: int) -> int | None:
        """The cut-off of a payout due now (the legs created before it are paid),
        or None when nothing is due: ``accrued_sats`` is the sum of the accrued
        legs, ``oldest_at`` the time of the oldest."""
        if accrued_sats < 1:
            return None
        if self.name == "daily":
            cutoff = daily_cutoff(self.hour, now)
            return cutoff if oldest_at < cutoff else None
        if self.name == "threshold" and accrued_sats < self.threshold_sats:
            return None
        # A threshold reached, or legs left accrued from a schedule since given
        # up for ``each``: all of them, now.
        return now + 1
