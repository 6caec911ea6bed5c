"""The estimate of the cash in a machine (contract §9.4): properties over
reports, dispenses and refills, and the days until empty or full from
synthetic history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satmachineadmin.cash import (
    MAX_BILLS,
    RATE_WINDOW_S,
    CashError,
    Cassette,
    bills_added,
    days_until,
    estimate_counts,
    fiat_held_minor,
    fill_percent,
    rate_window_s,
    reconcile,
    total_by_denomination,
)

MANY = settings(max_examples=500, deadline=None)
DENOMINATIONS = [2000, 5000, 10000]


@st.composite
def machines(draw):
    """Cassettes (positions 1..n, denominations possibly repeated) and their
    last counts."""
    n = draw(st.integers(min_value=1, max_value=6))
    cassettes = [
        Cassette(
            position=str(i),
            denomination_minor=draw(st.sampled_from(DENOMINATIONS)),
            capacity=draw(st.integers(min_value=1, max_value=3000)),
        )
        for i in range(1, n + 1)
    ]
    counted = {
        c.position: draw(st.integers(min_value=0, max_value=c.capacity))
        for c in cassettes
    }
    return cassettes, counted


dispenses = st.lists(
    st.tuples(
        st.sampled_from([*DENOMINATIONS, 500]), st.integers(min_value=0, max_value=400)
    ),
    max_size=30,
)


def held(cassettes, counts, denomination) -> int:
    return sum(
        counts[c.position] for c in cassettes if c.denomination_minor == denomination
    )


@MANY
@given(machines(), dispenses)
def test_each_denomination_loses_exactly_its_bills_until_empty(machine, bills):
    cassettes, counted = machine
    estimate = estimate_counts(cassettes, counted, total_by_denomination(bills))
    totals = total_by_denomination(bills)
    for c in cassettes:
        assert 0 <= estimate[c.position] <= counted[c.position]
    for denomination in DENOMINATIONS:
        before = held(cassettes, counted, denomination)
        after = held(cassettes, estimate, denomination)
        assert before - after == min(before, totals.get(denomination, 0))


@MANY
@given(machines(), dispenses, dispenses)
def test_dispenses_compose_in_any_order(machine, first, second):
    cassettes, counted = machine
    at_once = estimate_counts(cassettes, counted, total_by_denomination(first + second))
    one_after_other = estimate_counts(
        cassettes,
        estimate_counts(cassettes, counted, total_by_denomination(first)),
        total_by_denomination(second),
    )
    assert at_once == one_after_other
    assert at_once == estimate_counts(
        cassettes, counted, total_by_denomination(second + first)
    )


@MANY
@given(machines(), dispenses)
def test_a_count_reconciles_to_zero_with_an_exact_estimate(machine, bills):
    cassettes, counted = machine
    estimate = estimate_counts(cassettes, counted, total_by_denomination(bills))
    assert set(reconcile(estimate, estimate).values()) <= {0}
    # The machine found one bill fewer in each non-empty cassette.
    short = {p: n - 1 for p, n in estimate.items() if n > 0}
    assert all(d == -1 for d in reconcile(short, estimate).values())
    # A refill (or report) is the new start: nothing is subtracted twice.
    assert estimate_counts(cassettes, estimate, {}) == estimate


@MANY
@given(machines())
def test_fiat_held_is_bills_times_denominations(machine):
    cassettes, counted = machine
    assert fiat_held_minor(cassettes, counted) == sum(
        c.denomination_minor * counted[c.position] for c in cassettes
    )
    for c in cassettes:
        fill = fill_percent(counted[c.position], c.capacity)
        assert fill is not None and 0 <= fill <= 100


def test_bills_of_one_denomination_come_from_the_lowest_position_first():
    cassettes = [
        Cassette("1", 10000, 500),
        Cassette("2", 5000, 500),
        Cassette("3", 10000, 500),
    ]
    counted = {"1": 30, "2": 40, "3": 100}
    assert estimate_counts(cassettes, counted, {10000: 50, 5000: 5, 500: 9}) == {
        "1": 0,
        "2": 35,
        "3": 80,
    }
    # More than all of them held: empty, never negative.
    assert estimate_counts(cassettes, counted, {10000: 10**12})["3"] == 0


def test_days_until_empty_from_a_synthetic_week():
    # 700 bills went out in 7 days: 100 a day; 250 left is 2.5 days.
    assert days_until(250, 700, RATE_WINDOW_S) == "2.5"
    assert days_until(0, 700, RATE_WINDOW_S) == "0.0"
    assert days_until(99, 700, RATE_WINDOW_S) == "0.9"  # rounded down
    assert days_until(250, 0, RATE_WINDOW_S) is None  # nothing moves
    # A machine counted for one day only: its pace is that day's.
    window = rate_window_s(now=10 * 86400, counted_since=9 * 86400)
    assert window == 86400 and days_until(300, 100, window) == "3.0"
    assert rate_window_s(now=100, counted_since=90) == 3600  # at least an hour
    assert rate_window_s(now=10**9, counted_since=None) == RATE_WINDOW_S


def test_cashbox_intake_counts_rises_and_restarts_after_emptying():
    assert bills_added([]) == 0
    assert bills_added([10, 25, 25, 60]) == 50
    # Emptied at a refill (0), then filling again.
    assert bills_added([100, 160, 0, 30]) == 90
    # 90 bills in 7 days into a box with 270 places left: 21 days.
    assert days_until(270, 90, RATE_WINDOW_S) == "21.0"


@given(st.integers(min_value=0, max_value=MAX_BILLS), st.integers(1, MAX_BILLS))
def test_days_until_is_monotonic_in_what_is_left(left, moved):
    more = days_until(min(left + 1, MAX_BILLS), moved, RATE_WINDOW_S)
    less = days_until(left, moved, RATE_WINDOW_S)
    assert more is not None and less is not None
    assert Decimal(more) >= Decimal(less)


@pytest.mark.parametrize("bad", [-1, MAX_BILLS + 1, True, 1.5, "3"])
def test_counts_out_of_bounds_are_refused(bad):
    with pytest.raises(CashError):
        estimate_counts([Cassette("1", 100, 10)], {"1": bad}, {})
    with pytest.raises(CashError):
        reconcile({"1": bad}, {"1": 0})
