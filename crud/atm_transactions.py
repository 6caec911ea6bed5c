"""ATM transactions and the abandonment of overdue cash-outs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from .sql import S, connection, fetch_all, fetch_one, insert_row


async def insert_atm_transaction(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "atm_transactions", row)


async def get_atm_transaction(
    *,
    machine_id: str,
    tx_id: str | None = None,
    payment_hash: str | None = None,
    conn: Connection | None = None,
) -> dict | None:
    column, value = (
        ("tx_id", tx_id) if tx_id is not None else ("payment_hash", payment_hash)
    )
    return await fetch_one(
        f"SELECT * FROM {S}.atm_transactions WHERE machine_id = :machine_id "
        f"AND {column} = :value",
        {"machine_id": machine_id, "value": value},
        conn,
    )


async def get_atm_transaction_by_hash(
    *, payment_hash: str, conn: Connection | None = None
) -> dict | None:
    return await fetch_one(
        f"SELECT * FROM {S}.atm_transactions WHERE payment_hash = :payment_hash",
        {"payment_hash": payment_hash},
        conn,
    )


async def update_atm_transaction(
    *,
    transaction_id: str,
    fields: dict[str, Any],
    only_if_status: Sequence[str] | None = None,
    conn: Connection | None = None,
) -> int:
    """Updates one transaction; with ``only_if_status`` only from those states,
    which makes each state change happen once however many callers race."""
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    values: dict[str, Any] = {**fields, "transaction_id": transaction_id}
    guard = ""
    if only_if_status:
        names = {f"st{i}": status for i, status in enumerate(only_if_status)}
        guard = f" AND status IN ({', '.join(f':{n}' for n in names)})"
        values.update(names)
    async with connection(conn) as c:
        return await execute(
            c,
            f"UPDATE {S}.atm_transactions SET {assignments} "
            f"WHERE id = :transaction_id{guard}",
            values,
        )


async def abandon_overdue_cash_outs(
    *, paid_before: int, now: int, conn: Connection | None = None
) -> list[dict]:
    """Paid cash-outs whose machine never reported the dispense: abandoned."""
    async with connection(conn) as c:
        overdue = await fetch_all(
            f"""
            SELECT t.* FROM {S}.atm_transactions t
            JOIN {S}.machines m ON m.id = t.machine_id
            WHERE t.status = 'paid' AND t.direction = 'cash_out'
              AND m.dispense_confirmation = 'report' AND t.paid_at < :paid_before
            """,
            {"paid_before": paid_before},
            c,
        )
        abandoned = []
        for tx in overdue:
            changed = await execute(
                c,
                f"UPDATE {S}.atm_transactions SET status = 'abandoned', "
                "note = 'no dispense report before the timeout', updated_at = :now "
                "WHERE id = :id AND status = 'paid'",
                {"id": tx["id"], "now": now},
            )
            if changed:
                abandoned.append(tx)
    return abandoned


ABANDONED_STATES = ("abandoned", "cancelled_after_payment", "failed")


async def list_abandoned(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await fetch_all(
        f"""
        SELECT * FROM {S}.atm_transactions
        WHERE operator_id = :operator_id
          AND status IN ('abandoned', 'cancelled_after_payment', 'failed')
        ORDER BY updated_at DESC, id
        """,
        {"operator_id": operator_id},
        conn,
    )


async def get_atm_transaction_for_operator(
    *, transaction_id: str, operator_id: str, conn: Connection | None = None
) -> dict | None:
    return await fetch_one(
        f"SELECT * FROM {S}.atm_transactions WHERE id = :id "
        "AND operator_id = :operator_id",
        {"id": transaction_id, "operator_id": operator_id},
        conn,
    )
