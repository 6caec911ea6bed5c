"""Push channels: each user's random websocket channel id, and who a change
concerns (the LNbits users behind LP enrolments and LPs)."""

from __future__ import annotations

from collections.abc import Sequence

from lnbits.db import Connection
from sqlalchemy.exc import IntegrityError

from .sql import S, connection, fetch_all, fetch_one, in_list, insert_row


async def get_push_channel(
    *, user_id: str, conn: Connection | None = None
) -> str | None:
    row = await fetch_one(
        f"SELECT channel FROM {S}.push_channels WHERE user_id = :user_id",
        {"user_id": user_id},
        conn,
    )
    return None if row is None else str(row["channel"])


async def insert_push_channel(*, user_id: str, channel: str, created_at: int) -> str:
    """Stores the user's channel unless one is there already; returns the stored
    one (two first requests at once agree on one channel). Its own transaction: a
    refused insert must not end a caller's."""
    try:
        async with connection(None) as c:
            await insert_row(
                c,
                "push_channels",
                {"user_id": user_id, "channel": channel, "created_at": created_at},
            )
    except IntegrityError:
        pass
    stored = await get_push_channel(user_id=user_id)
    assert stored is not None, "the channel was just stored"
    return stored


async def users_of_enrolments(
    *, enrolment_ids: Sequence[str], conn: Connection | None = None
) -> dict[str, str]:
    """The LNbits user of each enrolment (through its LP), by enrolment id."""
    if not enrolment_ids:
        return {}
    placeholders, values = in_list("e", enrolment_ids)
    rows = await fetch_all(
        f"SELECT e.id, l.user_id FROM {S}.lp_enrolments e "
        f"JOIN {S}.lps l ON l.id = e.lp_id WHERE e.id IN {placeholders}",
        values,
        conn,
    )
    return {str(row["id"]): str(row["user_id"]) for row in rows}


async def users_of_lps(
    *, lp_ids: Sequence[str], conn: Connection | None = None
) -> dict[str, str]:
    """The LNbits user of each LP, by LP id."""
    if not lp_ids:
        return {}
    placeholders, values = in_list("l", lp_ids)
    rows = await fetch_all(
        f"SELECT id, user_id FROM {S}.lps WHERE id IN {placeholders}", values, conn
    )
    return {str(row["id"]): str(row["user_id"]) for row in rows}
