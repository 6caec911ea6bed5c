"""Fee schedules, the versions of each machine's effective schedule, and the
settlements whose fee was not their schedule's."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import execute
from ..models import FeeMismatch, FeeScheduleRow, FeeVersionRow
from .sql import (
    S,
    as_int,
    connection,
    fetch_all,
    fetch_one,
    fetch_row,
    fetch_rows,
    insert_row,
)

DEFAULT_SCOPE = ""
"""The ``machine_id`` of an operator's default schedule."""


async def list_fee_schedules(
    *, operator_id: str, conn: Connection | None = None
) -> list[FeeScheduleRow]:
    """Every stored direction of the operator's default and overrides."""
    return await fetch_rows(
        FeeScheduleRow,
        f"SELECT * FROM {S}.fee_schedules WHERE operator_id = :operator_id "
        "ORDER BY machine_id, direction",
        {"operator_id": operator_id},
        conn,
    )


async def replace_fee_schedule(
    *, rows: list[FeeScheduleRow], conn: Connection | None = None
) -> None:
    """Writes both directions of one scope (default or machine) in place of any
    stored."""
    async with connection(conn) as c:
        for row in rows:
            await execute(
                c,
                f"DELETE FROM {S}.fee_schedules WHERE operator_id = :operator_id "
                "AND machine_id = :machine_id AND direction = :direction",
                {
                    "operator_id": row.operator_id,
                    "machine_id": row.machine_id,
                    "direction": row.direction,
                },
            )
            await insert_row(c, "fee_schedules", row.dict())


async def delete_fee_schedule(
    *, operator_id: str, machine_id: str, conn: Connection | None = None
) -> int:
    async with connection(conn) as c:
        return await execute(
            c,
            f"DELETE FROM {S}.fee_schedules WHERE operator_id = :operator_id "
            "AND machine_id = :machine_id",
            {"operator_id": operator_id, "machine_id": machine_id},
        )


async def list_machine_ids(*, conn: Connection | None = None) -> list[str]:
    """Every machine of every operator (each has a fee schedule)."""
    rows = await fetch_all(f"SELECT id FROM {S}.machines ORDER BY id", {}, conn)
    return [row["id"] for row in rows]


async def delete_machine_fees(*, machine_id: str, conn: Connection) -> None:
    """A deleted machine's override and versions."""
    await execute(
        conn,
        f"DELETE FROM {S}.fee_schedules WHERE machine_id = :machine_id",
        {"machine_id": machine_id},
    )
    await execute(
        conn,
        f"DELETE FROM {S}.fee_versions WHERE machine_id = :machine_id",
        {"machine_id": machine_id},
    )


async def highest_commission(
    *, direction: str, conn: Connection | None = None
) -> tuple[int, str | None]:
    """The highest commission any operator's schedule charges in a direction, and
    that operator (None: no schedule)."""
    row = await fetch_one(
        f"SELECT commission_bps, operator_id FROM {S}.fee_schedules "
        "WHERE direction = :direction "
        "ORDER BY commission_bps DESC, operator_id LIMIT 1",
        {"direction": direction},
        conn,
    )
    if row is None:
        return 0, None
    return as_int(row["commission_bps"]), row["operator_id"]


async def current_fee_version(
    *, machine_id: str, conn: Connection | None = None
) -> FeeVersionRow | None:
    return await fetch_row(
        FeeVersionRow,
        f"SELECT * FROM {S}.fee_versions WHERE machine_id = :machine_id "
        "ORDER BY version DESC LIMIT 1",
        {"machine_id": machine_id},
        conn,
    )


async def get_fee_version(
    *, machine_id: str, version: int, conn: Connection | None = None
) -> FeeVersionRow | None:
    return await fetch_row(
        FeeVersionRow,
        f"SELECT * FROM {S}.fee_versions "
        "WHERE machine_id = :machine_id AND version = :version",
        {"machine_id": machine_id, "version": version},
        conn,
    )


async def insert_fee_version(
    *, row: FeeVersionRow, replaces: int | None, conn: Connection | None = None
) -> None:
    """The new current version; the one it replaces is marked replaced at its
    issue time. Raises IntegrityError if that version number is taken (a
    concurrent change won)."""
    async with connection(conn) as c:
        await insert_row(c, "fee_versions", row.dict())
        if replaces is not None:
            await execute(
                c,
                f"UPDATE {S}.fee_versions SET replaced_at = :now "
                "WHERE machine_id = :machine_id AND version = :version",
                {
                    "now": row.issued_at,
                    "machine_id": row.machine_id,
                    "version": replaces,
                },
            )


async def mark_fee_version_fetched(
    *, machine_id: str, version: int, now: int, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.fee_versions SET fetched_at = :now "
            "WHERE machine_id = :machine_id AND version = :version "
            "AND fetched_at IS NULL",
            {"now": now, "machine_id": machine_id, "version": version},
        )


async def list_fee_mismatches(
    *, limit: int, conn: Connection | None = None
) -> list[FeeMismatch]:
    """Settlements, of every operator, whose fee differed from their schedule's."""
    return await fetch_rows(
        FeeMismatch,
        f"""
        SELECT s.id AS settlement_id, s.operator_id, s.machine_id,
               m.name AS machine_name, s.direction, s.tx_id, s.fee_version,
               s.commission_sats, s.fee_mismatch_sats, s.created_at
        FROM {S}.settlements s
        LEFT JOIN {S}.machines m ON m.id = s.machine_id
        WHERE s.fee_mismatch_sats IS NOT NULL AND s.fee_mismatch_sats <> 0
        ORDER BY s.created_at DESC, s.id
        LIMIT :limit
        """,
        {"limit": limit},
        conn,
    )
