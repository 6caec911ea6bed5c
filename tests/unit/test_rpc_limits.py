"""The budget of requests from authors that are not machines, on a fake clock."""

from __future__ import annotations

import itertools

import pytest

from helpers import FakeClock
from satmachineadmin.rpc.limits import (
    OVER_BUDGET,
    RATE_LIMITED,
    OncePerInterval,
    StrangerGate,
    TokenBucket,
)


def test_the_bucket_spends_its_burst_then_refills_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.05  # half a token
    assert not bucket.take()
    clock.now += 0.05
    assert bucket.take() and not bucket.take()
    clock.now += 3600  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_the_bucket_survives_a_clock_going_back():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1, burst=1, clock=clock)
    assert bucket.take()
    clock.now -= 100
    assert not bucket.take()
    clock.now += 1
    assert bucket.take()


def test_once_per_interval_blocks_a_key_for_the_interval():
    clock = FakeClock()
    turns = OncePerInterval(interval_s=60, max_keys=10, clock=clock)
    assert not turns.blocked("a")
    assert turns.claim("a")
    assert turns.blocked("a") and not turns.claim("a")
    assert turns.claim("b")
    clock.now += 59.9
    assert turns.blocked("a") and not turns.claim("a")
    clock.now += 0.1
    assert not turns.blocked("a")
    assert turns.claim("a")
    assert len(turns) == 1  # b expired with the old a


def test_once_per_interval_is_bounded():
    clock = FakeClock()
    turns = OncePerInterval(interval_s=60, max_keys=3, clock=clock)
    for key in "abcde":
        assert turns.claim(key)
        clock.now += 1
    assert len(turns) == 3
    assert not turns.blocked("a")  # the oldest went first
    assert turns.blocked("e")


def test_a_limited_author_spends_no_budget():
    clock = FakeClock()
    gate = StrangerGate(answer_every_s=60, budget_per_s=1, burst=2, clock=clock)
    assert gate.admit("a") is None
    assert gate.claim_answer("a")
    for _ in range(5):
        assert gate.admit("a") == RATE_LIMITED
    assert gate.admit("b") is None  # the second token is still there
    assert gate.admit("c") == OVER_BUDGET


def test_two_requests_admitted_together_get_one_answer():
    gate = StrangerGate(clock=FakeClock())
    assert gate.admit("a") is None and gate.admit("a") is None
    assert gate.claim_answer("a")
    assert not gate.claim_answer("a")


def test_a_flood_of_fresh_keys_gets_the_budget_and_no_more():
    """200 new keys a second for two minutes: answers follow the budget, each key
    answered once a minute at most, and the map stays within its bound without
    forgetting a key that still holds its turn."""
    clock = FakeClock()
    gate = StrangerGate(answer_every_s=60, budget_per_s=10, burst=20, clock=clock)
    answered: dict[str, list[float]] = {}
    for tick in range(120 * 200):
        clock.now = 500.0 + tick / 200
        key = f"k{tick % 5000}"  # every key comes back every 25 s
        if gate.admit(key) is None and gate.claim_answer(key):
            answered.setdefault(key, []).append(clock.now)
    total = sum(len(times) for times in answered.values())
    assert total <= 20 + 10 * 120
    assert total >= 10 * 120 - 10
    for times in answered.values():
        assert all(b - a >= 60 for a, b in itertools.pairwise(times))
    assert len(gate.answered) <= 10 * 60 + 20


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_per_s": 0, "burst": 1}, {"rate_per_s": 1, "burst": 0}],
)
def test_the_bucket_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        TokenBucket(**kwargs)


def test_an_expected_key_skips_its_minute_but_not_the_budget():
    """A key an operator added by npub may pair right after an unknown_machine
    answer; it still spends the shared budget."""
    gate = StrangerGate(
        answer_every_s=60, budget_per_s=0.001, burst=2, clock=FakeClock()
    )
    assert gate.admit("added") is None and gate.claim_answer("added")
    assert gate.admit("added") == RATE_LIMITED
    assert gate.admit("added", expected=True) is None  # the second token
    assert gate.admit("added", expected=True) == OVER_BUDGET
