"""ATM transactions: the stored row, and what the operator sees and resolves."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, root_validator, validator

from .base import ApiModel, Direction, blank_or_amount


class AtmTransactionRow(ApiModel):
    """One stored ATM transaction (``atm_transactions``); its ``status`` is one of
    the states of ``services.atm_transactions.TxStatus``."""

    id: str
    operator_id: str
    machine_id: str
    tx_id: str
    direction: Direction
    status: str
    payment_hash: str | None = None
    bolt11: str | None = None
    amount_sats: int
    principal_sats: int
    fee_sats: int
    fiat_amount_minor: int
    fiat_code: str
    exchange_rate: str
    expires_at: int | None = None
    paid_at: int | None = None
    settlement_id: str | None = None
    note: str | None = None
    created_at: int
    updated_at: int
    # The fee schedule it was priced with (None: the machine had none) and
    # fee_sats minus that schedule's fee (non-zero only in record mode).
    fee_version: int | None = None
    fee_mismatch_sats: int | None = None

    def columns(self) -> dict:
        """The row as the database stores it (the direction as its text)."""
        return {**self.dict(), "direction": self.direction.value}


class AtmTransaction(ApiModel):
    id: str
    machine_id: str
    tx_id: str
    direction: Direction
    status: str
    payment_hash: str | None
    amount_sats: int
    principal_sats: int
    fee_sats: int
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    paid_at: int | None
    settlement_id: str | None
    note: str | None
    created_at: int
    updated_at: int


class Resolution(str, Enum):
    full = "full"
    partial = "partial"
    void = "void"


class AbandonedResolve(ApiModel):
    resolution: Resolution
    dispensed_fiat: str | None = Field(
        None, description="For a partial dispense: the fiat the machine gave out."
    )
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _dispensed = validator("dispensed_fiat", pre=True, allow_reuse=True)(
        blank_or_amount
    )

    @root_validator(skip_on_failure=True)
    def _needs(cls, values):
        resolution = values["resolution"]
        if resolution == Resolution.partial and not values.get("dispensed_fiat"):
            raise ValueError("a partial dispense needs dispensed_fiat")
        if resolution != Resolution.partial and values.get("dispensed_fiat"):
            raise ValueError("dispensed_fiat is only for a partial dispense")
        if resolution == Resolution.void and not (values.get("note") or "").strip():
            raise ValueError("a refund or void needs a note saying what happened")
        return values
