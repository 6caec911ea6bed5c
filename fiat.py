"""Exact fiat amounts: decimal strings on the wire, integer minor units inside.

A currency's minor unit (cents, centavos, or none for JPY) decides how many decimals
an amount may carry. An amount with more decimals than its currency has is refused,
never rounded: a cash machine cannot dispense half a cent, so such input is a bug at
the sender.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lnbits.utils.exchange_rates import allowed_currencies

# ISO 4217 currencies whose minor unit is not 1/100 (those LNbits can price).
_EXPONENT_EXCEPTIONS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}

SATS_PER_BTC = 100_000_000
# Far above any real cash transaction, far below anything that overflows BIGINT.
MAX_FIAT_MINOR = 10**15


def normalize_fiat_code(code: str) -> str:
    normalized = code.strip().upper()
    if normalized not in allowed_currencies():
        raise ValueError(f"unknown fiat currency code '{code}'")
    return normalized


def exponent(code: str) -> int:
    return _EXPONENT_EXCEPTIONS.get(code, 2)


def _parse_decimal(value: str | int | Decimal, what: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(f"{what} must be a decimal string, not a float")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{what} '{value}' is not a decimal number") from exc
    if not parsed.is_finite():
        raise ValueError(f"{what} must be a finite number")
    return parsed


def to_minor(amount: str | int | Decimal, code: str) -> int:
    """Turns "2000.50" GTQ into 200050; refuses extra decimals or negatives."""
    parsed = _parse_decimal(amount, "fiat amount")
    if parsed < 0:
        raise ValueError("fiat amount must not be negative")
    scaled = parsed.scaleb(exponent(code))
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"fiat amount '{amount}' has more decimals than {code} allows "
            f"({exponent(code)})"
        )
    minor = int(scaled)
    if minor > MAX_FIAT_MINOR:
        raise ValueError(f"fiat amount '{amount}' is too large")
    return minor


def to_decimal_string(minor: int, code: str) -> str:
    digits = exponent(code)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def parse_exchange_rate(rate: str | int | Decimal) -> Decimal:
    """Fiat units per 1 BTC, strictly positive."""
    parsed = _parse_decimal(rate, "exchange rate")
    if parsed <= 0:
        raise ValueError("exchange rate must be greater than zero")
    if parsed > Decimal(10) ** 15:
        raise ValueError(f"exchange rate '{rate}' is too large")
    return parsed
