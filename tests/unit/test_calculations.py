"""Tests of the money arithmetic: worked examples, invalid inputs, and properties.

The worked examples pin concrete numbers; the property tests check the money
invariants (no sat lost or invented, no LP debited past its balance, nothing
negative) over thousands of generated cases, against an independent reference
built on ``fractions.Fraction``.
"""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import satmachineadmin.calculations as calculations
from satmachineadmin.calculations import (
    BPS_DENOMINATOR,
    CalculationError,
    CommissionSplit,
    LpDistribution,
    check_cash_in_amounts,
    check_cash_out_amounts,
    distribute_principal,
    largest_remainder,
    platform_fee,
    round_half_up,
    split_commission,
)
from satmachineadmin.conversions import (
    ScaledAmounts,
    fiat_to_sats,
    principal_matches_fiat,
    scale_for_partial_dispense,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_SATS = 21_000_000 * 100_000_000
"""Every sat there will ever be."""

MANY = settings(max_examples=2000, deadline=None)
SOME = settings(max_examples=500, deadline=None)
FEW_BIG = settings(max_examples=15, deadline=None)


# --------------------------------------------------------------------------------
# Reference implementations (exact rationals, written independently)
# --------------------------------------------------------------------------------


def reference_round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def reference_largest_remainder(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    weight_sum = sum(weights)
    if weight_sum == 0:
        return (0,) * len(weights)
    quotas = [Fraction(total * w, weight_sum) for w in weights]
    shares = [math.floor(q) for q in quotas]
    leftover = total - sum(shares)
    ranked = sorted(
        range(len(weights)),
        key=lambda i: (-(quotas[i] - shares[i]), -weights[i], i),
    )
    for i in ranked[:leftover]:
        shares[i] += 1
    return tuple(shares)


def assert_fair_apportionment(
    total: int, weights: Sequence[int], shares: Sequence[int]
) -> None:
    """Integer-only check of an apportionment, fast enough for 10 000 entries.

    The shares sum to the total, each is its quota's floor or floor + 1, and the
    entries that got the extra unit rank above all the others by (remainder,
    weight, earlier position).
    """
    weight_sum = sum(weights)
    assert sum(shares) == total
    got_extra: list[tuple[int, int, int]] = []
    no_extra: list[tuple[int, int, int]] = []
    for i, (share, weight) in enumerate(zip(shares, weights, strict=True)):
        floor, remainder = divmod(total * weight, weight_sum)
        assert share in (floor, floor + 1)
        (got_extra if share > floor else no_extra).append((remainder, weight, -i))
    if got_extra and no_extra:
        assert min(got_extra) > max(no_extra)


# --------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------

sats = st.one_of(st.integers(0, 1_000), st.integers(0, 10**8), st.integers(0, MAX_SATS))
fiat_amounts = st.one_of(
    st.integers(0, 100), st.integers(0, 10**6), st.integers(0, 10**13)
)
bps = st.one_of(
    st.sampled_from([0, 1, 50, 2500, 5000, 9999, 10_000]), st.integers(0, 10_000)
)
fee_bases = st.sampled_from(["commission", "principal"])
weight_lists = st.lists(
    st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 10**15)), max_size=40
)
balance_lists = st.lists(
    st.one_of(st.just(0), st.integers(0, 100), st.integers(0, 10**12)), max_size=40
)


@st.composite
def rule_weights(draw: st.DrawFn, max_rules: int = 60) -> list[int]:
    """A partition of 10 000 bps into 1..max_rules positive parts, ties included."""
    presets = [
        [10_000],
        [5000, 5000],
        [3334, 3333, 3333],
        [3333, 3333, 3334],
        [2500] * 4,
        [1] * 10 + [9990],
        [5000, 3000, 2000],
    ]
    if draw(st.booleans()):
        return list(draw(st.sampled_from(presets)))
    cuts = draw(
        st.lists(
            st.integers(1, BPS_DENOMINATOR - 1), unique=True, max_size=max_rules - 1
        )
    )
    points = [0, *sorted(cuts), BPS_DENOMINATOR]
    return [b - a for a, b in itertools.pairwise(points)]


@st.composite
def cash_outs(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """(principal, fiat, balances), with fiat often near the balances' total."""
    balances = draw(balance_lists)
    total = sum(balances)
    fiat = draw(
        st.one_of(
            fiat_amounts,
            st.integers(0, 2 * total + 2),
            st.sampled_from([total, total + 1, max(total - 1, 0)]),
        )
    )
    return draw(sats), fiat, balances


# --------------------------------------------------------------------------------
# round_half_up
# --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 7, 0),
        (5, 2, 3),  # 2.5 -> 3: halves go up
        (4, 2, 2),
        (1, 3, 0),
        (2, 3, 1),
        (15, 10, 2),
        (14, 10, 1),
        (25, 10, 3),
        (24, 10, 2),
        (MAX_SATS * 5000 + 5000, 10_000, MAX_SATS // 2 + 1),
    ],
)
def test_round_half_up_examples(
    numerator: int, denominator: int, expected: int
) -> None:
    assert round_half_up(numerator, denominator) == expected


@SOME
@given(numerator=st.integers(0, MAX_SATS * 10_000), denominator=st.integers(1, 10**12))
def test_round_half_up_matches_exact_rounding(numerator: int, denominator: int) -> None:
    result = round_half_up(numerator, denominator)
    assert result == reference_round_half_up(Fraction(numerator, denominator))
    assert abs(Fraction(numerator, denominator) - result) <= Fraction(1, 2)


