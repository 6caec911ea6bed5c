"""Idempotent RPC requests, the RPC log and handled Nostr events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import RpcErrorCount, RpcLogRow, RpcRequestRow
from .sql import (
    S,
    as_int,
    connection,
    equal_to,
    fetch_all,
    fetch_one,
    insert_row,
    insert_rows,
    values_list,
)


async def claim_rpc_request(
    *, row: RpcRequestRow, conn: Connection | None = None
) -> None:
    """Raises IntegrityError when (machine, method, tx_id) was claimed before."""
    async with connection(conn) as c:
        await insert_row(c, "rpc_requests", row.dict())


async def get_rpc_request(
    *, machine_id: str, method: str, tx_id: str, conn: Connection | None = None
) -> RpcRequestRow | None:
    row = await fetch_one(
        f"SELECT * FROM {S}.rpc_requests WHERE machine_id = :machine_id "
        "AND method = :method AND tx_id = :tx_id",
        {"machine_id": machine_id, "method": method, "tx_id": tx_id},
        conn,
    )
    return RpcRequestRow(**row) if row else None


async def finish_rpc_request(
    *, request_id: str, response: str, now: int, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.rpc_requests SET status = 'done', response = :response, "
            "updated_at = :now WHERE id = :id",
            {"id": request_id, "response": response, "now": now},
        )


async def take_over_rpc_request(
    *, request_id: str, stale_before: int, now: int, conn: Connection | None = None
) -> bool:
    """Lets one caller resume a claim whose worker died (still processing, old)."""
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.rpc_requests SET updated_at = :now WHERE id = :id "
                "AND status = 'processing' AND updated_at < :stale_before",
                {"id": request_id, "now": now, "stale_before": stale_before},
            )
            == 1
        )


async def release_rpc_request(
    *, request_id: str, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.rpc_requests WHERE id = :id AND status = 'processing'",
            {"id": request_id},
        )


# Bound parameters per statement: 12 columns by 50 rows stays far below every
# SQLite build's limit (999 in old ones) and PostgreSQL's.
LOG_ROWS_PER_STATEMENT = 50


async def insert_rpc_log(
    *, rows: Sequence[RpcLogRow | dict[str, Any]], conn: Connection | None = None
) -> None:
    """Answered requests, many rows to a statement, in one transaction."""
    dicts = [row.dict() if isinstance(row, RpcLogRow) else row for row in rows]
    async with connection(conn) as c:
        for start in range(0, len(dicts), LOG_ROWS_PER_STATEMENT):
            chunk = dicts[start : start + LOG_ROWS_PER_STATEMENT]
            await insert_rows(c, "rpc_log", chunk)


async def delete_rpc_log_before(
    *, before: int, batch: int = 5000, conn: Connection | None = None
) -> int:
    """Deletes up to ``batch`` entries older than ``before``; how many it deleted.

    In batches, so that purging a large backlog never holds the database (SQLite's
    single writer) for long: the caller repeats until fewer than ``batch`` go."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            DELETE FROM {S}.rpc_log WHERE id IN (
                SELECT id FROM {S}.rpc_log WHERE created_at < :before LIMIT :batch
            )
            """,
            {"before": before, "batch": batch},
        )


async def list_rpc_log(
    *,
    operator_id: str,
    machine_id: str | None = None,
    limit: int = 100,
    conn: Connection | None = None,
) -> list[RpcLogRow]:
    """The operator's log, newest first."""
    clauses, values = equal_to({"operator_id": operator_id, "machine_id": machine_id})
    rows = await fetch_all(
        f"SELECT * FROM {S}.rpc_log WHERE {' AND '.join(clauses)} "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {**values, "limit": limit},
        conn,
    )
    return [RpcLogRow(**row) for row in rows]


async def rpc_error_counts(
    *, operator_id: str, since: int, conn: Connection | None = None
) -> list[RpcErrorCount]:
    rows = await fetch_all(
        f"""
        SELECT COALESCE(error_code, 'ok') AS code, COUNT(*) AS count,
               MAX(created_at) AS last_at
        FROM {S}.rpc_log WHERE operator_id = :operator_id AND created_at >= :since
        GROUP BY COALESCE(error_code, 'ok') ORDER BY code
        """,
        {"operator_id": operator_id, "since": since},
        conn,
    )
    return [
        RpcErrorCount(
            code=r["code"], count=as_int(r["count"]), last_at=as_int(r["last_at"])
        )
        for r in rows
    ]


async def claim_events(
    *, event_ids: Sequence[str], now: int, conn: Connection | None = None
) -> set[str]:
    """Claims many events in one statement; the ids this call won (an id claimed
    before, by this process or another, is not among them). Ids must be distinct."""
    if not event_ids:
        return set()
    tuples, values = values_list(
        [{"event_id": event_id, "received_at": now} for event_id in event_ids]
    )
    async with connection(conn) as c:
        rows = await fetch_all(
            f"INSERT INTO {S}.handled_events (event_id, received_at) VALUES {tuples} "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            values,
            c,
        )
    return {row["event_id"] for row in rows}


async def forget_events_before(*, before: int, conn: Connection | None = None) -> int:
    async with connection(conn) as c:
        return await execute(
            c,
            f"DELETE FROM {S}.handled_events WHERE received_at < :before",
            {"before": before},
        )
