"""LP payout schedules as people set them: the operator offers schedules per
enrolment, the LP chooses one, and the LP's page shows what it means now."""

from __future__ import annotations

from .. import audit, crud, helpers
from ..database import transaction
from ..errors import InvalidInput, NotFound
from ..models import (
    EnrolmentRow,
    LpPayout,
    LpPayoutPlan,
    PayoutSchedule,
    PayoutScheduleChoice,
    PayoutSchedulesOffer,
)
from ..payout_schedules import next_daily_at, parse_offered
from .accounts import person_name
from .lps import operator_enrolment

__all__ = [
    "choose_payout_schedule",
    "list_lp_payouts",
    "lp_payout_plans",
    "offer_payout_schedules",
]


async def _plan(row: EnrolmentRow, sums: dict, now: int) -> LpPayoutPlan:
    schedule = PayoutSchedule(row.payout_schedule)
    accrued = int(sums.get("accrued_sats") or 0)
    next_at = None
    if schedule == PayoutSchedule.daily:
        next_at = next_daily_at(row.payout_hour, now)
    return LpPayoutPlan(
        enrolment_id=row.id,
        operator=await person_name(row.operator_id),
        fiat_code=row.fiat_code,
        offered=[
            PayoutSchedule(name) for name in parse_offered(row.payout_schedules_offered)
        ],
        schedule=schedule,
        hour=row.payout_hour,
        threshold_sats=row.payout_threshold_sats,
        accrued_sats=accrued,
        accrued_legs=int(sums.get("accrued_legs") or 0),
        next_payout_at=next_at,
        paid_sats=int(sums.get("paid_sats") or 0),
    )


async def _plans_of(lp_id: str, now: int) -> list[LpPayoutPlan]:
    rows = await crud.list_enrolments(lp_id=lp_id)
    sums = {row["enrolment_id"]: row for row in await crud.lp_payout_sums(lp_id=lp_id)}
    return [await _plan(row, sums.get(row.id, {}), now) for row in rows]


async def lp_payout_plans(user_id: str, now: int | None = None) -> list[LpPayoutPlan]:
    """The LP's schedule in each enrolment: offered, chosen, accrued, next, paid."""
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    return await _plans_of(lp.id, helpers.now() if now is None else now)


async def _plan_of(lp_id: str, enrolment_id: str) -> LpPayoutPlan:
    for plan in await _plans_of(lp_id, helpers.now()):
        if plan.enrolment_id == enrolment_id:
            return plan
    raise NotFound(f"no enrolment '{enrolment_id}'")


async def offer_payout_schedules(
    operator_id: str, enrolment_id: str, data: PayoutSchedulesOffer
) -> LpPayoutPlan:
    """The schedules this LP may choose; a current choice no longer offered
    falls back to each settlement."""
    enrolment = await operator_enrolment(operator_id, enrolment_id)
    offered = ",".join(parse_offered(",".join(item.value for item in data.offered)))
    async with transaction() as conn:
        await crud.set_payout_schedules_offered(
            enrolment_id=enrolment.id,
            operator_id=operator_id,
            offered=offered,
            conn=conn,
        )
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="lp.payout_schedules_offered",
            object_type="lp_enrolment",
            object_id=enrolment.id,
            detail={"offered": offered},
        )
    return await _plan_of(enrolment.lp_id, enrolment.id)


def _checked_choice(data: PayoutScheduleChoice, row: EnrolmentRow) -> tuple[int, int]:
    """The hour and threshold to store: the chosen schedule's own is required,
    the other one kept as it was."""
    hour, threshold = row.payout_hour, row.payout_threshold_sats
    if data.schedule == PayoutSchedule.daily:
        if data.hour is None:
            raise InvalidInput("a daily payout needs its hour (0 to 23, UTC)")
        hour = data.hour
    if data.schedule == PayoutSchedule.threshold:
        if data.threshold_sats is None:
            raise InvalidInput("a payout on a threshold needs its amount in sats")
        threshold = data.threshold_sats
    if data.schedule.value not in parse_offered(row.payout_schedules_offered):
        raise InvalidInput(
            "your operator does not offer that payout schedule for this enrolment"
        )
    return hour, threshold


async def choose_payout_schedule(
    user_id: str, data: PayoutScheduleChoice
) -> LpPayoutPlan:
    lp = await crud.get_lp_by_user(user_id=user_id)
    rows = [] if lp is None else await crud.list_enrolments(lp_id=lp.id)
    row = next((row for row in rows if row.id == data.enrolment_id), None)
    if lp is None or row is None:
        raise NotFound(f"you have no enrolment '{data.enrolment_id}'")
    hour, threshold = _checked_choice(data, row)
    async with transaction() as conn:
        changed = await crud.set_payout_schedule(
            enrolment_id=row.id,
            lp_id=lp.id,
            schedule=data.schedule.value,
            hour=hour,
            threshold_sats=threshold,
            conn=conn,
        )
        if changed != 1:  # the offer was withdrawn meanwhile
            raise InvalidInput(
                "your operator does not offer that payout schedule for this enrolment"
            )
        await audit.record(
            conn,
            actor=user_id,
            operator_id=row.operator_id,
            action="lp.payout_schedule",
            object_type="lp_enrolment",
            object_id=row.id,
            detail={
                "schedule": data.schedule.value,
                "hour": hour,
                "threshold_sats": threshold,
            },
        )
    return await _plan_of(lp.id, row.id)


async def list_lp_payouts(user_id: str) -> list[LpPayout]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    return [
        LpPayout.parse_obj(row.dict())
        for row in await crud.list_lp_payouts(lp_id=lp.id)
    ]
