"""Sats for fiat, exactly: at an exchange rate, and scaled to a partial dispense.

Pure and integer-only like :mod:`calculations`, whose input checks and rounding it
uses (``calculations`` imports nothing from here, so that it loads on its own). A
rate is fiat units per BTC given as the exact fraction ``numerator / denominator``;
fiat is in minor units with the currency's ``fiat_exponent`` decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

from .calculations import (
    BPS_DENOMINATOR,
    check_bps,
    check_int,
    check_non_negative,
    ensure,
    round_half_up,
)

__all__ = [
    "SATS_PER_BTC",
    "ScaledAmounts",
    "fiat_to_sats",
    "principal_matches_fiat",
    "scale_for_partial_dispense",
]

SATS_PER_BTC = 100_000_000


def _check_rate(numerator: object, denominator: object) -> tuple[int, int]:
    """An exchange rate given as the exact fraction numerator / denominator > 0."""
    num = check_int("rate_numerator", numerator)
    den = check_int("rate_denominator", denominator)
    ensure(num > 0 and den > 0, f"the exchange rate must be positive, got {num}/{den}")
    return num, den


def principal_matches_fiat(
    *,
    principal_sats: int,
    fiat_minor: int,
    fiat_exponent: int,
    rate_numerator: int,
    rate_denominator: int,
    tolerance_bps: int,
) -> bool:
    """Whether ``principal_sats`` is worth ``fiat_minor`` at the exchange rate.

    The rate is fiat units per BTC, given as the exact fraction
    ``rate_numerator / rate_denominator``; the fiat is in minor units with
    ``fiat_exponent`` decimals. The principal may differ from
    ``fiat * 10^8 / rate`` by at most ``tolerance_bps`` of that value, so that a
    faulty machine cannot short the liquidity providers who fund the cash.
    """
    principal = check_non_negative("principal_sats", principal_sats)
    fiat = check_non_negative("fiat_minor", fiat_minor)
    exponent = check_non_negative("fiat_exponent", fiat_exponent)
    numerator, denominator = _check_rate(rate_numerator, rate_denominator)
    tolerance = check_bps("tolerance_bps", tolerance_bps)
    # expected = fiat * 10^8 * den / (10^exp * num): compare over that denominator.
    expected_scaled = fiat * SATS_PER_BTC * denominator
    principal_scaled = principal * 10**exponent * numerator
    difference = abs(principal_scaled - expected_scaled)
    return difference * BPS_DENOMINATOR <= tolerance * expected_scaled


def fiat_to_sats(
    *,
    fiat_minor: int,
    fiat_exponent: int,
    rate_numerator: int,
    rate_denominator: int,
) -> int:
    """Sats for ``fiat_minor`` at a rate of fiat per BTC, rounded half up.

    sats = fiat_minor / 10^exp * 10^8 / (numerator / denominator).
    """
    fiat = check_non_negative("fiat_minor", fiat_minor)
    exponent = check_non_negative("fiat_exponent", fiat_exponent)
    numerator, denominator = _check_rate(rate_numerator, rate_denominator)
    return round_half_up(fiat * SATS_PER_BTC * denominator, 10**exponent * numerator)


@dataclass(frozen=True)
class ScaledAmounts:
    """A transaction's amounts scaled down to the fiat actually dispensed."""

    principal_sats: int
    fee_sats: int
    fiat_minor: int

    def __post_init__(self) -> None:
        ensure(
            min(self.principal_sats, self.fee_sats, self.fiat_minor) >= 0,
            f"invariant broken: negative amount in {self!r}",
        )


def scale_for_partial_dispense(
    *, principal_sats: int, fee_sats: int, fiat_minor: int, dispensed_fiat_minor: int
) -> ScaledAmounts:
    """Scale a cash-out to the fiat the machine actually dispensed.

    When the machine hands out less cash than was requested, the customer only
    owes, and the LPs are only owed, the matching fraction of the principal and
    of the fee. Each is rounded half up on its own; a full dispense returns the
    amounts unchanged, so no rounding touches the common case.
    """
    principal = check_non_negative("principal_sats", principal_sats)
    fee = check_non_negative("fee_sats", fee_sats)
    fiat = check_int("fiat_minor", fiat_minor)
    ensure(fiat > 0, f"fiat_minor must be > 0, got {fiat}")
    dispensed = check_non_negative("dispensed_fiat_minor", dispensed_fiat_minor)
    ensure(
        dispensed <= fiat,
        f"dispensed_fiat_minor ({dispensed}) must not exceed fiat_minor ({fiat})",
    )

    if dispensed == fiat:
        return ScaledAmounts(principal_sats=principal, fee_sats=fee, fiat_minor=fiat)
    scaled = ScaledAmounts(
        principal_sats=round_half_up(principal * dispensed, fiat),
        fee_sats=round_half_up(fee * dispensed, fiat),
        fiat_minor=dispensed,
    )
    ensure(
        scaled.principal_sats <= principal and scaled.fee_sats <= fee,
        f"invariant broken: scaling to {dispensed}/{fiat} grew the amounts: {scaled!r}",
    )
    return scaled
