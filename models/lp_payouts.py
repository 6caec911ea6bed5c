"""LP payout schedules: what the operator offers, what the LP chooses, and the
payouts that pay an LP's accrued legs as one payment."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, StrictInt, validator

from .. import payout_schedules
from .base import ApiModel, RowModel


class PayoutSchedule(str, Enum):
    each = "each"
    daily = "daily"
    threshold = "threshold"


class PayoutSchedulesOffer(ApiModel):
    """The schedules an operator lets this LP choose from (``each`` always)."""

    offered: list[PayoutSchedule] = Field(
        ..., max_items=3, description="Any of each, daily, threshold."
    )

    class Config:
        extra = "forbid"


class PayoutScheduleChoice(ApiModel):
    """The LP's choice for one of their enrolments."""

    enrolment_id: str = Field(..., min_length=1, max_length=64)
    schedule: PayoutSchedule
    hour: StrictInt | None = Field(
        None, description="daily: the hour of the payout, 0 to 23, in UTC."
    )
    threshold_sats: StrictInt | None = Field(
        None,
        description=(
            f"threshold: pay once at least this much accrued "
            f"({payout_schedules.MIN_THRESHOLD_SATS:,} to "
            f"{payout_schedules.MAX_THRESHOLD_SATS:,} sats)."
        ),
    )

    class Config:
        extra = "forbid"

    @validator("hour")
    def _hour(cls, value: int | None) -> int | None:
        return None if value is None else payout_schedules.check_hour(value)

    @validator("threshold_sats")
    def _threshold(cls, value: int | None) -> int | None:
        return None if value is None else payout_schedules.check_threshold(value)


class LpPayoutPlan(ApiModel):
    """One enrolment's schedule as the LP sees it: offered, chosen, and what it
    means now (accrued, when the next payout comes, what was paid)."""

    enrolment_id: str
    operator: str = Field(description="The operator's name.")
    fiat_code: str
    offered: list[PayoutSchedule]
    schedule: PayoutSchedule
    hour: int
    threshold_sats: int
    accrued_sats: int = Field(description="Accrued, not yet paid (sats).")
    accrued_legs: int
    next_payout_at: int | None = Field(
        None, description="daily: the next payout's time (Unix seconds, UTC)."
    )
    paid_sats: int = Field(description="Paid by scheduled payouts (sats).")


class LpPayout(ApiModel):
    id: str
    enrolment_id: str
    schedule: str
    sats: int
    legs: int
    status: str
    attempts: int
    last_error: str | None
    created_at: int
    paid_at: int | None


class LpPayoutRow(RowModel):
    """A stored payout of an LP's accrued legs. While it is being paid,
    ``claimed_at`` is the claim's token."""

    id: str
    operator_id: str
    enrolment_id: str
    lp_id: str
    source_wallet_id: str
    wallet_id: str
    schedule: str
    sats: int
    legs: int
    status: str
    payment_hash: str | None
    payment_request: str | None
    attempts: int
    last_error: str | None
    claimed_at: int | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    paid_at: int | None
    # Added to a claimed payout: what its payment says in the LP's wallet.
    memo: str | None = None
    memo_facts: dict[str, str] | None = None


class AccruedGroupRow(RowModel):
    """An enrolment's accrued legs not in a payout yet, per paying wallet, with
    the enrolment's schedule."""

    enrolment_id: str
    operator_id: str
    lp_id: str
    wallet_id: str
    source_wallet_id: str
    accrued_sats: int
    accrued_legs: int
    oldest_at: int
    payout_schedule: str
    payout_hour: int
    payout_threshold_sats: int
