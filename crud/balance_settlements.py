"""LP balance settlements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import fetch_returning
from ..models import (
    BalanceSettlementRow,
    LegRow,
    LpBalanceSettlementRow,
    NewBalanceSettlementRow,
)
from .sql import S, fetch_row, fetch_rows, in_list, insert_model


async def insert_balance_settlement(
    *, row: NewBalanceSettlementRow, conn: Connection
) -> None:
    await insert_model(conn, "balance_settlements", row)


async def list_balance_settlements(
    *,
    operator_id: str | None = None,
    enrolment_ids: Sequence[str] | None = None,
    settlement_id: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    conn: Connection | None = None,
) -> list[BalanceSettlementRow]:
    clauses: list[str] = []
    values: dict[str, Any] = {"limit": limit}
    if operator_id is not None:
        clauses.append("b.operator_id = :operator_id")
        values["operator_id"] = operator_id
    if settlement_id is not None:
        clauses.append("b.id = :settlement_id")
        values["settlement_id"] = settlement_id
    if status is not None:
        clauses.append("g.status = :status")
        values["status"] = status
    if enrolment_ids is not None:
        if not enrolment_ids:
            return []
        ids, names = in_list("e", enrolment_ids)
        clauses.append(f"b.enrolment_id IN {ids}")
        values.update(names)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return await fetch_rows(
        BalanceSettlementRow,
        f"""
        SELECT b.*, g.status, g.last_error, g.attempts, g.payment_hash
        FROM {S}.balance_settlements b
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        {where}
        ORDER BY b.created_at DESC, b.id
        LIMIT :limit
        """,
        values,
        conn,
    )


async def get_balance_settlement_by_key(
    *, operator_id: str, idempotency_key: str, conn: Connection | None = None
) -> BalanceSettlementRow | None:
    return await fetch_row(
        BalanceSettlementRow,
        f"""
        SELECT b.*, g.status, g.last_error, g.attempts, g.payment_hash
        FROM {S}.balance_settlements b
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        WHERE b.operator_id = :operator_id AND b.idempotency_key = :key
        """,
        {"operator_id": operator_id, "key": idempotency_key},
        conn,
    )


async def void_failed_balance_settlement(
    *, settlement_id: str, operator_id: str, now: int, conn: Connection
) -> LegRow | None:
    """failed → void, for a balance settlement's leg only: a leg being paid
    (paying), paid or already void is left as it is, whatever else runs. Returns
    the voided leg, or None when it was not failed."""
    leg = await fetch_returning(
        conn,
        f"""
        UPDATE {S}.payout_legs
        SET status = 'void', next_attempt_at = NULL, updated_at = :now
        WHERE settlement_id = :id AND operator_id = :operator_id
          AND kind = 'lp_balance_settlement' AND status = 'failed'
        RETURNING *
        """,
        {"id": settlement_id, "operator_id": operator_id, "now": now},
    )
    return None if leg is None else LegRow.parse_obj(leg)


async def list_lp_balance_settlements(
    *, lp_id: str, limit: int = 1000, conn: Connection | None = None
) -> list[LpBalanceSettlementRow]:
    """An LP's balance settlements, newest first, with their legs' status."""
    return await fetch_rows(
        LpBalanceSettlementRow,
        f"""
        SELECT b.id, b.enrolment_id, b.operator_id, b.fiat_minor, b.fiat_code,
               b.exchange_rate, b.sats, b.created_at, g.status, g.paid_at
        FROM {S}.balance_settlements b
        JOIN {S}.lp_enrolments e ON e.id = b.enrolment_id
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        WHERE e.lp_id = :lp_id
        ORDER BY b.created_at DESC, b.id
        LIMIT :limit
        """,
        {"lp_id": lp_id, "limit": limit},
        conn,
    )