# --------------------------------------------------------------------------------
# largest_remainder
# --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (70, [5000, 3000, 2000], (35, 21, 14)),
        (1, [5000, 5000], (1, 0)),  # tie: earlier position
        (1, [3000, 7000], (0, 1)),  # larger remainder (and weight)
        (2, [3334, 3333, 3333], (1, 1, 0)),  # tie 2nd/3rd: earlier position
        (1, [3333, 3333, 3334], (0, 0, 1)),
        (1, [3333, 3334, 3333], (0, 1, 0)),
        (10, [1, 1, 1], (4, 3, 3)),
        (7, [2, 1, 1], (3, 2, 2)),  # larger remainder beats larger weight
        (5, [0, 1, 0, 1], (0, 3, 0, 2)),  # zero weights get nothing
        (3, [1, 3, 2], (0, 2, 1)),  # tie on remainder: larger weight first
        (0, [5, 7], (0, 0)),
        (0, [], ()),
        (0, [0, 0], (0, 0)),
        (MAX_SATS, [1, 1, 1], (700_000_000_000_000,) * 3),
    ],
)
def test_largest_remainder_examples(
    total: int, weights: list[int], expected: tuple[int, ...]
) -> None:
    assert largest_remainder(total, weights) == expected


def test_largest_remainder_accepts_any_sequence_and_returns_a_tuple() -> None:
    assert largest_remainder(3, (1, 2)) == (1, 2)
    assert largest_remainder(3, range(1, 3)) == (1, 2)
    assert isinstance(largest_remainder(3, [1, 2]), tuple)


@MANY
@given(total=sats, weights=weight_lists)
def test_largest_remainder_properties(total: int, weights: list[int]) -> None:
    weight_sum = sum(weights)
    if weight_sum == 0 and total > 0:
        with pytest.raises(CalculationError, match="sum to 0"):
            largest_remainder(total, weights)
        return

    shares = largest_remainder(total, weights)

    assert len(shares) == len(weights)
    assert sum(shares) == total
    assert shares == reference_largest_remainder(total, weights)
    assert shares == largest_remainder(total, list(weights))  # deterministic
    for share, weight in zip(shares, weights, strict=True):
        assert share >= 0
        if weight == 0:
            assert share == 0
        else:
            assert abs(share - Fraction(total * weight, weight_sum)) < 1
    _assert_monotonic(weights, shares)


@FEW_BIG
@given(seed=st.integers(0, 2**64), total=st.integers(0, MAX_SATS))
def test_largest_remainder_ten_thousand_weights(seed: int, total: int) -> None:
    rng = random.Random(seed)
    weights = [rng.choice([0, 1, rng.randrange(10**9)]) for _ in range(10_000)]
    weights[0] = max(weights[0], 1)
    weight_sum = sum(weights)

    shares = largest_remainder(total, weights)

    assert sum(shares) == total
    assert all(
        abs(s * weight_sum - total * w) < weight_sum
        for s, w in zip(shares, weights, strict=True)
    )
    assert_fair_apportionment(total, weights, shares)


# --------------------------------------------------------------------------------
# platform_fee and split_commission
# --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("commission", "principal", "fee_bps", "basis", "expected"),
    [
        (100, 0, 3000, "commission", 30),
        (5, 0, 5000, "commission", 3),  # 2.5 rounds up
        (1, 0, 5000, "commission", 1),  # 0.5 rounds up
        (1, 0, 4999, "commission", 0),
        (12_345, 0, 0, "commission", 0),
        (12_345, 0, 10_000, "commission", 12_345),
        (3000, 100_000, 50, "principal", 500),
        (300, 100_000, 50, "principal", 300),  # capped at the commission
        (10, 1000, 5, "principal", 1),  # 0.5 rounds up
        (10, 999, 5, "principal", 0),  # 0.4995 rounds down
        (0, 100_000, 50, "principal", 0),
        (MAX_SATS, MAX_SATS, 10_000, "principal", MAX_SATS),
    ],
)
def test_platform_fee_examples(
    commission: int, principal: int, fee_bps: int, basis: Any, expected: int
) -> None:
    fee = platform_fee(
        commission_sats=commission,
        principal_sats=principal,
        fee_bps=fee_bps,
        fee_basis=basis,
    )
    assert fee == expected


def test_split_commission_seed_example() -> None:
    split = split_commission(
        commission_sats=100,
        principal_sats=0,
        fee_bps=3000,
        fee_basis="commission",
        rule_weights_bps=[5000, 3000, 2000],
    )
    assert split == CommissionSplit(
        commission_sats=100,
        platform_fee_sats=30,
        operator_fee_sats=70,
        operator_legs_sats=(35, 21, 14),
    )


def test_split_commission_principal_basis() -> None:
    split = split_commission(
        commission_sats=3000,
        principal_sats=100_000,
        fee_bps=50,
        fee_basis="principal",
        rule_weights_bps=[10_000],
    )
    assert split.platform_fee_sats == 500
    assert split.operator_fee_sats == 2500
    assert split.operator_legs_sats == (2500,)


def test_split_commission_principal_basis_capped_leaves_operator_nothing() -> None:
    split = split_commission(
        commission_sats=300,
        principal_sats=100_000,
        fee_bps=50,
        fee_basis="principal",
        rule_weights_bps=[6000, 4000],
    )
    assert split == CommissionSplit(300, 300, 0, (0, 0))


