"""Telling a user's open pages that something they show has changed.

The pages listen on LNbits' websocket (``/api/v1/ws/<channel>``). That websocket
has no authentication: whoever knows a channel id may listen on it or post to it.
So each user's channel is a random id, handed out only through the extension's
authenticated API, and a notice carries nothing but the areas that changed
(``{"changed": ["settlements"]}``); the page then refetches what it shows over the
authenticated API. A forged notice costs at most a refetch.

A notice never holds up nor fails the change it reports: the services call the
``notify_*`` functions, which only queue it; a background task sends it and logs
any error. Notices to one user are coalesced to at most one per ``COALESCE_S``
(machines' beacons arrive all the time); only users with a page open get one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable

from lnbits.core.services import websocket_manager
from loguru import logger

from .. import crud, helpers

COALESCE_S = 1.0

# The areas a notice may name; a page refetches what shows them.
SETTLEMENTS = "settlements"
MACHINES = "machines"
LPS = "lps"
ALERTS = "alerts"
RELAYS = "relays"

_pending: dict[str, set[str]] = {}  # user id -> areas not yet sent
_senders: dict[str, asyncio.Task] = {}  # user id -> the task that will send them
_last_sent: dict[str, float] = {}  # user id -> when (monotonic) one was last sent
_lookups: set[asyncio.Task] = set()  # finding who a change concerns
# A user's channel never changes once made: read once. A user without one (who
# never opened a page) is asked again after NO_CHANNEL_RECHECK_S, in case a page
# of theirs got one from another LNbits process on the same database meanwhile.
_channels: dict[str, str] = {}  # user id -> channel, once read or made
_no_channel_until: dict[str, float] = {}  # user id -> when to ask again
NO_CHANNEL_RECHECK_S = 60.0
# Whose an enrolment or an LP is never changes: each is looked up once, not at
# every leg paid (bounded: emptied when full).
_user_of_enrolment: dict[str, str] = {}
_user_of_lp: dict[str, str] = {}
KNOWN_OWNERS_MAX = 10_000  # also the most channels (known or not) kept


def _keep(known: dict, key: str, value: object) -> None:
    """``known[key] = value``, emptying ``known`` first when it is full."""
    if len(known) >= KNOWN_OWNERS_MAX:
        known.clear()
    known[key] = value


async def channel_for(user_id: str) -> str:
    """The user's channel id, made on first request: 32 random bytes, so it can
    be neither guessed nor derived from anything public."""
    channel = _channels.get(user_id) or await crud.get_push_channel(user_id=user_id)
    if channel is None:
        channel = await crud.insert_push_channel(
            user_id=user_id,
            channel=secrets.token_urlsafe(32),
            created_at=helpers.now(),
        )
    _keep(_channels, user_id, channel)
    _no_channel_until.pop(user_id, None)
    return channel


async def _known_channel(user_id: str) -> str | None:
    channel = _channels.get(user_id)
    if channel is not None:
        return channel
    if _no_channel_until.get(user_id, 0.0) > time.monotonic():
        return None
    channel = await crud.get_push_channel(user_id=user_id)
    if channel is None:
        _keep(_no_channel_until, user_id, time.monotonic() + NO_CHANNEL_RECHECK_S)
    else:
        _keep(_channels, user_id, channel)
    return channel


def notify(user_ids: Iterable[str], *areas: str) -> None:
    """Queues a notice of ``areas`` to each user; returns at once, never raises."""
    try:
        _forget_old_sends()
        for user_id in set(user_ids):
            _pending.setdefault(user_id, set()).update(areas)
            if user_id not in _senders:
                _senders[user_id] = asyncio.create_task(_send(user_id))
    except Exception as exc:  # a notice must never fail the change it reports
        logger.warning(f"satmachineadmin: push not queued: {exc!r}")


def notify_settlement(operator_id: str, enrolment_ids: Iterable[str]) -> None:
    """A settlement landed or its payouts moved: its operator and the LPs of
    ``enrolment_ids`` (those with a share in it) see it."""
    notify([operator_id], SETTLEMENTS)
    _notify_owners(enrolment_ids, _user_of_enrolment, _enrolment_users, SETTLEMENTS)


def notify_lps(operator_id: str, lp_ids: Iterable[str]) -> None:
    """An LP's enrolment, deposits or payouts changed: the operator and the LPs."""
    notify([operator_id], LPS)
    _notify_owners(lp_ids, _user_of_lp, _lp_users, LPS)


async def _enrolment_users(enrolment_ids: list[str]) -> dict[str, str]:
    return await crud.users_of_enrolments(enrolment_ids=enrolment_ids)


async def _lp_users(lp_ids: list[str]) -> dict[str, str]:
    return await crud.users_of_lps(lp_ids=lp_ids)


def _notify_owners(
    ids: Iterable[str],
    known: dict[str, str],
    find: Callable[[list[str]], Awaitable[dict[str, str]]],
    area: str,
) -> None:
    """Notifies the users who own ``ids``: at once those already known, the
    others once looked up (one query, in the background)."""
    wanted = set(ids)
    notify([known[i] for i in wanted & known.keys()], area)
    unknown = sorted(wanted - known.keys())
    if not unknown:
        return

    async def lookup() -> None:
        try:
            found = await find(unknown)
            for key, owner in found.items():
                _keep(known, key, owner)
            notify(found.values(), area)
        except Exception as exc:
            logger.warning(f"satmachineadmin: push recipients not found: {exc!r}")

    try:
        task = asyncio.create_task(lookup())
        _lookups.add(task)
        task.add_done_callback(_lookups.discard)
    except Exception as exc:
        logger.warning(f"satmachineadmin: push not queued: {exc!r}")


def _forget_old_sends() -> None:
    """Keeps ``_last_sent`` to the users it still holds back."""
    if len(_last_sent) > 1000:
        before = time.monotonic() - COALESCE_S
        for user_id in [u for u, at in _last_sent.items() if at < before]:
            del _last_sent[user_id]


async def _send(user_id: str) -> None:
    try:
        wait = _last_sent.get(user_id, -COALESCE_S) + COALESCE_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        areas = _pending.pop(user_id, set())
        channel = await _known_channel(user_id)
        if channel and websocket_manager.has_connection(channel):
            await websocket_manager.send(
                channel, json.dumps({"changed": sorted(areas)})
            )
            _last_sent[user_id] = time.monotonic()
    except asyncio.CancelledError:  # shutting down: no new sender after this one
        _pending.pop(user_id, None)
        raise
    except Exception as exc:
        logger.warning(f"satmachineadmin: push not sent: {exc!r}")
    finally:
        del _senders[user_id]
        if _pending.get(user_id):  # queued while this one was being sent
            _senders[user_id] = asyncio.create_task(_send(user_id))


async def drain() -> None:
    """Waits until every queued notice is sent (or given up on)."""
    while _lookups or _senders:
        await asyncio.gather(*_lookups, *_senders.values(), return_exceptions=True)
