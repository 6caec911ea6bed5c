"""Exact fiat amounts: decimal strings on the wire, integer minor units inside.

A currency's minor unit (cents, centavos, or none for JPY) decides how many decimals
an amount may carry. An amount with more decimals than its currency has is refused,
never rounded: a cash machine cannot dispense half a cent, so such input is a bug at
the sender.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

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

# Far above any real cash transaction, far below anything that overflows BIGINT.
MAX_FIAT_MINOR = 10**15


def normalize_fiat_code(code: str) -> str:
    normalized = code.strip().upper()
    if normalized not in allowed_currencies():
        raise ValueError(f"unknown fiat currency code '{code}'")
    return normalized


def exponent(code: str) -> int:
    return _EXPONENT_EXCEPTIONS.get(code, 2)


# A decimal on the wire is plain ASCII digits with at most one ".": no sign, no
# exponent, no "_" separators, no other scripts' digits. Python's Decimal() accepts
# all of those, and an exponent such as "1e-30000000" makes later exact arithmetic
# build numbers of millions of digits, so the shape is checked on the text first.
_DECIMAL_TEXT = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_NOT_FINITE = {"nan", "snan", "inf", "infinity"}
# Characters of a decimal string, decimals of any amount or rate (trailing zeros
# included), and whole digits of an exchange rate: far beyond any real value.
MAX_DECIMAL_CHARS = 32
MAX_DECIMALS = 8
RATE_MAX_WHOLE_DIGITS = 15
AMOUNT_MAX_WHOLE_DIGITS = 16


def _decimal_text(value: object, what: str) -> str:
    if isinstance(value, Decimal):
        # Internal callers only; bounded before formatting, which would
        # otherwise write out every digit of a huge exponent.
        if not value.is_finite():
            raise ValueError(f"{what} must be a finite number")
        if len(value.as_tuple().digits) > MAX_DECIMAL_CHARS or not (
            -MAX_DECIMAL_CHARS <= value.adjusted() <= MAX_DECIMAL_CHARS
        ):
            raise ValueError(f"{what} has too many digits")
        return format(value, "f")
    if isinstance(value, bool | float):
        raise ValueError(f"{what} must be a decimal string, not a float")
    if isinstance(value, int):
        if value.bit_length() > 128:
            raise ValueError(f"{what} has too many digits")
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f'{what} must be a decimal string such as "2000.00"')
    return value.strip()


def parse_decimal(value: object, what: str, *, max_whole_digits: int) -> Decimal:
    """The one parser of decimal input: refuses anything but plain digits with an
    optional single ".", at most ``max_whole_digits`` significant digits before it
    and MAX_DECIMALS after it, in a few microseconds whatever it is given."""
    text = _decimal_text(value, what)
    if len(text) > MAX_DECIMAL_CHARS:
        raise ValueError(f"{what} has too many digits")
    if text.startswith("-"):
        raise ValueError(f"{what} must not be negative")
    if text.lower().lstrip("+") in _NOT_FINITE:
        raise ValueError(f"{what} must be a finite number")
    match = _DECIMAL_TEXT.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{what} '{text}' is not a decimal number: write it with the digits "
            f"0-9 and at most one '.', such as 2000.00"
        )
    whole, decimals = match.group(1), match.group(2) or ""
    if len(whole.lstrip("0")) > max_whole_digits:
        raise ValueError(f"{what} '{text}' is too large")
    if len(decimals) > MAX_DECIMALS:
        raise ValueError(f"{what} '{text}' has more than {MAX_DECIMALS} decimals")
    return Decimal(text)


def parse_amount(amount: object, what: str = "fiat amount") -> Decimal:
    """A fiat amount's shape, before its currency is known."""
    return parse_decimal(amount, what, max_whole_digits=AMOUNT_MAX_WHOLE_DIGITS)


def to_minor(amount: object, code: str) -> int:
    """Turns "2000.50" GTQ into 200050; refuses extra decimals or negatives."""
    parsed = parse_amount(amount)
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


def parse_exchange_rate(rate: object) -> Decimal:
    """Fiat units per 1 BTC, strictly positive."""
    parsed = parse_decimal(
        rate, "exchange rate", max_whole_digits=RATE_MAX_WHOLE_DIGITS
    )
    if parsed <= 0:
        raise ValueError("exchange rate must be greater than zero")
    return parsed


def rate_from_price(price: float) -> Decimal:
    """A market price (a float) as a rate: the shortest decimal that is that float,
    rounded half up to cents like every other amount, then checked as any rate."""
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise ValueError(f"the price {price!r} is not a number")
    exact = Decimal(repr(price))
    if not exact.is_finite() or exact.adjusted() >= RATE_MAX_WHOLE_DIGITS:
        raise ValueError(f"the price {price!r} is not a usable exchange rate")
    return parse_exchange_rate(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def rate_fraction(rate: Decimal) -> tuple[int, int]:
    """The rate as the exact fraction numerator / denominator for the integer
    money math; refuses a rate that did not come through parse_exchange_rate."""
    checked = parse_exchange_rate(rate)
    return checked.as_integer_ratio()
