"""Machines: rows, lookups by key and wallet, and removal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import AdmittedMachine, MachineKeyRow, MachineRow
from .sql import (
    S,
    connection,
    fetch_all,
    fetch_one,
    fetch_row,
    fetch_rows,
    in_list,
    insert_row,
)


async def insert_machine(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "machines", row)


async def get_machine(
    *, machine_id: str, operator_id: str | None = None, conn: Connection | None = None
) -> MachineRow | None:
    if operator_id is None:
        return await fetch_row(
            MachineRow,
            f"SELECT * FROM {S}.machines WHERE id = :id",
            {"id": machine_id},
            conn,
        )
    return await fetch_row(
        MachineRow,
        f"SELECT * FROM {S}.machines WHERE id = :id AND operator_id = :operator_id",
        {"id": machine_id, "operator_id": operator_id},
        conn,
    )


async def list_machines(
    *, operator_id: str, conn: Connection | None = None
) -> list[MachineRow]:
    return await fetch_rows(
        MachineRow,
        f"SELECT * FROM {S}.machines WHERE operator_id = :operator_id "
        "ORDER BY created_at, id",
        {"operator_id": operator_id},
        conn,
    )


async def update_machine(
    *,
    machine_id: str,
    operator_id: str,
    fields: dict[str, Any],
    conn: Connection | None = None,
) -> None:
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.machines SET {assignments} "
            "WHERE id = :machine_id AND operator_id = :operator_id",
            {**fields, "machine_id": machine_id, "operator_id": operator_id},
        )


async def delete_machine_without_settlements(
    *, machine_id: str, operator_id: str, conn: Connection | None = None
) -> int:
    """Deletes the machine only if no settlement refers to it; returns rows deleted."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            DELETE FROM {S}.machines
            WHERE id = :machine_id AND operator_id = :operator_id
              AND NOT EXISTS (
                SELECT 1 FROM {S}.settlements s WHERE s.machine_id = :machine_id
              )
            """,
            {"machine_id": machine_id, "operator_id": operator_id},
        )


async def machine_has_settlements(
    *, machine_id: str, conn: Connection | None = None
) -> bool:
    row = await fetch_one(
        f"SELECT 1 AS found FROM {S}.settlements WHERE machine_id = :id LIMIT 1",
        {"id": machine_id},
        conn,
    )
    return row is not None


async def list_machine_pubkeys(
    *, conn: Connection | None = None
) -> list[MachineKeyRow]:
    rows = await fetch_all(
        f"SELECT id, pubkey, status, operator_id FROM {S}.machines ORDER BY pubkey",
        {},
        conn,
    )
    return [MachineKeyRow(**row) for row in rows]


async def list_expected_pubkeys(
    *, now: int, conn: Connection | None = None
) -> list[str]:
    """Keys an operator added by npub that may still confirm (their pairing is
    neither used nor expired)."""
    rows = await fetch_all(
        f"""
        SELECT DISTINCT expected_pubkey FROM {S}.pairings
        WHERE expected_pubkey IS NOT NULL AND used_at IS NULL AND expires_at > :now
        """,
        {"now": now},
        conn,
    )
    return [row["expected_pubkey"] for row in rows]


async def get_machine_by_pubkey(
    *, pubkey: str, conn: Connection | None = None
) -> MachineRow | None:
    return await fetch_row(
        MachineRow,
        f"SELECT * FROM {S}.machines WHERE pubkey = :pubkey",
        {"pubkey": pubkey},
        conn,
    )


async def get_admitted_machines(
    *, pubkeys: Sequence[str], conn: Connection | None = None
) -> list[AdmittedMachine]:
    """The machines of these keys, each with its current fee version."""
    if not pubkeys:
        return []
    keys, values = in_list("k", pubkeys)
    return await fetch_rows(
        AdmittedMachine,
        f"""
        SELECT m.*, (
            SELECT MAX(f.version) FROM {S}.fee_versions f WHERE f.machine_id = m.id
        ) AS fee_version
        FROM {S}.machines m WHERE m.pubkey IN {keys}
        """,
        values,
        conn,
    )


async def get_machine_by_wallet(
    *, wallet_id: str, conn: Connection | None = None
) -> MachineRow | None:
    return await fetch_row(
        MachineRow,
        f"SELECT * FROM {S}.machines WHERE wallet_id = :wallet_id",
        {"wallet_id": wallet_id},
        conn,
    )


async def list_machine_wallets(*, conn: Connection | None = None) -> list[str]:
    rows = await fetch_all(f"SELECT wallet_id FROM {S}.machines", {}, conn)
    return [row["wallet_id"] for row in rows]
