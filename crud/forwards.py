"""LP auto-forwarding: settings and the forwards queue."""

from __future__ import annotations

from typing import Any

from lnbits.db import Connection

from ..database import db, execute, fetch_returning
from ..models import ForwardRow, LpForwardingRow
from .sql import S, claimable, connection

# A forward's claim is its 'sending' status; ``updated_at`` is the claim's time.
SENDABLE = claimable(busy="sending", claimed_at="updated_at")


async def update_lp_forwarding(
    *,
    lp_id: str,
    ln_address: str | None,
    fee_reserve_bps: int,
    conn: Connection | None = None,
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.lps SET ln_address = :ln_address, "
            "forward_fee_reserve_bps = :bps WHERE id = :id",
            {"id": lp_id, "ln_address": ln_address, "bps": fee_reserve_bps},
        )


async def get_lp_of_enrolment(
    *, enrolment_id: str, conn: Connection | None = None
) -> LpForwardingRow | None:
    return await (conn or db).fetchone(
        f"SELECT l.* FROM {S}.lps l JOIN {S}.lp_enrolments e ON e.lp_id = l.id "
        "WHERE e.id = :id",
        {"id": enrolment_id},
        LpForwardingRow,
    )


async def insert_forward_once(
    *, row: dict[str, Any], conn: Connection | None = None
) -> int:
    """One forward per distribution leg, however often it is scheduled."""
    columns = ", ".join(row)
    params = ", ".join(f":{key}" for key in row)
    async with connection(conn) as c:
        return await execute(
            c,
            f"INSERT INTO {S}.forwards ({columns}) VALUES ({params}) "
            "ON CONFLICT (leg_id) DO NOTHING",
            row,
        )


async def forwards_due(
    *, now: int, stale_before: int, limit: int = 100, conn: Connection | None = None
) -> list[ForwardRow]:
    return await (conn or db).fetchall(
        f"""
        SELECT * FROM {S}.forwards WHERE {SENDABLE}
        ORDER BY created_at LIMIT :limit
        """,
        {"now": now, "stale_before": stale_before, "limit": limit},
        ForwardRow,
    )


async def claim_forward(
    *, forward_id: str, now: int, stale_before: int, conn: Connection | None = None
) -> ForwardRow | None:
    """Takes a forward for sending, as claim_leg takes a leg; returns it as it now
    stands (None when the claim was lost). Its ``updated_at`` is the claim's token
    for update_forward."""
    async with connection(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.forwards
            SET status = 'sending', attempts = attempts + 1, updated_at = :now
            WHERE id = :id AND {SENDABLE}
            RETURNING *
            """,
            {"id": forward_id, "now": now, "stale_before": stale_before},
        )
    return ForwardRow(**row) if row else None


async def update_forward(
    *,
    forward_id: str,
    claimed_at: int,
    fields: dict[str, Any],
    conn: Connection | None = None,
) -> bool:
    """Writes a claimed forward; False when the claim made at ``claimed_at`` was
    taken over meanwhile (and nothing was written)."""
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.forwards SET {assignments} WHERE id = :forward_id "
                "AND status = 'sending' AND updated_at = :claimed_at",
                {**fields, "forward_id": forward_id, "claimed_at": claimed_at},
            )
            == 1
        )


async def list_forwards(
    *, lp_id: str, conn: Connection | None = None
) -> list[ForwardRow]:
    return await (conn or db).fetchall(
        f"SELECT * FROM {S}.forwards WHERE lp_id = :lp_id "
        "ORDER BY created_at DESC, id LIMIT 500",
        {"lp_id": lp_id},
        ForwardRow,
    )
