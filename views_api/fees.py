"""Fee schedules: an operator's default and per-machine overrides, each machine's
effective schedule and an example quote; the super user's list of settlements
whose fee was not their schedule's."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import Account, User
from lnbits.decorators import check_super_user, check_user_exists

from .. import services
from ..models import (
    FeeMismatch,
    FeeQuote,
    FeeQuoteRequest,
    FeeScheduleUpdate,
    MachineFees,
    OperatorFees,
)
from .queries import ROWS, query_int
from .routing import concern_router

router = concern_router()


@router.get("/fees")
async def api_get_default_fees(user: User = Depends(check_user_exists)) -> OperatorFees:
    return await services.get_operator_fees(user.id)


@router.put("/fees")
async def api_set_default_fees(
    data: FeeScheduleUpdate, user: User = Depends(check_user_exists)
) -> OperatorFees:
    """The schedule of every machine without its own; each machine it changes
    gets a new version."""
    return await services.set_default_fees(user.id, data)


@router.get("/machines/{machine_id}/fees")
async def api_get_machine_fees(
    machine_id: str, user: User = Depends(check_user_exists)
) -> MachineFees:
    return await services.machine_fees(user.id, machine_id)


@router.put("/machines/{machine_id}/fees")
async def api_set_machine_fees(
    machine_id: str, data: FeeScheduleUpdate, user: User = Depends(check_user_exists)
) -> MachineFees:
    return await services.set_machine_fees(user.id, machine_id, data)


@router.delete("/machines/{machine_id}/fees")
async def api_clear_machine_fees(
    machine_id: str, user: User = Depends(check_user_exists)
) -> MachineFees:
    """The machine goes back to the operator's default schedule."""
    return await services.clear_machine_fees(user.id, machine_id)


@router.post("/machines/{machine_id}/fees/quote")
async def api_fee_quote(
    machine_id: str, data: FeeQuoteRequest, user: User = Depends(check_user_exists)
) -> FeeQuote:
    return await services.fee_quote(user.id, machine_id, data)


@router.get("/super/fee-mismatches")
async def api_fee_mismatches(
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    _: Account = Depends(check_super_user),
) -> list[FeeMismatch]:
    return await services.fee_mismatches(limit=limit)
