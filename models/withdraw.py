"""Cash-in by LNURL-withdraw (contract §9.3): the stored link, and what the
operator sends and gets back when a fresh link is issued for a transaction."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from .base import ApiModel, RowModel

WITHDRAW_EXPIRY_MIN_S = 60
WITHDRAW_EXPIRY_MAX_S = 3600
WITHDRAW_EXPIRY_DEFAULT_S = 300


class LinkStatus(str, Enum):
    pending = "pending"  # out, not claimed: the customer may still scan it
    claimed = "claimed"  # a callback won it; its invoice is being paid
    paid = "paid"
    failed = "failed"  # LNbits failed the payment: the operator decides
    expired = "expired"  # unclaimed at expires_at: the operator decides
    cancelled = "cancelled"  # the machine voided it before any claim


class WithdrawLinkRow(RowModel):
    """One stored link (``withdraw_links``)."""

    id: str
    operator_id: str
    machine_id: str
    tx_id: str
    k1: str
    amount_sats: int
    fee_sats: int
    fee_version: int | None = None
    expires_at: int
    status: LinkStatus
    bolt11: str | None = None
    payment_hash: str | None = None
    claimed_at: int | None = None
    paid_at: int | None = None
    last_error: str | None = None
    created_at: int
    updated_at: int

    def columns(self) -> dict:
        return {**self.dict(), "status": self.status.value}


class WithdrawReissue(ApiModel):
    """A fresh link for a transaction in the abandoned queue."""

    expiry_s: int = Field(
        WITHDRAW_EXPIRY_DEFAULT_S,
        ge=WITHDRAW_EXPIRY_MIN_S,
        le=WITHDRAW_EXPIRY_MAX_S,
        description="How long the customer has to scan it, in seconds.",
    )

    class Config:
        extra = "forbid"


class WithdrawLink(ApiModel):
    """A link as the machine or the operator shows it (the page draws ``lnurl``
    as a QR code)."""

    lnurl: str
    url: str
    amount_sats: int
    expires_at: int
