"""The operator's side of liquidity providers: enrolments, deposits, balance
settlements (and their worklist), and the operator's audit log."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends, Header, Query, Response
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import (
    BalanceSettle,
    BalanceSettlement,
    Deposit,
    DepositCreate,
    LpEnrol,
    LpEnrolment,
)
from .queries import ROWS, query_int
from .routing import concern_router

router = concern_router()


@router.get("/lps")
async def api_list_lps(user: User = Depends(check_user_exists)) -> list[LpEnrolment]:
    return await services.list_lps(user.id)


@router.post("/lps", status_code=HTTPStatus.CREATED)
async def api_enrol_lp(
    data: LpEnrol, user: User = Depends(check_user_exists)
) -> LpEnrolment:
    return await services.enrol_lp(user.id, data)


@router.post("/lps/{enrolment_id}/deposits", status_code=HTTPStatus.CREATED)
async def api_add_deposit(
    enrolment_id: str, data: DepositCreate, user: User = Depends(check_user_exists)
) -> Deposit:
    return await services.add_deposit(user.id, enrolment_id, data)


@router.post("/lps/{enrolment_id}/settle", status_code=HTTPStatus.CREATED)
async def api_settle_lp_balance(
    enrolment_id: str,
    data: BalanceSettle,
    response: Response,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    user: User = Depends(check_user_exists),
) -> BalanceSettlement:
    """With an ``Idempotency-Key`` header, a repeated request (same key, same
    body) settles once: the repeat gets the first answer with 200; the same key
    with another body is a 409."""
    settlement, created = await services.settle_lp_balance(
        user.id,
        enrolment_id,
        data,
        user_wallet_ids={wallet.id for wallet in user.wallets},
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = HTTPStatus.OK
    return settlement


@router.get("/balance-settlements")
async def api_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[BalanceSettlement]:
    return await services.list_balance_settlements(user.id)


@router.get("/worklist/balance-settlements")
async def api_worklist_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[BalanceSettlement]:
    """Failed LP balance settlements, with the reason: retry or void each."""
    return await services.failed_balance_settlements(user.id)


@router.post("/balance-settlements/{settlement_id}/retry")
async def api_retry_balance_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> BalanceSettlement:
    return await services.retry_balance_settlement(user.id, settlement_id)


@router.post("/balance-settlements/{settlement_id}/void")
async def api_void_balance_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> BalanceSettlement:
    """A failed balance settlement given up: its amount is the LP's balance again."""
    return await services.void_balance_settlement(user.id, settlement_id)


@router.put("/deposits/{deposit_id}/confirm")
async def api_confirm_deposit(
    deposit_id: str, user: User = Depends(check_user_exists)
) -> Deposit:
    return await services.confirm_deposit(user.id, deposit_id)


@router.get("/deposits")
async def api_list_deposits(
    enrolment_id: str | None = None,
    status: str | None = Query(None, regex="^(pending|confirmed)$"),
    user: User = Depends(check_user_exists),
) -> list[Deposit]:
    return await services.list_deposits(user.id, enrolment_id, status)


@router.get("/audit")
async def api_audit_log(
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    return await services.audit_log(user.id, limit)
