"""The fee schedule's rule (contract §9.2): pure, synchronous, integers only.

The commission a customer pays is decided on the server, per machine and
direction, by a schedule: a rate in basis points of the principal, rounded half
up, plus a fixed fee in sats. Where the platform fee is taken on the principal,
the schedule's rate is raised to at least that fee's rate, so that the platform
is always paid in full out of the commission (``calculations.platform_fee`` caps
it at the commission otherwise). Fiat limits are compared exactly, as decimals.
"""

from __future__ import annotations

from decimal import Decimal

from .calculations import (
    BPS_DENOMINATOR,
    FeeBasis,
    check_bps,
    check_non_negative,
    ensure,
)

__all__ = [
    "effective_commission_bps",
    "fiat_within_limits",
    "schedule_fee_sats",
]


def schedule_fee_sats(
    *, principal_sats: int, commission_bps: int, fixed_fee_sats: int
) -> int:
    """``fixed_fee_sats + floor((principal_sats * commission_bps + 5000) / 10000)``:
    the contract's rule, half up, exactly."""
    principal = check_non_negative("principal_sats", principal_sats)
    bps = check_bps("commission_bps", commission_bps)
    fixed = check_non_negative("fixed_fee_sats", fixed_fee_sats)
    fee = fixed + (principal * bps + BPS_DENOMINATOR // 2) // BPS_DENOMINATOR
    ensure(fee >= fixed, f"invariant broken: fee {fee} is below the fixed fee")
    return fee


def effective_commission_bps(
    *, commission_bps: int, platform_fee_bps: int, platform_fee_basis: FeeBasis
) -> int:
    """The rate a schedule really charges: on the principal basis, at least the
    platform's own rate, so the platform fee always fits in the commission."""
    bps = check_bps("commission_bps", commission_bps)
    platform = check_bps("platform_fee_bps", platform_fee_bps)
    if platform_fee_basis == "principal":
        return max(bps, platform)
    ensure(
        platform_fee_basis == "commission",
        f"unknown fee basis {platform_fee_basis!r}",
    )
    return bps


def fiat_within_limits(
    fiat_amount: Decimal, *, min_fiat: Decimal | None, max_fiat: Decimal | None
) -> bool:
    """Whether a transaction's fiat lies in ``min_fiat..max_fiat`` (None: no bound),
    both ends included."""
    if min_fiat is not None and fiat_amount < min_fiat:
        return False
    return max_fiat is None or fiat_amount <= max_fiat