@pytest.mark.parametrize(
    ("commission", "weights", "legs"),
    [
        (1, [5000, 5000], (1, 0)),
        (1, [3000, 7000], (0, 1)),
        (2, [3334, 3333, 3333], (1, 1, 0)),
        (0, [5000, 5000], (0, 0)),
        (7, [2500, 2500, 2500, 2500], (2, 2, 2, 1)),
    ],
)
def test_split_commission_ties_without_platform_fee(
    commission: int, weights: list[int], legs: tuple[int, ...]
) -> None:
    split = split_commission(
        commission_sats=commission,
        principal_sats=0,
        fee_bps=0,
        fee_basis="commission",
        rule_weights_bps=weights,
    )
    assert split.platform_fee_sats == 0
    assert split.operator_fee_sats == commission
    assert split.operator_legs_sats == legs


def test_split_commission_rounding_half_up_edge() -> None:
    split = split_commission(
        commission_sats=5,
        principal_sats=0,
        fee_bps=5000,
        fee_basis="commission",
        rule_weights_bps=[10_000],
    )
    assert (split.platform_fee_sats, split.operator_fee_sats) == (3, 2)


@MANY
@given(
    commission=sats,
    principal=sats,
    fee_bps=bps,
    basis=fee_bases,
    weights=rule_weights(),
)
def test_split_commission_properties(
    commission: int, principal: int, fee_bps: int, basis: Any, weights: list[int]
) -> None:
    split = split_commission(
        commission_sats=commission,
        principal_sats=principal,
        fee_bps=fee_bps,
        fee_basis=basis,
        rule_weights_bps=weights,
    )

    if basis == "commission":
        expected_fee = reference_round_half_up(Fraction(commission * fee_bps, 10_000))
    else:
        expected_fee = min(
            commission, reference_round_half_up(Fraction(principal * fee_bps, 10_000))
        )
    assert split.commission_sats == commission
    assert split.platform_fee_sats == expected_fee
    assert split.platform_fee_sats + split.operator_fee_sats == commission
    assert 0 <= split.platform_fee_sats <= commission
    assert split.operator_fee_sats >= 0
    assert len(split.operator_legs_sats) == len(weights)
    assert sum(split.operator_legs_sats) == split.operator_fee_sats
    assert all(leg >= 0 for leg in split.operator_legs_sats)
    assert split.operator_legs_sats == reference_largest_remainder(
        split.operator_fee_sats, weights
    )
    again = split_commission(
        commission_sats=commission,
        principal_sats=principal,
        fee_bps=fee_bps,
        fee_basis=basis,
        rule_weights_bps=tuple(weights),
    )
    assert again == split


@FEW_BIG
@given(commission=st.integers(0, MAX_SATS), fee_bps=bps)
def test_split_commission_ten_thousand_rules(commission: int, fee_bps: int) -> None:
    weights = [1] * 10_000
    split = split_commission(
        commission_sats=commission,
        principal_sats=0,
        fee_bps=fee_bps,
        fee_basis="commission",
        rule_weights_bps=weights,
    )
    operator = split.operator_fee_sats
    assert split.platform_fee_sats + operator == commission
    assert sum(split.operator_legs_sats) == operator
    # Equal weights: everyone gets floor or floor + 1, the earliest ones the extra.
    base, extra = divmod(operator, 10_000)
    assert split.operator_legs_sats == (base + 1,) * extra + (base,) * (10_000 - extra)


# --------------------------------------------------------------------------------
# distribute_principal
# --------------------------------------------------------------------------------


def test_distribute_principal_covered() -> None:
    result = distribute_principal(
        principal_sats=100_000,
        fiat_minor=10_000,
        balances_minor=[20_000, 5000, 0, 15_000],
    )
    assert result == LpDistribution(
        fiat_minor=(5000, 1250, 0, 3750),
        sats=(50_000, 12_500, 0, 37_500),
        allocated_sats=100_000,
        unallocated_sats=0,
        uncovered_fiat_minor=0,
    )


def test_distribute_principal_covered_with_rounding() -> None:
    result = distribute_principal(
        principal_sats=1001, fiat_minor=100, balances_minor=[100, 100, 100]
    )
    assert result.fiat_minor == (34, 33, 33)
    assert result.sats == (341, 330, 330)
    assert (result.allocated_sats, result.unallocated_sats) == (1001, 0)
    assert result.uncovered_fiat_minor == 0


def test_distribute_principal_tie_goes_to_larger_balance_then_earlier() -> None:
    # Quotas 0.5 / 0.5 / 0 (tie) -> earlier; 1.5 / 0.5 with weights 3 / 1 -> larger.
    assert distribute_principal(
        principal_sats=10, fiat_minor=1, balances_minor=[5, 5]
    ).fiat_minor == (1, 0)
    assert distribute_principal(
        principal_sats=10, fiat_minor=3, balances_minor=[2, 1, 3]
    ).fiat_minor == (1, 0, 2)


def test_distribute_principal_exactly_covered() -> None:
    result = distribute_principal(
        principal_sats=50_000, fiat_minor=10_000, balances_minor=[3000, 7000]
    )
    assert result == LpDistribution((3000, 7000), (15_000, 35_000), 50_000, 0, 0)


