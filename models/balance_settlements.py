"""LP balance settlements."""

from __future__ import annotations

from pydantic import Field, StrictBool, validator

from .base import ApiModel, RowModel, blank_or_rate, optional_amount


class BalanceSettle(ApiModel):
    """Settle (part of) an LP's remaining fiat balance in sats."""

    wallet_id: str = Field(..., description="The operator's wallet that pays.")
    fiat_amount: str | None = Field(
        None, description="How much of the balance; all of it when left out."
    )
    exchange_rate: str | None = Field(
        None,
        description="Fiat per BTC; LNbits' current rate when left out. It must be "
        "within the platform's tolerance of LNbits' rate.",
    )
    confirm_without_market_rate: StrictBool = Field(
        False,
        description="Use exchange_rate although LNbits has no rate to check it "
        "against right now (recorded in the audit log).",
    )
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(optional_amount)
    _rate = validator("exchange_rate", pre=True, allow_reuse=True)(blank_or_rate)


class BalanceSettlement(ApiModel):
    id: str
    enrolment_id: str
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    rate_source: str
    sats: int
    source_wallet_id: str
    note: str | None
    created_at: int
    status: str = Field(
        description="pending, paying, failed (held from the LP's balance), paid, "
        "or void (released back into it)."
    )
    last_error: str | None
    attempts: int


class LpBalanceSettlement(ApiModel):
    """A balance settlement as its LP sees it."""

    id: str
    enrolment_id: str
    operator: str = Field(description="The operator's LNbits username.")
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    sats: int
    state: str = Field(description="held (not paid yet), paid, or voided.")
    created_at: int
    paid_at: int | None


class NewBalanceSettlementRow(RowModel):
    """A balance settlement as it is written; its one leg pays it."""

    id: str
    operator_id: str
    enrolment_id: str
    fiat_minor: int
    fiat_code: str
    exchange_rate: str
    rate_source: str
    sats: int
    source_wallet_id: str
    note: str | None
    created_by: str
    created_at: int
    idempotency_key: str | None
    request_digest: str | None  # None only on rows older than idempotency keys


class BalanceSettlementRow(NewBalanceSettlementRow):
    """A stored balance settlement with the state of its leg."""

    status: str
    last_error: str | None
    attempts: int
    payment_hash: str | None


class LpBalanceSettlementRow(RowModel):
    """A balance settlement as its LP reads it, with its leg's state."""

    id: str
    enrolment_id: str
    operator_id: str
    fiat_minor: int
    fiat_code: str
    exchange_rate: str
    sats: int
    created_at: int
    status: str
    paid_at: int | None
