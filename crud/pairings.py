"""Pairing tokens."""

from __future__ import annotations

from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import PairingRow
from .sql import S, connection, fetch_row, fetch_rows, insert_row


async def insert_pairing(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "pairings", row)


async def get_pairing_by_token_hash(
    *, token_hash: str, conn: Connection | None = None
) -> PairingRow | None:
    return await fetch_row(
        PairingRow,
        f"SELECT * FROM {S}.pairings WHERE token_hash = :token_hash",
        {"token_hash": token_hash},
        conn,
    )


async def use_pairing(
    *, pairing_id: str, pubkey: str, now: int, conn: Connection | None = None
) -> bool:
    """Single use: only the first caller before expiry gets True, and only with
    the key the pairing expects, if it expects one."""
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.pairings SET used_at = :now, pubkey = :pubkey "
                "WHERE id = :id AND used_at IS NULL AND expires_at > :now "
                "AND (expected_pubkey IS NULL OR expected_pubkey = :pubkey)",
                {"id": pairing_id, "pubkey": pubkey, "now": now},
            )
            == 1
        )


async def set_pairing_machine(
    *, pairing_id: str, machine_id: str, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.pairings SET machine_id = :machine_id WHERE id = :id",
            {"id": pairing_id, "machine_id": machine_id},
        )


async def list_pairings(
    *, operator_id: str, conn: Connection | None = None
) -> list[PairingRow]:
    return await fetch_rows(
        PairingRow,
        f"SELECT * FROM {S}.pairings WHERE operator_id = :operator_id "
        "ORDER BY created_at DESC, id",
        {"operator_id": operator_id},
        conn,
    )
