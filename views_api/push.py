"""The caller's websocket channel: pages listen there for notices of change."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from ..models import PushChannel
from ..services import push
from .routing import concern_router

router = concern_router()


@router.get("/push/channel")
async def api_push_channel(user: User = Depends(check_user_exists)) -> PushChannel:
    """The caller's own channel id, the same on every call. Listen on LNbits'
    ``/api/v1/ws/<channel>``; each notice names what changed
    (``{"changed": ["settlements", "lps"]}``) and carries no data: fetch it here."""
    return PushChannel(channel=await push.channel_for(user.id))
