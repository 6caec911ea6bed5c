"""An operator's settlements: listing, totals, CSV, daily stats, manual entries,
the worklist of failed payouts, and abandoned ATM transactions."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends, Query, Response
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import (
    AbandonedResolve,
    AtmTransaction,
    DailyMachineStats,
    Direction,
    ManualSettlementCreate,
    Settlement,
    SettlementPage,
    SettlementTotals,
    WithdrawLink,
    WithdrawReissue,
)
from ..services import abandoned
from .queries import MAX_OFFSET, instant, query_int
from .routing import CSV_REFUSALS, CsvResponse, concern_router, csv_download

router = concern_router()


def settlement_filter(
    machine_id: str | None = None,
    status: str | None = Query(None, max_length=32),
    direction: Direction | None = None,
    since: str | None = Query(None, description="inclusive; date means 00:00 UTC"),
    until: str | None = Query(None, description="exclusive; a date includes that day"),
) -> services.SettlementFilter:
    return services.SettlementFilter(
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=instant(since, "The start date (since)", end_of_day=False),
        until=instant(until, "The end date (until)", end_of_day=True),
    )


@router.get("/settlements", response_model=SettlementPage)
async def api_list_settlements(
    filters: services.SettlementFilter = Depends(settlement_filter),
    limit: int = query_int(
        "limit", "The page size (limit)", default=50, low=1, high=500
    ),
    offset: int = query_int("offset", "The offset", default=0, low=0, high=MAX_OFFSET),
    user: User = Depends(check_user_exists),
) -> Response:
    page = await services.list_settlements(user.id, filters, limit=limit, offset=offset)
    # The page is a validated model already: FastAPI's response_model path would
    # validate and encode it again, which costs more than the query (bench/README).
    return Response(page.json(), media_type="application/json")


@router.get("/settlements.csv", response_class=CsvResponse, responses=CSV_REFUSALS)
async def api_settlements_csv(
    filters: services.SettlementFilter = Depends(settlement_filter),
    user: User = Depends(check_user_exists),
) -> Response:
    csv = await services.settlements_csv(user.id, filters)
    return csv_download(csv, "settlements.csv")


@router.get("/settlements/totals")
async def api_settlement_totals(
    filters: services.SettlementFilter = Depends(settlement_filter),
    user: User = Depends(check_user_exists),
) -> SettlementTotals:
    return await services.settlement_totals(user.id, filters)


@router.get("/stats/daily")
async def api_daily_stats(
    days: int = query_int("days", "The number of days", default=30, low=1, high=366),
    user: User = Depends(check_user_exists),
) -> list[DailyMachineStats]:
    return await services.daily_stats(user.id, days=days)


@router.get("/settlements/{settlement_id}")
async def api_get_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> Settlement:
    return await services.get_settlement(user.id, settlement_id)


@router.post(
    "/settlements/manual",
    status_code=HTTPStatus.CREATED,
    responses={
        200: {
            "model": Settlement,
            "description": "Recorded before under this tx_id: that settlement.",
        }
    },
)
async def api_manual_settlement(
    data: ManualSettlementCreate,
    response: Response,
    user: User = Depends(check_user_exists),
) -> Settlement:
    settlement, created = await services.record_manual_settlement(user.id, data)
    if not created:
        response.status_code = HTTPStatus.OK
    return settlement


@router.get("/worklist")
async def api_worklist(user: User = Depends(check_user_exists)) -> list[Settlement]:
    """Settlements with legs that failed to pay, with attempts and last errors."""
    return await services.worklist(user.id)


@router.post("/settlements/{settlement_id}/retry")
async def api_retry_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> Settlement:
    return await services.retry_settlement(user.id, settlement_id)


@router.get("/abandoned")
async def api_abandoned(
    user: User = Depends(check_user_exists),
) -> list[AtmTransaction]:
    return await services.list_abandoned(user.id)


@router.post("/abandoned/{transaction_id}/resolve")
async def api_resolve_abandoned(
    transaction_id: str,
    data: AbandonedResolve,
    user: User = Depends(check_user_exists),
) -> AtmTransaction:
    row = await abandoned.resolve_abandoned(user.id, transaction_id, data)
    return services.atm_transaction(row)


@router.post("/abandoned/{transaction_id}/link")
async def api_reissue_withdraw_link(
    transaction_id: str,
    data: WithdrawReissue,
    user: User = Depends(check_user_exists),
) -> WithdrawLink:
    """A fresh LNURL-withdraw link for a cash-in that paid the customer nothing
    (its link expired unclaimed, or its payment failed): show ``lnurl`` to the
    customer as a QR code. The transaction waits for that link again."""
    return await abandoned.reissue_link(user.id, transaction_id, expiry_s=data.expiry_s)
