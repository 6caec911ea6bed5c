"""Beacons and telemetry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import BeaconRow, TelemetryRow
from .sql import S, connection, fetch_rows, in_list


async def upsert_beacon(*, row: dict[str, Any], conn: Connection | None = None) -> int:
    """Keeps the newest beacon per (machine, d): a later created_at wins, a tie goes
    to the lower event id; returns 1 if this one is now the stored one."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            INSERT INTO {S}.beacons
                (machine_id, d_tag, event_id, created_at, content, received_at)
            VALUES (:machine_id, :d_tag, :event_id, :created_at, :content, :received_at)
            ON CONFLICT (machine_id, d_tag) DO UPDATE SET
                event_id = excluded.event_id,
                created_at = excluded.created_at,
                content = excluded.content,
                received_at = excluded.received_at
            WHERE excluded.created_at > {S}.beacons.created_at
               OR (excluded.created_at = {S}.beacons.created_at
                   AND excluded.event_id < {S}.beacons.event_id)
            """,
            row,
        )


async def latest_beacons(
    *, machine_ids: Sequence[str], conn: Connection | None = None
) -> list[BeaconRow]:
    if not machine_ids:
        return []
    ids, names = in_list("m", machine_ids)
    return await fetch_rows(
        BeaconRow,
        f"SELECT * FROM {S}.beacons WHERE machine_id IN {ids} "
        "ORDER BY machine_id, created_at DESC",
        names,
        conn,
    )


async def insert_telemetry(
    *, row: dict[str, Any], conn: Connection | None = None
) -> int:
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            INSERT INTO {S}.telemetry
                (event_id, machine_id, d_tag, created_at, content, received_at)
            VALUES (:event_id, :machine_id, :d_tag, :created_at, :content, :received_at)
            ON CONFLICT (event_id) DO NOTHING
            """,
            row,
        )


async def list_telemetry(
    *, machine_id: str, limit: int = 100, conn: Connection | None = None
) -> list[TelemetryRow]:
    return await fetch_rows(
        TelemetryRow,
        f"SELECT * FROM {S}.telemetry WHERE machine_id = :machine_id "
        "ORDER BY created_at DESC, event_id LIMIT :limit",
        {"machine_id": machine_id, "limit": limit},
        conn,
    )


async def delete_telemetry_before(
    *, before: int, conn: Connection | None = None
) -> int:
    async with connection(conn) as c:
        return await execute(
            c,
            f"DELETE FROM {S}.telemetry WHERE created_at < :before",
            {"before": before},
        )