def test_distribute_principal_not_covered() -> None:
    result = distribute_principal(
        principal_sats=100_000, fiat_minor=10_000, balances_minor=[2000, 1000]
    )
    assert result == LpDistribution(
        fiat_minor=(2000, 1000),
        sats=(20_000, 10_000),
        allocated_sats=30_000,
        unallocated_sats=70_000,
        uncovered_fiat_minor=7000,
    )


def test_distribute_principal_not_covered_with_rounding() -> None:
    # 1000 * 2 / 3 = 666.67 -> 667 allocated, split 334 / 333 (tie -> earlier).
    result = distribute_principal(
        principal_sats=1000, fiat_minor=3, balances_minor=[1, 1]
    )
    assert result == LpDistribution((1, 1), (334, 333), 667, 333, 1)


def test_distribute_principal_zero_balances() -> None:
    result = distribute_principal(
        principal_sats=100_000, fiat_minor=10_000, balances_minor=[0, 0]
    )
    assert result == LpDistribution((0, 0), (0, 0), 0, 100_000, 10_000)


def test_distribute_principal_no_lps() -> None:
    result = distribute_principal(principal_sats=7, fiat_minor=3, balances_minor=[])
    assert result == LpDistribution((), (), 0, 7, 3)


def test_distribute_principal_zero_fiat() -> None:
    result = distribute_principal(
        principal_sats=100_000, fiat_minor=0, balances_minor=[500, 700]
    )
    assert result == LpDistribution((0, 0), (0, 0), 0, 100_000, 0)


def test_distribute_principal_zero_principal() -> None:
    result = distribute_principal(
        principal_sats=0, fiat_minor=10, balances_minor=[30, 10]
    )
    assert result == LpDistribution((8, 2), (0, 0), 0, 0, 0)


def test_distribute_principal_never_debits_past_a_balance() -> None:
    # A proof by example of the worst case for "share <= balance": B == F, where
    # every quota is exactly the balance, and tiny balances next to a large one.
    balances = [1, 1, 1, 9997]
    result = distribute_principal(
        principal_sats=10**8, fiat_minor=sum(balances), balances_minor=balances
    )
    assert result.fiat_minor == tuple(balances)
    result = distribute_principal(
        principal_sats=10**8, fiat_minor=sum(balances) - 1, balances_minor=balances
    )
    assert result.fiat_minor == (1, 1, 1, 9996)


def _check_distribution_properties(
    principal: int,
    fiat: int,
    balances: list[int],
    result: LpDistribution,
    *,
    against_reference: bool = True,
) -> None:
    covered = sum(balances)
    n = len(balances)

    assert len(result.fiat_minor) == len(result.sats) == n
    assert sum(result.sats) + result.unallocated_sats == principal
    assert sum(result.sats) == result.allocated_sats
    assert sum(result.fiat_minor) <= fiat
    assert sum(result.fiat_minor) + result.uncovered_fiat_minor == fiat
    assert all(x >= 0 for x in (*result.fiat_minor, *result.sats))
    assert min(result.unallocated_sats, result.uncovered_fiat_minor) >= 0
    for share, balance, paid in zip(
        result.fiat_minor, balances, result.sats, strict=True
    ):
        assert share <= balance
        if balance == 0:
            assert share == paid == 0

    if fiat == 0 or covered == 0:
        assert result.allocated_sats == 0
        assert result.uncovered_fiat_minor == fiat
    elif covered >= fiat:
        if against_reference:
            assert result.fiat_minor == reference_largest_remainder(fiat, balances)
        assert_fair_apportionment(fiat, balances, result.fiat_minor)
        assert sum(result.fiat_minor) == fiat
        assert result.allocated_sats == principal
        assert result.uncovered_fiat_minor == 0
    else:
        assert result.fiat_minor == tuple(balances)
        assert result.allocated_sats == reference_round_half_up(
            Fraction(principal * covered, fiat)
        )
        assert result.uncovered_fiat_minor == fiat - covered
    if against_reference:
        assert result.sats == reference_largest_remainder(
            result.allocated_sats, result.fiat_minor
        )
    if sum(result.fiat_minor):
        assert_fair_apportionment(result.allocated_sats, result.fiat_minor, result.sats)

    # Sats follow fiat: within one sat of the exact pro-rata amount, and an LP
    # with a strictly larger balance never gets fewer fiat units.
    fiat_paid = sum(result.fiat_minor)
    for share, paid in zip(result.fiat_minor, result.sats, strict=True):
        if fiat_paid:
            assert abs(paid * fiat_paid - result.allocated_sats * share) < fiat_paid
    _assert_monotonic(balances, result.fiat_minor)
    _assert_monotonic(result.fiat_minor, result.sats)


def _assert_monotonic(keys: Sequence[int], values: Sequence[int]) -> None:
    """A strictly larger key never gets a smaller value (checked group by group)."""
    by_key: dict[int, list[int]] = defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        by_key[key].append(value)
    for lower, higher in itertools.pairwise(sorted(by_key)):
        assert max(by_key[lower]) <= min(by_key[higher])


@MANY
@given(case=cash_outs())
def test_distribute_principal_properties(case: tuple[int, int, list[int]]) -> None:
    principal, fiat, balances = case
    result = distribute_principal(
        principal_sats=principal, fiat_minor=fiat, balances_minor=balances
    )
    _check_distribution_properties(
        principal, fiat, balances, result, against_reference=len(balances) < 100
    )
    again = distribute_principal(
        principal_sats=principal, fiat_minor=fiat, balances_minor=tuple(balances)
    )
    assert again == result


