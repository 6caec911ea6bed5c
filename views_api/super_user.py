"""The super user's routes (the platform fee, limits, the server key, relays), and
the platform fee every user may read."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import Account, User
from lnbits.decorators import check_super_user, check_user_exists

from .. import services
from ..models import OperatorTotals, PlatformFee, SuperConfigUpdate
from ..rpc import rpc_server
from .routing import concern_router

router = concern_router()


@router.get("/super/config")
async def api_get_super_config(_: Account = Depends(check_super_user)) -> dict:
    return (await services.get_super_config()).public_dict()


@router.put("/super/config")
async def api_update_super_config(
    data: SuperConfigUpdate, account: Account = Depends(check_super_user)
) -> dict:
    config = await services.update_super_config(data, actor_id=account.id)
    return config.public_dict()


@router.get("/super/overview")
async def api_super_overview(
    _: Account = Depends(check_super_user),
) -> list[OperatorTotals]:
    return await services.super_overview()


@router.post("/super/rotate-key")
async def api_rotate_server_key(account: Account = Depends(check_super_user)) -> dict:
    config = await services.rotate_server_key(actor_id=account.id)
    return config.public_dict()


@router.get("/super/relays")
async def api_relay_status(_: Account = Depends(check_super_user)) -> dict:
    return rpc_server.status()


@router.get("/platform-fee")
async def api_platform_fee(_: User = Depends(check_user_exists)) -> PlatformFee:
    return await services.get_platform_fee()
