"""An operator's commission split rules and their preview."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import SplitPreview, SplitPreviewRequest, SplitRule, SplitsUpdate
from .routing import concern_router

router = concern_router()


@router.get("/splits")
async def api_get_splits(user: User = Depends(check_user_exists)) -> dict:
    return {"rules": await services.get_splits(user.id)}


@router.put("/splits")
async def api_set_splits(
    data: SplitsUpdate, user: User = Depends(check_user_exists)
) -> dict[str, list[SplitRule]]:
    return {"rules": await services.set_splits(user.id, data)}


@router.post("/splits/preview")
async def api_preview_splits(
    data: SplitPreviewRequest, user: User = Depends(check_user_exists)
) -> SplitPreview:
    return await services.preview_split(user.id, data)
