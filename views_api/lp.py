"""A liquidity provider's own view (``/lp/...``): their summary, the consent code
they give an operator, their profile, distributions, balance settlements and
auto-forwarding."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends, Response
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import (
    Forward,
    ForwardingSettings,
    LpBalanceSettlement,
    LpCode,
    LpCodeCreate,
    LpDistribution,
    LpProfile,
    LpSummary,
)
from .routing import CSV_REFUSALS, CsvResponse, concern_router, csv_download

router = concern_router()


@router.get("/lp/me")
async def api_lp_me(user: User = Depends(check_user_exists)) -> LpSummary:
    return await services.lp_summary(user.id)


@router.post("/lp/code", status_code=HTTPStatus.CREATED)
async def api_create_lp_code(
    data: LpCodeCreate, user: User = Depends(check_user_exists)
) -> LpCode:
    """A one-time code the LP gives an operator: their consent to be enrolled."""
    return await services.create_lp_code(
        user.id, data, user_wallet_ids=[wallet.id for wallet in user.wallets]
    )


@router.get("/lp/code")
async def api_get_lp_code(user: User = Depends(check_user_exists)) -> LpCode | None:
    return await services.get_lp_code(user.id)


@router.get("/lp/profile")
async def api_get_lp_profile(user: User = Depends(check_user_exists)) -> LpProfile:
    return await services.get_lp_profile(user.id)


@router.put("/lp/profile")
async def api_set_lp_profile(
    data: LpProfile, user: User = Depends(check_user_exists)
) -> LpProfile:
    """The name operators see for this LP (else the LNbits username)."""
    return await services.set_lp_profile(user.id, data)


@router.get("/lp/distributions")
async def api_lp_distributions(
    user: User = Depends(check_user_exists),
) -> list[LpDistribution]:
    return await services.lp_distributions(user.id)


@router.get("/lp/balance-settlements")
async def api_lp_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[LpBalanceSettlement]:
    """The LP's balance settlements: held until paid, paid, or voided."""
    return await services.lp_balance_settlements(user.id)


@router.get("/lp/distributions.csv", response_class=CsvResponse, responses=CSV_REFUSALS)
async def api_lp_distributions_csv(user: User = Depends(check_user_exists)) -> Response:
    csv = await services.lp_distributions_csv(user.id)
    return csv_download(csv, "distributions.csv")


@router.get("/lp/forwarding")
async def api_get_forwarding(
    user: User = Depends(check_user_exists),
) -> ForwardingSettings:
    return await services.get_forwarding(user.id)


@router.put("/lp/forwarding")
async def api_set_forwarding(
    data: ForwardingSettings, user: User = Depends(check_user_exists)
) -> ForwardingSettings:
    return await services.set_forwarding(user.id, data)


@router.get("/lp/forwards")
async def api_list_forwards(user: User = Depends(check_user_exists)) -> list[Forward]:
    return await services.list_forwards(user.id)
