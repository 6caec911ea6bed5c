"""ATM transactions: rows, guarded status updates, and the queries the state
machine in ``services.atm_transactions`` needs (which states and how overdue are
its decisions, passed in here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import AtmTransactionRow
from .sql import S, connection, fetch_all, fetch_one, in_list, insert_row


def _row(row: dict | None) -> AtmTransactionRow | None:
    return AtmTransactionRow(**row) if row else None


async def insert_atm_transaction(
    *, row: AtmTransactionRow, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "atm_transactions", row.columns())


async def get_atm_transaction(
    *,
    machine_id: str,
    tx_id: str | None = None,
    payment_hash: str | None = None,
    conn: Connection | None = None,
) -> AtmTransactionRow | None:
    column, value = (
        ("tx_id", tx_id) if tx_id is not None else ("payment_hash", payment_hash)
    )
    return _row(
        await fetch_one(
            f"SELECT * FROM {S}.atm_transactions WHERE machine_id = :machine_id "
            f"AND {column} = :value",
            {"machine_id": machine_id, "value": value},
            conn,
        )
    )


async def get_atm_transaction_by_hash(
    *, payment_hash: str, conn: Connection | None = None
) -> AtmTransactionRow | None:
    return _row(
        await fetch_one(
            f"SELECT * FROM {S}.atm_transactions WHERE payment_hash = :payment_hash",
            {"payment_hash": payment_hash},
            conn,
        )
    )


async def get_atm_transaction_for_operator(
    *, transaction_id: str, operator_id: str, conn: Connection | None = None
) -> AtmTransactionRow | None:
    return _row(
        await fetch_one(
            f"SELECT * FROM {S}.atm_transactions WHERE id = :id "
            "AND operator_id = :operator_id",
            {"id": transaction_id, "operator_id": operator_id},
            conn,
        )
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
        states, names = in_list("st", only_if_status)
        guard = f" AND status IN {states}"
        values.update(names)
    async with connection(conn) as c:
        return await execute(
            c,
            f"UPDATE {S}.atm_transactions SET {assignments} "
            f"WHERE id = :transaction_id{guard}",
            values,
        )


async def list_paid_before(
    *,
    direction: str,
    statuses: Sequence[str],
    dispense_confirmation: str,
    paid_before: int,
    conn: Connection | None = None,
) -> list[AtmTransactionRow]:
    """Transactions in any of ``statuses`` paid before ``paid_before``, on machines
    that confirm their dispenses the given way."""
    states, names = in_list("st", statuses)
    rows = await fetch_all(
        f"""
        SELECT t.* FROM {S}.atm_transactions t
        JOIN {S}.machines m ON m.id = t.machine_id
        WHERE t.status IN {states} AND t.direction = :direction
          AND m.dispense_confirmation = :confirmation AND t.paid_at < :paid_before
        """,
        {
            **names,
            "direction": direction,
            "confirmation": dispense_confirmation,
            "paid_before": paid_before,
        },
        conn,
    )
    return [AtmTransactionRow(**row) for row in rows]


async def list_atm_transactions_in(
    *, operator_id: str, statuses: Sequence[str], conn: Connection | None = None
) -> list[AtmTransactionRow]:
    """An operator's transactions in any of ``statuses``, the latest change first."""
    states, names = in_list("st", statuses)
    rows = await fetch_all(
        f"""
        SELECT * FROM {S}.atm_transactions
        WHERE operator_id = :operator_id AND status IN {states}
        ORDER BY updated_at DESC, id
        """,
        {"operator_id": operator_id, **names},
        conn,
    )
    return [AtmTransactionRow(**row) for row in rows]
