"""Alerts: which a user gets and when, what is going on, and what was sent."""

from __future__ import annotations

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import AlertEvent, AlertSettings, AlertStatus
from .queries import ROWS, query_int
from .routing import concern_router

router = concern_router()


@router.get("/alerts/settings")
async def api_get_alert_settings(
    user: User = Depends(check_user_exists),
) -> AlertSettings:
    return await services.get_alert_settings(user.id)


@router.put("/alerts/settings")
async def api_set_alert_settings(
    data: AlertSettings, user: User = Depends(check_user_exists)
) -> AlertSettings:
    """Alerts are sent on the notification channels of the user's LNbits
    account (Telegram, Nostr, e-mail); the relay alerts only to the super user."""
    return await services.set_alert_settings(user.id, data)


@router.get("/alerts")
async def api_alert_history(
    limit: int = query_int("limit", "The number of alerts (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[AlertEvent]:
    """What was sent, newest first, with where it was queued."""
    return await services.alert_history(user.id, limit)


@router.get("/alerts/active")
async def api_active_alerts(
    user: User = Depends(check_user_exists),
) -> list[AlertStatus]:
    return await services.active_alerts(user.id)
