"""The fee schedule's rule (contract §9.2): worked examples and properties checked
against an independent reference on ``fractions.Fraction``."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satmachineadmin.calculations import CalculationError, platform_fee
from satmachineadmin.fees import (
    effective_commission_bps,
    fiat_within_limits,
    schedule_fee_sats,
)

MAX_SATS = 21_000_000 * 100_000_000
MANY = settings(max_examples=2000, deadline=None)

sats = st.integers(min_value=0, max_value=MAX_SATS)
bps = st.integers(min_value=0, max_value=10_000)
fixed = st.integers(min_value=0, max_value=1_000_000)


def reference_fee(principal: int, rate_bps: int, fixed_fee: int) -> int:
    """The rule read as a person would: the rate's share, nearest sat, .5 up."""
    share = Fraction(principal * rate_bps, 10_000)
    return fixed_fee + math.floor(share + Fraction(1, 2))


@pytest.mark.parametrize(
    ("principal", "rate", "fixed_fee", "expected"),
    [
        (200_000, 500, 0, 10_000),
        (200_000, 500, 250, 10_250),
        (100, 50, 0, 1),  # 0.5 sat rounds up
        (99, 50, 0, 0),  # 0.495 sat rounds down
        (300, 50, 0, 2),  # 1.5 sats round up
        (0, 10_000, 7, 7),  # the fixed fee alone
        (123_456, 0, 0, 0),
    ],
)
def test_fee_examples(principal, rate, fixed_fee, expected):
    assert (
        schedule_fee_sats(
            principal_sats=principal, commission_bps=rate, fixed_fee_sats=fixed_fee
        )
        == expected
    )


@MANY
@given(principal=sats, rate=bps, fixed_fee=fixed)
def test_fee_is_the_contracts_rule(principal, rate, fixed_fee):
    fee = schedule_fee_sats(
        principal_sats=principal, commission_bps=rate, fixed_fee_sats=fixed_fee
    )
    assert fee == fixed_fee + (principal * rate + 5000) // 10_000
    assert fee == reference_fee(principal, rate, fixed_fee)


@MANY
@given(half=st.integers(min_value=0, max_value=MAX_SATS // 10_000))
def test_an_exact_half_sat_rounds_up(half):
    # At 1 bps this principal is 2*half + 0.5 sats: always an exact half.
    principal = 2 * half * 10_000 + 5_000
    assert (
        schedule_fee_sats(principal_sats=principal, commission_bps=1, fixed_fee_sats=0)
        == 2 * half + 1
    )


@MANY
@given(principal=sats, rate=bps, fixed_fee=fixed)
def test_the_fixed_fee_is_added_unchanged(principal, rate, fixed_fee):
    without = schedule_fee_sats(
        principal_sats=principal, commission_bps=rate, fixed_fee_sats=0
    )
    assert (
        schedule_fee_sats(
            principal_sats=principal, commission_bps=rate, fixed_fee_sats=fixed_fee
        )
        == without + fixed_fee
    )


@MANY
@given(principal=sats, rate=bps, platform=bps, fixed_fee=fixed)
def test_on_the_principal_basis_the_platform_fee_always_fits(
    principal, rate, platform, fixed_fee
):
    effective = effective_commission_bps(
        commission_bps=rate, platform_fee_bps=platform, platform_fee_basis="principal"
    )
    assert effective == max(rate, platform)
    commission = schedule_fee_sats(
        principal_sats=principal, commission_bps=effective, fixed_fee_sats=fixed_fee
    )
    taken = platform_fee(
        commission_sats=commission,
        principal_sats=principal,
        fee_bps=platform,
        fee_basis="principal",
    )
    # The platform gets its whole rate of the principal: never capped.
    assert taken == reference_fee(principal, platform, 0)
    assert taken <= commission


@MANY
@given(rate=bps, platform=bps)
def test_on_the_commission_basis_the_rate_is_the_operators(rate, platform):
    assert (
        effective_commission_bps(
            commission_bps=rate,
            platform_fee_bps=platform,
            platform_fee_basis="commission",
        )
        == rate
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: schedule_fee_sats(
            principal_sats=-1, commission_bps=0, fixed_fee_sats=0
        ),
        lambda: schedule_fee_sats(
            principal_sats=1, commission_bps=10_001, fixed_fee_sats=0
        ),
        lambda: schedule_fee_sats(
            principal_sats=1, commission_bps=0, fixed_fee_sats=-1
        ),
        lambda: schedule_fee_sats(
            principal_sats=1.0,  # type: ignore[arg-type]
            commission_bps=0,
            fixed_fee_sats=0,
        ),
        lambda: effective_commission_bps(
            commission_bps=0,
            platform_fee_bps=0,
            platform_fee_basis="gross",  # type: ignore[arg-type]
        ),
    ],
)
def test_invalid_inputs_are_refused(call):
    with pytest.raises(CalculationError):
        call()


@pytest.mark.parametrize(
    ("amount", "low", "high", "inside"),
    [
        ("20.00", "20", "5000", True),
        ("19.99", "20", "5000", False),
        ("5000.00", "20", "5000", True),
        ("5000.01", "20", "5000", False),
        ("1", None, None, True),
        ("1", None, "0.99", False),
        ("1000000", "1", None, True),
    ],
)
def test_fiat_limits_include_their_ends(amount, low, high, inside):
    assert (
        fiat_within_limits(
            Decimal(amount),
            min_fiat=None if low is None else Decimal(low),
            max_fiat=None if high is None else Decimal(high),
        )
        is inside
    )
