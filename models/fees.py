"""Fee schedules (contract §9.2): what an operator sets, what a machine is priced
with, an example quote, and the mismatches the super user sees."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, root_validator, validator

from .base import (
    ApiModel,
    Bps,
    Direction,
    RowModel,
    Sats,
    amount_string,
    optional_amount,
    rate_string,
)
from .splits import SplitPreview

MAX_FIXED_FEE_SATS = 1_000_000
"""0.01 BTC: far above any per-transaction fee an ATM charges, so a slip of the
keyboard (an extra six zeros) is refused instead of priced."""


class DirectionFees(ApiModel):
    """One direction of a schedule: the commission and the per-transaction fiat
    limits (null: no bound)."""

    commission_bps: Bps = Field(..., description="Of the principal, half up.")
    fixed_fee_sats: Sats = Field(0, description="Added to every transaction.")
    min_fiat: str | None = Field(None, description='A decimal string, e.g. "20.00".')
    max_fiat: str | None = Field(None, description='A decimal string, e.g. "5000".')

    class Config:
        extra = "forbid"

    _limits = validator("min_fiat", "max_fiat", pre=True, allow_reuse=True)(
        optional_amount
    )

    @validator("fixed_fee_sats")
    def _fixed_fee_bounded(cls, value: int) -> int:
        if value > MAX_FIXED_FEE_SATS:
            raise ValueError(
                f"a fixed fee is at most {MAX_FIXED_FEE_SATS:,} sats (0.01 BTC)"
            )
        return value

    @root_validator(skip_on_failure=True)
    def _min_not_above_max(cls, values):
        low, high = values.get("min_fiat"), values.get("max_fiat")
        if low is not None and high is not None and Decimal(low) > Decimal(high):
            raise ValueError(f"min_fiat {low} is above max_fiat {high}")
        return values


class FeeScheduleUpdate(ApiModel):
    """An operator's default schedule, or one machine's override: both
    directions, always given together."""

    cash_out: DirectionFees
    cash_in: DirectionFees

    class Config:
        extra = "forbid"

    def for_direction(self, direction: Direction) -> DirectionFees:
        return self.cash_in if direction == Direction.cash_in else self.cash_out


class OperatorFees(ApiModel):
    """The operator's default schedule: the built-in one (no commission, no
    fixed fee, no limits) until they set their own."""

    default: FeeScheduleUpdate
    is_set: bool = Field(..., description="False: the built-in default applies.")


FeeSource = Literal["machine", "default", "builtin"]


class MachineFees(ApiModel):
    machine_id: str
    source: FeeSource = Field(
        ...,
        description="machine (its own override), default (the operator's), or "
        "builtin (the operator has set none: no commission of their own).",
    )
    override: FeeScheduleUpdate | None
    version: int
    issued_at: int
    fetched: bool = Field(
        ..., description="The machine called get_fees since this version was issued."
    )
    fetched_at: int | None
    schedule: dict = Field(
        ..., description="The effective schedule exactly as the machine receives it."
    )


class FeeQuoteRequest(ApiModel):
    direction: Direction = Direction.cash_out
    fiat_amount: str
    exchange_rate: str = Field(..., description="Fiat per BTC, the market rate.")

    class Config:
        extra = "forbid"

    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(amount_string)
    _rate = validator("exchange_rate", pre=True, allow_reuse=True)(rate_string)


class FeeQuote(ApiModel):
    """What a customer pays for an example amount, and how the commission splits."""

    direction: Direction
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    fee_version: int
    principal_sats: int
    fee_sats: int
    customer_sats: int = Field(
        ..., description="Cash-out: what the customer pays; cash-in: receives."
    )
    within_limits: bool
    split: SplitPreview


class FeeMismatch(ApiModel):
    settlement_id: str
    operator_id: str
    operator_name: str = ""
    machine_id: str
    machine_name: str | None = Field(None, description="None: the machine is gone.")
    direction: Direction
    tx_id: str
    fee_version: int | None
    commission_sats: int
    fee_mismatch_sats: int
    created_at: int


class FeeScheduleRow(RowModel):
    """One direction of a stored schedule; ``machine_id`` '' is the default."""

    operator_id: str
    machine_id: str
    direction: str
    commission_bps: int
    fixed_fee_sats: int
    min_fiat: str | None
    max_fiat: str | None
    updated_at: int
    updated_by: str | None


class FeeVersionRow(RowModel):
    """One version of a machine's effective schedule, as published (JSON text)."""

    machine_id: str
    version: int
    schedule: str
    issued_at: int
    replaced_at: int | None
    fetched_at: int | None
