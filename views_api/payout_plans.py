"""LP payout schedules: what the operator offers per enrolment (``/lps/...``)
and what the LP chooses and sees (``/lp/...``)."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import LpPayout, LpPayoutPlan, PayoutScheduleChoice, PayoutSchedulesOffer
from .routing import concern_router

router = concern_router()


@router.put("/lps/{enrolment_id}/payout-schedules")
async def api_offer_payout_schedules(
    enrolment_id: str,
    data: PayoutSchedulesOffer,
    user: User = Depends(check_user_exists),
) -> LpPayoutPlan:
    """The schedules this LP may choose (each settlement is always offered)."""
    return await services.offer_payout_schedules(user.id, enrolment_id, data)


@router.get("/lp/payout-plans")
async def api_lp_payout_plans(
    user: User = Depends(check_user_exists),
) -> list[LpPayoutPlan]:
    """Per enrolment: the schedules offered, the one chosen, what accrued, the
    next payout (daily: its time) and what scheduled payouts paid."""
    return await services.lp_payout_plans(user.id)


@router.put("/lp/payout-plans")
async def api_choose_payout_schedule(
    data: PayoutScheduleChoice, user: User = Depends(check_user_exists)
) -> LpPayoutPlan:
    """The LP's schedule for one of their enrolments, among those offered."""
    return await services.choose_payout_schedule(user.id, data)


@router.get("/lp/payouts")
async def api_lp_payouts(user: User = Depends(check_user_exists)) -> list[LpPayout]:
    """The LP's scheduled payouts, newest first."""
    return await services.list_lp_payouts(user.id)
