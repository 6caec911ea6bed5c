"""Settlements and their legs: insert, read, filter, totals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..models import (
    CurrencySumsRow,
    DailyMachineSumsRow,
    LegRow,
    NewLegRow,
    NewSettlementRow,
    OperatorTotals,
    SettlementRow,
)
from .sql import (
    S,
    as_int,
    connection,
    equal_to,
    fetch_all,
    fetch_one,
    fetch_row,
    fetch_rows,
    in_list,
    insert_model,
    ints_except,
)


async def insert_settlement(*, row: NewSettlementRow, conn: Connection) -> None:
    await insert_model(conn, "settlements", row)


async def insert_legs(*, rows: Sequence[NewLegRow], conn: Connection) -> None:
    for row in rows:
        await insert_model(conn, "payout_legs", row)


async def get_settlement(
    *,
    settlement_id: str,
    operator_id: str | None = None,
    conn: Connection | None = None,
) -> SettlementRow | None:
    sql = f"SELECT * FROM {S}.settlements WHERE id = :id"
    values = {"id": settlement_id}
    if operator_id is not None:
        sql += " AND operator_id = :operator_id"
        values["operator_id"] = operator_id
    return await fetch_row(SettlementRow, sql, values, conn)


async def get_settlement_by_tx(
    *, machine_id: str, tx_id: str, conn: Connection | None = None
) -> SettlementRow | None:
    return await fetch_row(
        SettlementRow,
        f"SELECT * FROM {S}.settlements WHERE machine_id = :machine_id "
        "AND tx_id = :tx_id",
        {"machine_id": machine_id, "tx_id": tx_id},
        conn,
    )


async def get_settlement_by_payment_hash(
    *, payment_hash: str, conn: Connection | None = None
) -> SettlementRow | None:
    return await fetch_row(
        SettlementRow,
        f"SELECT * FROM {S}.settlements WHERE payment_hash = :payment_hash",
        {"payment_hash": payment_hash},
        conn,
    )


def _settlement_filters(
    *,
    operator_id: str,
    machine_id: str | None,
    status: str | None,
    direction: str | None,
    since: int | None,
    until: int | None,
) -> tuple[str, dict[str, Any]]:
    clauses, values = equal_to(
        {
            "operator_id": operator_id,
            "machine_id": machine_id,
            "status": status,
            "direction": direction,
        }
    )
    if since is not None:
        clauses.append("created_at >= :since")
        values["since"] = since
    if until is not None:
        clauses.append("created_at < :until")
        values["until"] = until
    return " AND ".join(clauses), values


async def list_settlements(
    *,
    operator_id: str,
    machine_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    conn: Connection | None = None,
) -> tuple[list[SettlementRow], int]:
    where, values = _settlement_filters(
        operator_id=operator_id,
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=since,
        until=until,
    )
    order = "ORDER BY created_at DESC, id DESC"
    async with connection(conn) as c:  # one connection for the page and its count
        if limit is None:
            rows = await fetch_rows(
                SettlementRow,
                f"SELECT * FROM {S}.settlements WHERE {where} {order}",
                values,
                c,
            )
            return rows, len(rows)
        # The page's ids come from the index alone (settlements_list covers the
        # usual filter, the order and the id), so a deep offset skips index
        # entries, not whole rows; only the page's own rows are read.
        rows = await fetch_rows(
            SettlementRow,
            f"SELECT s.* FROM {S}.settlements s JOIN ("
            f"SELECT id FROM {S}.settlements WHERE {where} {order} "
            "LIMIT :limit OFFSET :offset"
            ") page ON page.id = s.id ORDER BY s.created_at DESC, s.id DESC",
            {**values, "limit": limit, "offset": offset},
            c,
        )
        counted = await fetch_one(
            f"SELECT COUNT(*) AS total FROM {S}.settlements WHERE {where}", values, c
        )
    return rows, as_int(counted["total"] if counted else 0)


async def settlement_totals(
    *,
    operator_id: str,
    machine_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    since: int | None = None,
    until: int | None = None,
    conn: Connection | None = None,
) -> list[CurrencySumsRow]:
    """Sums of the filtered settlements, one row per fiat currency."""
    where, values = _settlement_filters(
        operator_id=operator_id,
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=since,
        until=until,
    )
    rows = await fetch_all(
        f"""
        SELECT fiat_code, COUNT(*) AS settlements,
            SUM(fiat_amount_minor) AS fiat_amount_minor,
            SUM(gross_sats) AS gross_sats,
            SUM(commission_sats) AS commission_sats,
            SUM(platform_fee_sats) AS platform_fee_sats,
            SUM(operator_fee_sats) AS operator_fee_sats,
            SUM(lp_allocated_sats) AS lp_allocated_sats
        FROM {S}.settlements WHERE {where}
        GROUP BY fiat_code ORDER BY fiat_code
        """,
        values,
        conn,
    )
    return [CurrencySumsRow.parse_obj(ints_except(row, "fiat_code")) for row in rows]


async def daily_settlement_stats(
    *, operator_id: str, since: int, until: int, conn: Connection | None = None
) -> list[DailyMachineSumsRow]:
    """Per UTC day and machine; created_at is integer seconds, so the division
    truncates to the day on SQLite and PostgreSQL alike."""
    rows = await fetch_all(
        f"""
        SELECT created_at / 86400 AS day, machine_id, COUNT(*) AS settlements,
            SUM(gross_sats) AS gross_sats, SUM(commission_sats) AS commission_sats
        FROM {S}.settlements
        WHERE operator_id = :operator_id
          AND created_at >= :since AND created_at < :until
        GROUP BY created_at / 86400, machine_id
        ORDER BY day, machine_id
        """,
        {"operator_id": operator_id, "since": since, "until": until},
        conn,
    )
    return [
        DailyMachineSumsRow.parse_obj(ints_except(row, "machine_id")) for row in rows
    ]


async def get_legs(
    *, settlement_ids: Sequence[str], conn: Connection | None = None
) -> list[LegRow]:
    if not settlement_ids:
        return []
    ids, names = in_list("s", settlement_ids)
    return await fetch_rows(
        LegRow,
        f"SELECT * FROM {S}.payout_legs WHERE settlement_id IN {ids} "
        "ORDER BY settlement_id, position",
        names,
        conn,
    )


async def operator_totals(*, conn: Connection | None = None) -> list[OperatorTotals]:
    rows = await fetch_all(
        f"""
        SELECT o.user_id AS operator_id,
            (SELECT COUNT(*) FROM {S}.machines m
             WHERE m.operator_id = o.user_id) AS machines,
            COUNT(s.id) AS settlements,
            COALESCE(SUM(s.gross_sats), 0) AS gross_sats,
            COALESCE(SUM(s.commission_sats), 0) AS commission_sats,
            COALESCE(SUM(s.platform_fee_sats), 0) AS platform_fee_sats,
            COALESCE(SUM(s.operator_fee_sats), 0) AS operator_fee_sats
        FROM {S}.operators o
        LEFT JOIN {S}.settlements s ON s.operator_id = o.user_id
        GROUP BY o.user_id
        ORDER BY o.user_id
        """,
        {},
        conn,
    )
    return [OperatorTotals.parse_obj(ints_except(row, "operator_id")) for row in rows]