@FEW_BIG
@given(
    seed=st.integers(0, 2**64),
    principal=st.integers(0, MAX_SATS),
    coverage=st.sampled_from(
        [Fraction(0), Fraction(1, 3), Fraction(1), Fraction(5, 2)]
    ),
)
def test_distribute_principal_ten_thousand_lps(
    seed: int, principal: int, coverage: Fraction
) -> None:
    rng = random.Random(seed)
    balances = [
        rng.choice([0, rng.randrange(100), rng.randrange(10**9)]) for _ in range(10_000)
    ]
    fiat = max(1, math.floor(sum(balances) * coverage))
    result = distribute_principal(
        principal_sats=principal, fiat_minor=fiat, balances_minor=balances
    )
    _check_distribution_properties(
        principal, fiat, balances, result, against_reference=len(balances) < 100
    )


# --------------------------------------------------------------------------------
# scale_for_partial_dispense
# --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "fee", "fiat", "dispensed", "expected"),
    [
        (100_000, 5000, 20_000, 5000, (25_000, 1250, 5000)),
        (100_000, 5000, 20_000, 20_000, (100_000, 5000, 20_000)),
        (100_000, 5000, 20_000, 0, (0, 0, 0)),
        (1, 1, 2, 1, (1, 1, 1)),  # 0.5 and 0.5 both round up
        (3, 1, 4, 1, (1, 0, 1)),  # 0.75 -> 1, 0.25 -> 0
        (MAX_SATS, 0, 3, 1, (700_000_000_000_000, 0, 1)),
    ],
)
def test_scale_for_partial_dispense_examples(
    principal: int, fee: int, fiat: int, dispensed: int, expected: tuple[int, int, int]
) -> None:
    scaled = scale_for_partial_dispense(
        principal_sats=principal,
        fee_sats=fee,
        fiat_minor=fiat,
        dispensed_fiat_minor=dispensed,
    )
    assert scaled == ScaledAmounts(*expected)


