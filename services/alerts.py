"""Alerts, evaluated in the background and sent through LNbits' own user
notifications (the Telegram chat, Nostr identifier or e-mail each user sets in
their LNbits account).

Every evaluation observes each condition of each user who enabled alerts, and
advances that alert's state (``alerts.step``). A change of state is written
only over the version it was read at, so that of two LNbits processes on one
database evaluating the same alert, exactly one writes the change and sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from lnbits.core.crud import get_account
from lnbits.core.models.notifications import NotificationType
from lnbits.core.services import notifications
from lnbits.settings import settings as lnbits_settings
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import crud
from ..alerts import Action, AlertState, Phase, Timing, step
from ..crud.sql import connection
from ..helpers import new_id, now
from ..models import (
    AlertEvent,
    AlertEventRow,
    AlertSettings,
    AlertStateRow,
    AlertStatus,
    MachineRow,
    MachineStatus,
)
from . import push
from .cash_dashboard import cash_of

MINUTE = 60
HOUR = 3600


# Something that happened (a pairing, a fee mismatch) is a condition for this
# long after it happened.
RECENT_S = HOUR


@dataclass(frozen=True)
class Observation:
    kind: str
    subject: str
    condition: bool
    title: str
    detail: str
    timing: Timing
    # An announcement (a pairing used) has nothing to resolve: its end is
    # recorded, not sent.
    announce_only: bool = False


def _timing(settings: AlertSettings, fire_after_s: int = 0) -> Timing:
    return Timing(
        fire_after_s=fire_after_s,
        hold_down_s=settings.hold_down_min * MINUTE,
        repeat_s=settings.repeat_hours * HOUR or None,
    )


def _within(days: str | None, hours: int) -> bool:
    # "2.5" days, one decimal: compared in tenths of a day, exactly.
    if days is None or hours == 0:
        return False
    whole, tenth = days.split(".")
    return (int(whole) * 10 + int(tenth)) * 24 <= hours * 10


def _requests_since(settings: AlertSettings, at: int) -> int:
    """How far back requests are looked for: the threshold and an hour more (the
    RPC log holds months; only whether a machine was heard lately matters)."""
    return at - settings.offline_after_min * MINUTE - HOUR


def _offline(
    machine: MachineRow, last_seen: int, settings: AlertSettings, at: int
) -> Observation:
    since = _requests_since(settings, at)
    quiet = (
        f"{max(0, at - last_seen) // MINUTE} min"
        if last_seen >= since
        else f"over {(at - since) // MINUTE} min"
    )
    return Observation(
        kind="machine_offline",
        subject=machine.id,
        condition=at - last_seen > settings.offline_after_min * MINUTE,
        title=f"{machine.name} is offline",
        detail=f"no beacon nor request for {quiet}",
        timing=_timing(settings),
    )


async def _cash(machine: MachineRow, settings: AlertSettings) -> list[Observation]:
    cash = await cash_of(machine)
    low = [
        c
        for c in cash.cassettes
        if c.fill_percent <= settings.cassette_low_percent
        or _within(c.days_until_empty, settings.within_hours)
    ]
    box = cash.cashbox
    full = (
        box.fill_percent is not None
        and box.fill_percent >= settings.cashbox_full_percent
    ) or _within(box.days_until_full, settings.within_hours)
    return [
        Observation(
            kind="cash_low",
            subject=machine.id,
            condition=bool(low),
            title=f"{machine.name} is low on cash",
            detail="; ".join(
                f"cassette {c.position} ({c.denomination}): about "
                f"{c.estimated_count} bills, empty in {c.days_until_empty or '?'} days"
                for c in low
            ),
            timing=_timing(settings),
        ),
        Observation(
            kind="cashbox_full",
            subject=machine.id,
            condition=full,
            title=f"{machine.name}'s cashbox is nearly full",
            detail=f"{box.fill_percent} % full, full in {box.days_until_full or '?'} "
            "days",
            timing=_timing(settings),
        ),
    ]


async def observe_operator(
    user_id: str, settings: AlertSettings, at: int
) -> list[Observation]:
    machines = await crud.list_machines(operator_id=user_id)
    beacons = await crud.latest_beacons(machine_ids=[m.id for m in machines])
    seen: dict[str, int] = await crud.last_requests_by_machine(
        operator_id=user_id, since=_requests_since(settings, at)
    )
    for beacon in beacons:
        seen[beacon.machine_id] = max(seen.get(beacon.machine_id, 0), beacon.created_at)
    observed: list[Observation] = []
    for machine in machines:
        found: list[Observation] = []
        if settings.machine_offline:
            last = max(seen.get(machine.id, 0), machine.created_at)
            found.append(_offline(machine, last, settings, at))
        if settings.cash_low:
            found.extend(await _cash(machine, settings))
        if machine.status != MachineStatus.active.value:
            # Disabled by its operator: nothing to alert about; what was on ends.
            found = [replace(o, condition=False) for o in found]
        observed.extend(found)
    observed.extend(await _happenings(user_id, settings, at))
    if settings.payouts_failing:
        failing = await crud.list_settlements_with_failed_legs(operator_id=user_id)
        observed.append(
            Observation(
                kind="payouts_failing",
                subject="",
                condition=bool(failing),
                title="Payouts are failing",
                detail=f"{len(failing)} settlements wait in Needs attention",
                timing=_timing(settings, settings.payouts_failing_after_min * MINUTE),
            )
        )
    return observed


async def _happenings(
    user_id: str, settings: AlertSettings, at: int
) -> list[Observation]:
    observed: list[Observation] = []
    if settings.fee_mismatch:
        count = await crud.count_fee_mismatches_since(
            operator_id=user_id, since=at - RECENT_S
        )
        observed.append(
            Observation(
                kind="fee_mismatch",
                subject="",
                condition=count > 0,
                title="A fee differed from the machine's schedule",
                detail=f"{count} settlements in the last hour",
                timing=_timing(settings),
            )
        )
    if settings.pairing_used:
        for pairing in await crud.list_pairings(operator_id=user_id):
            # Seen again for a while after it stops being recent: its end.
            if pairing.used_at is None or at - pairing.used_at > 2 * RECENT_S:
                continue
            observed.append(
                Observation(
                    kind="pairing_used",
                    subject=pairing.id,
                    condition=at - pairing.used_at <= RECENT_S,
                    title=f"A machine paired as {pairing.name}",
                    detail="with a pairing code of your account",
                    timing=Timing(),
                    announce_only=True,
                )
            )
    return observed


async def observe_instance(
    settings: AlertSettings, relays: list[dict], at: int
) -> list[Observation]:
    """The super user's: each relay of the server that is not connected, and
    fees other than their schedule's on the whole instance."""
    observed = observe_relays(settings, relays)
    if settings.fee_mismatch:
        count = await crud.count_fee_mismatches_since(
            operator_id=None, since=at - RECENT_S
        )
        observed.append(
            Observation(
                kind="instance_fee_mismatch",
                subject="",
                condition=count > 0,
                title="Fees differed from their schedules on this instance",
                detail=f"{count} settlements of all operators in the last hour",
                timing=_timing(settings),
            )
        )
    return observed


