"""Sats for one customer transaction, computed the way the machine does:
decimal strings in, integer sats out, rounding half up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SATS_PER_BTC = Decimal(100_000_000)


@dataclass(frozen=True)
class Amounts:
    """Sats for one customer transaction, derived from fiat, rate and fee."""

    principal_sats: int
    fee_sats: int

    @property
    def amount_sats(self) -> int:
        """Cash-out: what the customer pays (principal + fee)."""
        return self.principal_sats + self.fee_sats

    @property
    def payout_sats(self) -> int:
        """Cash-in: what the customer's invoice is for (principal - fee)."""
        return self.principal_sats - self.fee_sats


def parse_decimal(value: str, what: str) -> Decimal:
    """A non-negative decimal string such as ``"2000.00"``; floats are refused."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a decimal string, not {type(value).__name__}")
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f"{what} must be a decimal string like '200.00': {value!r}")
    return Decimal(value)


def compute_amounts(
    fiat_amount: str, exchange_rate: str, fee_bps: int, fixed_fee_sats: int = 0
) -> Amounts:
    """principal = round(fiat x 10^8 / rate),
    fee = fixed_fee_sats + round(principal x bps / 10^4).

    Both round half up, in Decimal arithmetic; ``exchange_rate`` is fiat per BTC.
    This is the fee rule of a server's fee schedule (contract §9.2).
    """
    fiat = parse_decimal(fiat_amount, "fiat_amount")
    rate = parse_decimal(exchange_rate, "exchange_rate")
    if rate <= 0:
        raise ValueError("exchange_rate must be positive")
    for name, value in (("fee_bps", fee_bps), ("fixed_fee_sats", fixed_fee_sats)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer")
    if not 0 <= fee_bps <= 10_000:
        raise ValueError("fee_bps must be within 0..10000")
    if fixed_fee_sats < 0:
        raise ValueError("fixed_fee_sats must not be negative")
    with localcontext() as ctx:
        ctx.prec = 80
        principal = (fiat * _SATS_PER_BTC / rate).to_integral_value(ROUND_HALF_UP)
        fee = (principal * fee_bps / Decimal(10_000)).to_integral_value(ROUND_HALF_UP)
    return Amounts(principal_sats=int(principal), fee_sats=int(fee) + fixed_fee_sats)
