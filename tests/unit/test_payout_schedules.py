"""The LP payout schedule's rule: when accrued legs are due, with a fake clock."""

from __future__ import annotations

import pytest

from satmachineadmin.payout_schedules import (
    DAY_S,
    Schedule,
    ScheduleError,
    check_hour,
    check_threshold,
    daily_cutoff,
    next_daily_at,
    parse_offered,
)

# 2026-12-06 00:00:00 UTC
MIDNIGHT = 1_796_515_200


def test_the_daily_cutoff_is_the_last_hour_mark_not_after_now():
    assert MIDNIGHT % DAY_S == 0
    assert daily_cutoff(9, MIDNIGHT + 9 * 3600) == MIDNIGHT + 9 * 3600
    assert daily_cutoff(9, MIDNIGHT + 9 * 3600 - 1) == MIDNIGHT + 9 * 3600 - DAY_S
    assert daily_cutoff(0, MIDNIGHT) == MIDNIGHT
    assert next_daily_at(23, MIDNIGHT) == MIDNIGHT + 23 * 3600
    assert next_daily_at(9, MIDNIGHT + 9 * 3600) == MIDNIGHT + 9 * 3600 + DAY_S


def test_daily_pays_what_accrued_before_the_hour_once_it_has_come():
    daily = Schedule("daily", 9, 10_000)
    nine = MIDNIGHT + 9 * 3600
    sold = nine - 60
    assert daily.due_before(accrued_sats=500, oldest_at=sold, now=nine - 1) is None
    assert daily.due_before(accrued_sats=500, oldest_at=sold, now=nine) == nine
    assert daily.due_before(accrued_sats=500, oldest_at=nine, now=nine + 5) is None
    assert daily.due_before(accrued_sats=0, oldest_at=sold, now=nine) is None


def test_threshold_pays_once_the_sum_reaches_it():
    threshold = Schedule("threshold", 0, 10_000)
    assert threshold.due_before(accrued_sats=9_999, oldest_at=0, now=50) is None
    assert threshold.due_before(accrued_sats=10_000, oldest_at=0, now=50) == 51


def test_legs_left_from_an_abandoned_schedule_are_paid_at_once():
    each = Schedule("each", 0, 10_000)
    assert each.immediate and not Schedule("daily", 0, 1_000).immediate
    assert each.due_before(accrued_sats=1, oldest_at=0, now=50) == 51


@pytest.mark.parametrize("hour", [-1, 24, 3.0, True, "3"])
def test_an_hour_out_of_bounds_is_refused(hour):
    with pytest.raises(ScheduleError, match="0 to 23"):
        check_hour(hour)


@pytest.mark.parametrize("sats", [0, 999, 100_000_001, 10**30, 1_000.0])
def test_a_threshold_out_of_bounds_is_refused(sats):
    with pytest.raises(ScheduleError, match="sats"):
        check_threshold(sats)


def test_each_settlement_is_always_offered_in_a_fixed_order():
    assert parse_offered("threshold,daily") == ("each", "daily", "threshold")
    assert parse_offered("") == ("each",)
    assert parse_offered("weekly") == ("each",)
