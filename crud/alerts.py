"""Alert settings, each alert's state (changed only from the version read) and
the alerts sent."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import execute
from ..models import AlertEventRow, AlertStateRow
from .sql import (
    S,
    connection,
    equal_to,
    fetch_all,
    fetch_one,
    fetch_row,
    fetch_rows,
    insert_model,
)


async def get_alert_settings(
    *, user_id: str, conn: Connection | None = None
) -> str | None:
    """The user's settings as stored (JSON), or None."""
    row = await fetch_one(
        f"SELECT settings FROM {S}.alert_settings WHERE user_id = :user_id",
        {"user_id": user_id},
        conn,
    )
    return None if row is None else row["settings"]


async def put_alert_settings(
    *, user_id: str, settings: str, now: int, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.alert_settings WHERE user_id = :user_id",
            {"user_id": user_id},
        )
        await execute(
            c,
            f"INSERT INTO {S}.alert_settings (user_id, settings, updated_at) "
            "VALUES (:user_id, :settings, :now)",
            {"user_id": user_id, "settings": settings, "now": now},
        )


async def list_alert_settings(*, conn: Connection | None = None) -> list[dict]:
    """Every user's settings: ``user_id`` and ``settings`` (JSON)."""
    return await fetch_all(
        f"SELECT user_id, settings FROM {S}.alert_settings ORDER BY user_id", {}, conn
    )


async def get_alert_state(
    *, user_id: str, kind: str, subject: str, conn: Connection | None = None
) -> AlertStateRow | None:
    return await fetch_row(
        AlertStateRow,
        f"SELECT * FROM {S}.alert_states WHERE user_id = :user_id "
        "AND kind = :kind AND subject = :subject",
        {"user_id": user_id, "kind": kind, "subject": subject},
        conn,
    )


async def list_alert_states(
    *, user_id: str, conn: Connection | None = None
) -> list[AlertStateRow]:
    return await fetch_rows(
        AlertStateRow,
        f"SELECT * FROM {S}.alert_states WHERE user_id = :user_id "
        "AND phase <> 'ok' ORDER BY kind, subject",
        {"user_id": user_id},
        conn,
    )


async def insert_alert_state(*, row: AlertStateRow, conn: Connection) -> None:
    """Raises IntegrityError if another process made it first."""
    await insert_model(conn, "alert_states", row)


async def update_alert_state(
    *, row: AlertStateRow, read_version: int, conn: Connection
) -> int:
    """Writes ``row`` if the stored state is still ``read_version``; 1 if it
    was, 0 if another process changed it first."""
    return await execute(
        conn,
        f"UPDATE {S}.alert_states SET phase = :phase, since = :since, "
        "fired_at = :fired_at, last_sent_at = :last_sent_at, version = :version, "
        "updated_at = :updated_at WHERE user_id = :user_id AND kind = :kind "
        "AND subject = :subject AND version = :read_version",
        {**row.dict(), "read_version": read_version},
    )


async def insert_alert_event(*, row: AlertEventRow, conn: Connection) -> None:
    await insert_model(conn, "alert_events", row)


async def set_alert_delivery(
    *, event_id: str, delivery: str, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.alert_events SET delivery = :delivery WHERE id = :id",
            {"id": event_id, "delivery": delivery},
        )


async def list_alert_events(
    *, user_id: str, limit: int, conn: Connection | None = None
) -> list[AlertEventRow]:
    return await fetch_rows(
        AlertEventRow,
        f"SELECT * FROM {S}.alert_events WHERE user_id = :user_id "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {"user_id": user_id, "limit": limit},
        conn,
    )


async def last_requests_by_machine(
    *, operator_id: str, since: int, conn: Connection | None = None
) -> dict[str, int]:
    """When each of the operator's machines last made a request, for those that
    made one since ``since`` (a range of the operator's time index)."""
    rows = await fetch_all(
        f"SELECT machine_id, MAX(created_at) AS last FROM {S}.rpc_log "
        "WHERE operator_id = :operator_id AND created_at >= :since "
        "AND machine_id IS NOT NULL GROUP BY machine_id",
        {"operator_id": operator_id, "since": since},
        conn,
    )
    return {row["machine_id"]: int(row["last"]) for row in rows}


async def count_fee_mismatches_since(
    *, operator_id: str | None, since: int, conn: Connection | None = None
) -> int:
    """Settlements since ``since`` whose fee was not their schedule's: the
    operator's, or (None) the whole instance's."""
    clauses, values = equal_to({"operator_id": operator_id})
    where = "".join(f" AND {clause}" for clause in clauses)
    row = await fetch_one(
        f"SELECT COUNT(*) AS n FROM {S}.settlements "
        "WHERE fee_mismatch_sats IS NOT NULL AND fee_mismatch_sats <> 0 "
        f"AND created_at >= :since{where}",
        {**values, "since": since},
        conn,
    )
    return int(row["n"]) if row else 0


async def delete_alert_events_before(
    *, before: int, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.alert_events WHERE created_at < :before",
            {"before": before},
        )
