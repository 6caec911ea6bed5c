"""What a customer pays at a machine for an example amount, under its current
fee schedule, and how that commission then splits (the two-stage preview)."""

from __future__ import annotations

from decimal import Decimal

from .. import calculations, conversions, fiat
from ..errors import Conflict, InvalidInput
from ..fees import fiat_within_limits, schedule_fee_sats
from ..models import FeeQuote, FeeQuoteRequest, SplitPreviewRequest
from .fees import machine_fees
from .splits import preview_split


async def fee_quote(
    operator_id: str, machine_id: str, data: FeeQuoteRequest
) -> FeeQuote:
    fees = await machine_fees(operator_id, machine_id)
    code = fees.schedule["fiat_code"]
    if code is None:
        raise Conflict("this machine has no fiat currency yet")
    try:
        minor = fiat.to_minor(data.fiat_amount, code)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    rate = fiat.parse_exchange_rate(data.exchange_rate)
    numerator, denominator = fiat.rate_fraction(rate)
    principal = conversions.fiat_to_sats(
        fiat_minor=minor,
        fiat_exponent=fiat.exponent(code),
        rate_numerator=numerator,
        rate_denominator=denominator,
    )
    direction_fees = fees.schedule[data.direction.value]
    fee = schedule_fee_sats(
        principal_sats=principal,
        commission_bps=direction_fees["commission_bps"],
        fixed_fee_sats=direction_fees["fixed_fee_sats"],
    )
    if data.direction.value == "cash_in" and fee > principal:
        raise InvalidInput(
            f"at {data.fiat_amount} {code} the fee ({fee} sats) is more than the "
            f"principal ({principal} sats): a customer would receive nothing"
        )
    split = await preview_split(
        operator_id,
        SplitPreviewRequest(
            commission_sats=fee,
            principal_sats=principal,
            direction=data.direction,
            rules=None,
        ),
    )
    return FeeQuote(
        direction=data.direction,
        fiat_amount=fiat.to_decimal_string(minor, code),
        fiat_code=code,
        exchange_rate=data.exchange_rate,
        fee_version=fees.version,
        principal_sats=principal,
        fee_sats=fee,
        customer_sats=calculations.customer_sats(
            direction=data.direction.value, principal_sats=principal, fee_sats=fee
        ),
        within_limits=_within_limits(data.fiat_amount, direction_fees),
        split=split,
    )


def _within_limits(fiat_amount: str, fees: dict) -> bool:
    def bound(key: str) -> Decimal | None:
        return None if fees[key] is None else fiat.parse_amount(fees[key])

    return fiat_within_limits(
        fiat.parse_amount(fiat_amount),
        min_fiat=bound("min_fiat"),
        max_fiat=bound("max_fiat"),
    )
