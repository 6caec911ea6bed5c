"""Alerts: what each user has them on for, each alert's state, and the history
of what was sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, StrictBool, conint

from .base import ApiModel, RowModel

if TYPE_CHECKING:
    Minutes = int
    Hours = int
    Percent = int
else:
    Minutes = conint(strict=True, ge=1, le=1440)
    Hours = conint(strict=True, ge=0, le=720)
    Percent = conint(strict=True, ge=0, le=100)


class AlertSettings(ApiModel):
    """Which alerts a user gets, and when. Nothing is sent until they save
    them with ``enabled``."""

    enabled: StrictBool = False
    machine_offline: StrictBool = True
    offline_after_min: Minutes = Field(15, description="No beacon nor request for.")
    cash_low: StrictBool = True
    cassette_low_percent: Percent = Field(10, description="A cassette this empty.")
    cashbox_full_percent: Percent = Field(90, description="The cashbox this full.")
    within_hours: Hours = Field(
        24, description="Or empty (full) within this many hours; 0: not used."
    )
    payouts_failing: StrictBool = True
    payouts_failing_after_min: Minutes = 30
    fee_mismatch: StrictBool = Field(
        True, description="A fee other than the schedule's, in the last hour."
    )
    pairing_used: StrictBool = Field(True, description="A machine paired.")
    relay_down: StrictBool = Field(True, description="The super user's.")
    relay_down_after_min: Minutes = 10
    hold_down_min: conint(strict=True, ge=0, le=1440) = Field(  # type: ignore[valid-type]
        10, description="Clear this long before resolved; a flap sends nothing."
    )
    repeat_hours: Hours = Field(12, description="Remind every; 0: never.")

    class Config:
        extra = "forbid"


class AlertStateRow(RowModel):
    user_id: str
    kind: str
    subject: str
    phase: str
    since: int | None
    fired_at: int | None
    last_sent_at: int | None
    version: int
    updated_at: int


class AlertEvent(ApiModel):
    id: str
    kind: str
    subject: str
    action: str = Field(..., description="fire, repeat or resolve.")
    message: str
    delivery: str = Field(..., description="The channels it was queued on, or why not.")
    created_at: int


class AlertEventRow(RowModel):
    id: str
    user_id: str
    kind: str
    subject: str
    action: str
    message: str
    delivery: str
    created_at: int


class AlertStatus(ApiModel):
    """An alert that is not quiet."""

    kind: str
    subject: str
    phase: str
    fired_at: int | None