def observe_relays(settings: AlertSettings, relays: list[dict]) -> list[Observation]:
    """Each relay of the server that is not connected."""
    if not settings.relay_down:
        return []
    return [
        Observation(
            kind="relay_down",
            subject=relay["url"],
            condition=not relay["connected"],
            title=f"Relay {relay['url']} is down",
            detail=str(relay.get("last_error") or "not connected"),
            timing=_timing(settings, settings.relay_down_after_min * MINUTE),
        )
        for relay in relays
    ]


def _message(observation: Observation, action: Action) -> str:
    if action == Action.resolve:
        return f"Resolved: {observation.title}."
    prefix = "Still: " if action == Action.repeat else ""
    return f"{prefix}{observation.title}: {observation.detail}."


async def deliver(user_id: str, text: str) -> str:
    """Queues ``text`` on the user's LNbits notification channels; what it was
    queued on, or why not."""
    account = await get_account(user_id)
    if account is None:
        return "not sent: the account is gone"
    channels = account.extra.notifications
    names = [
        name
        for name, usable in (
            (
                "e-mail",
                channels.email_address
                and lnbits_settings.lnbits_email_notifications_enabled,
            ),
            (
                "Telegram",
                channels.telegram_chat_id
                and lnbits_settings.is_telegram_notifications_configured(),
            ),
            (
                "Nostr",
                channels.nostr_identifier
                and lnbits_settings.is_nostr_notifications_configured(),
            ),
        )
        if usable
    ]
    if not names:
        return "not sent: no notification channel in the LNbits account"
    notifications.enqueue_user_notification(
        NotificationType.text_message, {"message": text}, channels
    )
    return "queued: " + ", ".join(names)