@SOME
@given(
    principal=sats,
    fee=sats,
    fiat=st.integers(1, 10**9),
    fractions=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
)
def test_scale_for_partial_dispense_properties(
    principal: int, fee: int, fiat: int, fractions: tuple[int, int]
) -> None:
    low, high = sorted(fiat * f // 10**6 for f in fractions)

    def scale(dispensed: int) -> ScaledAmounts:
        return scale_for_partial_dispense(
            principal_sats=principal,
            fee_sats=fee,
            fiat_minor=fiat,
            dispensed_fiat_minor=dispensed,
        )

    at_low, at_high = scale(low), scale(high)
    for dispensed, scaled in ((low, at_low), (high, at_high)):
        assert scaled.fiat_minor == dispensed
        assert scaled.principal_sats == reference_round_half_up(
            Fraction(principal * dispensed, fiat)
        )
        assert scaled.fee_sats == reference_round_half_up(
            Fraction(fee * dispensed, fiat)
        )
        assert 0 <= scaled.principal_sats <= principal
        assert 0 <= scaled.fee_sats <= fee
    assert at_low.principal_sats <= at_high.principal_sats
    assert at_low.fee_sats <= at_high.fee_sats
    assert scale(fiat) == ScaledAmounts(principal, fee, fiat)


# --------------------------------------------------------------------------------
# check_cash_out_amounts and check_cash_in_amounts
# --------------------------------------------------------------------------------


def test_check_cash_out_amounts_accepts_consistent_amounts() -> None:
    check_cash_out_amounts(gross_sats=105_000, principal_sats=100_000, fee_sats=5000)
    check_cash_out_amounts(gross_sats=0, principal_sats=0, fee_sats=0)


def test_check_cash_in_amounts_accepts_fee_up_to_principal() -> None:
    check_cash_in_amounts(principal_sats=100_000, fee_sats=5000)
    check_cash_in_amounts(principal_sats=100, fee_sats=100)
    check_cash_in_amounts(principal_sats=0, fee_sats=0)


@SOME
@given(gross=sats, principal=sats, fee=sats)
def test_check_cash_out_amounts_accepts_exactly_the_balanced_ones(
    gross: int, principal: int, fee: int
) -> None:
    check_cash_out_amounts(
        gross_sats=principal + fee, principal_sats=principal, fee_sats=fee
    )
    if gross != principal + fee:
        with pytest.raises(CalculationError, match="must equal principal_sats"):
            check_cash_out_amounts(
                gross_sats=gross, principal_sats=principal, fee_sats=fee
            )


@given(principal=sats, fee=sats)
def test_check_cash_in_amounts_accepts_exactly_fee_at_most_principal(
    principal: int, fee: int
) -> None:
    if fee <= principal:
        check_cash_in_amounts(principal_sats=principal, fee_sats=fee)
    else:
        with pytest.raises(CalculationError, match="must not exceed principal_sats"):
            check_cash_in_amounts(principal_sats=principal, fee_sats=fee)


# --------------------------------------------------------------------------------
# Invalid inputs
# --------------------------------------------------------------------------------

VALID_CALLS: dict[Callable[..., Any], dict[str, Any]] = {
    platform_fee: {
        "commission_sats": 100,
        "principal_sats": 1000,
        "fee_bps": 3000,
        "fee_basis": "commission",
    },
    split_commission: {
        "commission_sats": 100,
        "principal_sats": 1000,
        "fee_bps": 3000,
        "fee_basis": "principal",
        "rule_weights_bps": [5000, 3000, 2000],
    },
    distribute_principal: {
        "principal_sats": 1000,
        "fiat_minor": 100,
        "balances_minor": [60, 60],
    },
    scale_for_partial_dispense: {
        "principal_sats": 1000,
        "fee_sats": 50,
        "fiat_minor": 100,
        "dispensed_fiat_minor": 40,
    },
    check_cash_out_amounts: {
        "gross_sats": 1050,
        "principal_sats": 1000,
        "fee_sats": 50,
    },
    check_cash_in_amounts: {"principal_sats": 1000, "fee_sats": 50},
}


@pytest.mark.parametrize("function", list(VALID_CALLS), ids=lambda f: f.__name__)
def test_valid_calls_used_below_succeed(function: Callable[..., Any]) -> None:
    function(**VALID_CALLS[function])


@pytest.mark.parametrize(
    ("function", "overrides", "message"),
    [
        (
            platform_fee,
            {"commission_sats": -1},
            r"commission_sats must be >= 0, got -1",
        ),
        (platform_fee, {"principal_sats": -5}, r"principal_sats must be >= 0, got -5"),
        (platform_fee, {"fee_bps": -1}, r"fee_bps must be between 0 and 10000, got -1"),
        (platform_fee, {"fee_bps": 10_001}, r"fee_bps must be between 0 and 10000"),
        (platform_fee, {"fee_basis": "gross"}, r"fee_basis must be one of .*'gross'"),
        (platform_fee, {"fee_basis": None}, r"fee_basis must be one of .*None"),
        (split_commission, {"commission_sats": -1}, r"commission_sats must be >= 0"),
        (split_commission, {"principal_sats": -1}, r"principal_sats must be >= 0"),
        (split_commission, {"fee_bps": 20_000}, r"fee_bps must be between 0 and 10000"),
        (split_commission, {"fee_basis": "Principal"}, r"fee_basis must be one of"),
        (
            split_commission,
            {"rule_weights_bps": [5000, 3000, 1999]},
            r"rule_weights_bps must sum to 10000, got 9999",
        ),
        (
            split_commission,
            {"rule_weights_bps": [5000, 5001]},
            r"rule_weights_bps must sum to 10000, got 10001",
        ),
        (
            split_commission,
            {"rule_weights_bps": [10_000, 0]},
            r"rule_weights_bps\[1\] must be between 1 and 10000, got 0",
        ),
        (
            split_commission,
            {"rule_weights_bps": [10_001, -1]},
            r"rule_weights_bps\[0\] must be between 1 and 10000, got 10001",
        ),
        (
            split_commission,
            {"rule_weights_bps": []},
            r"rule_weights_bps must not be empty",
        ),
        (
            split_commission,
            {"rule_weights_bps": "10000"},
            r"rule_weights_bps must be a sequence of ints, got str",
        ),
        (
            split_commission,
            {"rule_weights_bps": 10_000},
            r"rule_weights_bps must be a sequence of ints, got int",
        ),
        (distribute_principal, {"principal_sats": -1}, r"principal_sats must be >= 0"),
        (
            distribute_principal,
            {"fiat_minor": -100},
            r"fiat_minor must be >= 0, got -100",
        ),
        (
            distribute_principal,
            {"balances_minor": [10, -1]},
            r"balances_minor\[1\] must be >= 0, got -1",
        ),
        (
            distribute_principal,
            {"balances_minor": None},
            r"balances_minor must be a sequence of ints, got NoneType",
        ),
        (
            scale_for_partial_dispense,
            {"dispensed_fiat_minor": 101},
            r"dispensed_fiat_minor \(101\) must not exceed fiat_minor \(100\)",
        ),
        (
            scale_for_partial_dispense,
            {"dispensed_fiat_minor": -1},
            r"dispensed_fiat_minor must be >= 0, got -1",
        ),
        (
            scale_for_partial_dispense,
            {"fiat_minor": 0, "dispensed_fiat_minor": 0},
            r"fiat_minor must be > 0, got 0",
        ),
        (
            scale_for_partial_dispense,
            {"principal_sats": -1},
            r"principal_sats must be >= 0",
        ),
        (scale_for_partial_dispense, {"fee_sats": -1}, r"fee_sats must be >= 0"),
        (
            check_cash_out_amounts,
            {"gross_sats": 1049},
            r"gross_sats \(1049\) must equal principal_sats \+ fee_sats "
            r"\(1000 \+ 50 = 1050\)",
        ),
        (check_cash_out_amounts, {"gross_sats": -1}, r"gross_sats must be >= 0"),
        (
            check_cash_out_amounts,
            {"gross_sats": 950, "fee_sats": -50},
            r"fee_sats must be >= 0, got -50",
        ),
        (
            check_cash_in_amounts,
            {"fee_sats": 1001},
            r"fee_sats \(1001\) must not exceed principal_sats \(1000\)",
        ),
        (check_cash_in_amounts, {"principal_sats": -1}, r"principal_sats must be >= 0"),
        (check_cash_in_amounts, {"fee_sats": -1}, r"fee_sats must be >= 0"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_invalid_inputs_are_rejected(
    function: Callable[..., Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(CalculationError, match=message):
        function(**{**VALID_CALLS[function], **overrides})


def _non_int_cases() -> Iterator[Any]:
    """Every int argument (and sequence element) replaced by a float and a bool."""
    for function, valid in VALID_CALLS.items():
        for name, value in valid.items():
            if isinstance(value, list):
                for bad, bad_type in ((float(value[0]), "float"), (True, "bool")):
                    yield pytest.param(
                        function,
                        {name: [bad, *value[1:]]},
                        rf"{name}\[0\] must be an int, got {bad_type}",
                        id=f"{function.__name__}-{name}[0]-{bad_type}",
                    )
            elif isinstance(value, int):
                for bad, bad_type in ((float(value), "float"), (True, "bool")):
                    yield pytest.param(
                        function,
                        {name: bad},
                        rf"{name} must be an int, got {bad_type}",
                        id=f"{function.__name__}-{name}-{bad_type}",
                    )


@pytest.mark.parametrize(("function", "overrides", "message"), list(_non_int_cases()))
def test_floats_and_bools_are_rejected(
    function: Callable[..., Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(CalculationError, match=message):
        function(**{**VALID_CALLS[function], **overrides})


# The float, bool, set and bytes arguments below break the signatures on purpose: the
# runtime guards that reject them are what is under test, so each such call tells the
# type checker it is deliberate.
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: round_half_up(-1, 2), r"numerator must be >= 0, got -1"),
        (lambda: round_half_up(1, 0), r"denominator must be > 0, got 0"),
        (lambda: round_half_up(1, -2), r"denominator must be > 0, got -2"),
        (lambda: round_half_up(1.0, 2), r"numerator must be an int, got float"),  # type: ignore[arg-type]
        (lambda: round_half_up(1, True), r"denominator must be an int, got bool"),
        (lambda: largest_remainder(-1, [1]), r"total must be >= 0, got -1"),
        (lambda: largest_remainder(1, [1, -1]), r"weights\[1\] must be >= 0, got -1"),
        (lambda: largest_remainder(1, [0, 0]), r"cannot apportion total 1 .*sum to 0"),
        (lambda: largest_remainder(1, []), r"cannot apportion total 1 .*0 weights"),
        (lambda: largest_remainder(1.5, [1]), r"total must be an int, got float"),  # type: ignore[arg-type]
        (lambda: largest_remainder(False, [1]), r"total must be an int, got bool"),
        (lambda: largest_remainder(1, [0.5, 0.5]), r"weights\[0\] must be an int"),  # type: ignore[list-item]
        (
            lambda: largest_remainder(1, [1, True]),
            r"weights\[1\] must be an int, got bool",
        ),
        (lambda: largest_remainder(1, {1, 2}), r"weights must be a sequence of ints"),  # type: ignore[arg-type]
        (lambda: largest_remainder(1, b"\x01"), r"weights must be a sequence of ints"),
    ],
)
def test_invalid_inputs_to_the_primitives_are_rejected(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(CalculationError, match=message):
        call()


def test_calculation_error_is_a_value_error() -> None:
    assert issubclass(CalculationError, ValueError)


# --------------------------------------------------------------------------------
# Output invariants are checked, not assumed
# --------------------------------------------------------------------------------


def test_split_commission_refuses_legs_that_lose_a_sat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        calculations, "largest_remainder", lambda total, weights: (total - 1, 0, 0)
    )
    with pytest.raises(CalculationError, match="operator legs sum to 69"):
        split_commission(
            commission_sats=100,
            principal_sats=0,
            fee_bps=3000,
            fee_basis="commission",
            rule_weights_bps=[5000, 3000, 2000],
        )


def test_platform_fee_refuses_a_fee_above_the_commission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calculations, "round_half_up", lambda n, d: 101)
    with pytest.raises(CalculationError, match=r"platform fee 101 is outside 0\.\.100"):
        platform_fee(
            commission_sats=100, principal_sats=0, fee_bps=3000, fee_basis="commission"
        )


def test_distribute_principal_refuses_to_overdraw_a_balance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def skewed(total: int, weights: Sequence[int]) -> tuple[int, ...]:
        return (total, *([0] * (len(weights) - 1)))

    monkeypatch.setattr(calculations, "largest_remainder", skewed)
    with pytest.raises(
        CalculationError, match="LP 0 debited 100, more than its balance 60"
    ):
        distribute_principal(
            principal_sats=1000, fiat_minor=100, balances_minor=[60, 60]
        )


def test_distribute_principal_refuses_to_invent_sats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calculations, "round_half_up", lambda n, d: 2000)
    with pytest.raises(CalculationError, match="negative amount"):
        distribute_principal(principal_sats=1000, fiat_minor=100, balances_minor=[10])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CommissionSplit(100, 30, 71, (71,)), r"platform 30 \+ operator 71"),
        (lambda: CommissionSplit(100, 30, 70, (35, 35, 1)), r"legs sum to 71"),
        (lambda: CommissionSplit(100, 130, -30, (-30,)), r"negative amount"),
        (lambda: LpDistribution((1, 1), (5,), 5, 0, 0), r"2 fiat shares but 1 sat"),
        (
            lambda: LpDistribution((1, 1), (5, 5), 9, 0, 0),
            r"sum to 10, not allocated 9",
        ),
        (lambda: LpDistribution((0, 1), (5, 5), 10, 0, 0), r"LP 0 gets 5 sats for no"),
        (lambda: LpDistribution((1,), (5,), 5, -1, 0), r"negative amount"),
        (lambda: ScaledAmounts(-1, 0, 0), r"negative amount"),
    ],
)
def test_results_cannot_be_built_broken(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(CalculationError, match=message):
        build()


def test_invariant_checks_survive_python_optimise_flag() -> None:
    code = (
        "import calculations as c\n"
        "assert False, 'asserts are on'\n"
        "try:\n"
        "    c.CommissionSplit(100, 30, 71, (71,))\n"
        "except c.CalculationError:\n"
        "    print('refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-O", "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "refused"


# --- principal_matches_fiat ------------------------------------------------------


def _matches(principal: int, fiat_minor: int, rate: str, tolerance: int = 200) -> bool:
    from decimal import Decimal

    numerator, denominator = Decimal(rate).as_integer_ratio()
    return principal_matches_fiat(
        principal_sats=principal,
        fiat_minor=fiat_minor,
        fiat_exponent=2,
        rate_numerator=numerator,
        rate_denominator=denominator,
        tolerance_bps=tolerance,
    )


def test_principal_matches_fiat_at_the_rate():
    # 2000.00 at 666666.67 per BTC is 299_999.9985 sats.
    assert _matches(300_000, 200_000, "666666.67")
    assert _matches(299_999, 200_000, "666666.67", tolerance=0) is False
    # 2 % either side of the exact value (bounds 293_999.9985 and 305_999.998).
    assert _matches(305_999, 200_000, "666666.67")
    assert not _matches(306_000, 200_000, "666666.67")
    assert _matches(294_000, 200_000, "666666.67")
    assert not _matches(293_999, 200_000, "666666.67")


def test_principal_matches_fiat_exact_with_zero_tolerance():
    # 1.00 at 100000.00 per BTC is exactly 1000 sats.
    assert _matches(1000, 100, "100000.00", tolerance=0)
    assert not _matches(1001, 100, "100000.00", tolerance=0)


def test_principal_matches_fiat_rejects_bad_rates():
    with pytest.raises(CalculationError, match="exchange rate must be positive"):
        principal_matches_fiat(
            principal_sats=1,
            fiat_minor=1,
            fiat_exponent=2,
            rate_numerator=0,
            rate_denominator=1,
            tolerance_bps=200,
        )


def test_fiat_to_sats_rounds_half_up():
    # 10.00 at 500000.00 per BTC is exactly 2000 sats.
    assert (
        fiat_to_sats(
            fiat_minor=1000, fiat_exponent=2, rate_numerator=500000, rate_denominator=1
        )
        == 2000
    )
    # 0.01 at 666666.67 is 1.4999999925 sats: rounds to 1; 0.03 is 4.49999...: 4.
    numerator, denominator = 66666667, 100
    assert (
        fiat_to_sats(
            fiat_minor=1,
            fiat_exponent=2,
            rate_numerator=numerator,
            rate_denominator=denominator,
        )
        == 1
    )
    assert (
        fiat_to_sats(
            fiat_minor=3,
            fiat_exponent=2,
            rate_numerator=numerator,
            rate_denominator=denominator,
        )
        == 4
    )
    # 1 JPY at 20_000_000 JPY/BTC is 5 sats exactly (no minor unit).
    assert (
        fiat_to_sats(
            fiat_minor=1, fiat_exponent=0, rate_numerator=20_000_000, rate_denominator=1
        )
        == 5
    )
    with pytest.raises(CalculationError, match="must be positive"):
        fiat_to_sats(
            fiat_minor=1, fiat_exponent=2, rate_numerator=1, rate_denominator=0
        )


# --------------------------------------------------------------------------------
# customer_sats: the one rule for what the customer pays or receives


@given(
    principal=st.integers(min_value=0, max_value=MAX_SATS),
    fee=st.integers(min_value=0, max_value=MAX_SATS),
)
def test_a_cash_out_customer_pays_principal_plus_fee(principal: int, fee: int) -> None:
    owed = calculations.customer_sats(
        direction="cash_out", principal_sats=principal, fee_sats=fee
    )
    assert owed - fee == principal


@given(
    principal=st.integers(min_value=0, max_value=MAX_SATS),
    fee=st.integers(min_value=0, max_value=MAX_SATS),
)
def test_a_cash_in_customer_receives_principal_less_fee(
    principal: int, fee: int
) -> None:
    if fee > principal:
        with pytest.raises(CalculationError, match="must not exceed"):
            calculations.customer_sats(
                direction="cash_in", principal_sats=principal, fee_sats=fee
            )
        return
    received = calculations.customer_sats(
        direction="cash_in", principal_sats=principal, fee_sats=fee
    )
    assert received + fee == principal


def test_customer_sats_refuses_negatives_and_unknown_directions() -> None:
    for direction in ("cash_in", "cash_out"):
        with pytest.raises(CalculationError, match=">= 0"):
            calculations.customer_sats(
                direction=direction, principal_sats=-1, fee_sats=0
            )
        with pytest.raises(CalculationError, match=">= 0"):
            calculations.customer_sats(
                direction=direction, principal_sats=0, fee_sats=-1
            )
    with pytest.raises(CalculationError, match="unknown direction"):
        calculations.customer_sats(direction="sideways", principal_sats=1, fee_sats=0)