class _Lost(Exception):
    """Another process changed this alert first."""


def _state(row: AlertStateRow | None) -> AlertState:
    if row is None:
        return AlertState()
    return AlertState(Phase(row.phase), row.since, row.fired_at, row.last_sent_at)


async def advance(user_id: str, observation: Observation, at: int) -> Action | None:
    """One alert's step; what this process sent (None: nothing, or another
    process made the change)."""
    o = observation
    current = await crud.get_alert_state(
        user_id=user_id, kind=o.kind, subject=o.subject
    )
    state = _state(current)
    new, action = step(state, o.condition, at, o.timing)
    if new == state and action is None:
        return None
    row = AlertStateRow(
        user_id=user_id,
        kind=o.kind,
        subject=o.subject,
        phase=new.phase.value,
        since=new.since,
        fired_at=new.fired_at,
        last_sent_at=new.last_sent_at,
        version=1 if current is None else current.version + 1,
        updated_at=at,
    )
    event = None
    if action is not None and not (o.announce_only and action == Action.resolve):
        event = AlertEventRow(
            id=new_id(),
            user_id=user_id,
            kind=o.kind,
            subject=o.subject,
            action=action.value,
            message=_message(o, action),
            delivery="sending",
            created_at=at,
        )
    try:
        async with connection(None) as conn:
            if current is None:
                await crud.insert_alert_state(row=row, conn=conn)
            elif not await crud.update_alert_state(
                row=row, read_version=current.version, conn=conn
            ):
                raise _Lost
            if event is not None:
                await crud.insert_alert_event(row=event, conn=conn)
    except (IntegrityError, _Lost):
        return None
    push.notify([user_id], push.ALERTS)
    if event is not None:
        delivery = await deliver(user_id, event.message)
        await crud.set_alert_delivery(event_id=event.id, delivery=delivery)
    return action


async def evaluate_alerts(*, at: int | None = None, relays: list[dict]) -> int:
    """Every enabled user's alerts, once; how many messages this process sent.
    ``relays`` is this process's relay status (the super user's alerts)."""
    at = now() if at is None else at
    sent = 0
    for stored in await crud.list_alert_settings():
        user_id = stored["user_id"]
        settings = AlertSettings.parse_raw(stored["settings"])
        if not settings.enabled:
            continue
        try:
            observed = await observe_operator(user_id, settings, at)
            if lnbits_settings.is_super_user(user_id):
                observed += await observe_instance(settings, relays, at)
            for observation in observed:
                sent += await advance(user_id, observation, at) is not None
        except Exception:  # one user's failure must not silence the others
            logger.exception(f"satmachineadmin: alerts of {user_id}")
    return sent


async def get_alert_settings(user_id: str) -> AlertSettings:
    stored = await crud.get_alert_settings(user_id=user_id)
    return (
        AlertSettings.parse_obj({})
        if stored is None
        else AlertSettings.parse_raw(stored)
    )


async def set_alert_settings(user_id: str, data: AlertSettings) -> AlertSettings:
    await crud.put_alert_settings(
        user_id=user_id, settings=json.dumps(data.dict(), sort_keys=True), now=now()
    )
    return data


# How long the history of sent alerts is kept.
HISTORY_DAYS = 365


async def forget_old_alerts(at: int | None = None) -> None:
    at = now() if at is None else at
    await crud.delete_alert_events_before(before=at - HISTORY_DAYS * 86400)


async def alert_history(user_id: str, limit: int) -> list[AlertEvent]:
    return [
        AlertEvent(**row.dict())
        for row in await crud.list_alert_events(user_id=user_id, limit=limit)
    ]


async def active_alerts(user_id: str) -> list[AlertStatus]:
    return [
        AlertStatus(kind=r.kind, subject=r.subject, phase=r.phase, fired_at=r.fired_at)
        for r in await crud.list_alert_states(user_id=user_id)
    ]
