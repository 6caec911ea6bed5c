"""Operator rows, and the lock that serialises changes to an operator's money."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import execute
from .sql import S, connection


async def ensure_operator(
    *, user_id: str, now: int, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"""
            INSERT INTO {S}.operators (user_id, created_at) VALUES (:user_id, :now)
            ON CONFLICT (user_id) DO NOTHING
            """,
            {"user_id": user_id, "now": now},
        )


async def lock_operator_allocations(*, operator_id: str, conn: Connection) -> None:
    """Serializes LP-balance allocation per operator: the row lock is held until
    the caller's transaction ends (PostgreSQL); SQLite serializes writers anyway."""
    await execute(
        conn,
        f"UPDATE {S}.operators SET allocation_seq = allocation_seq + 1 "
        "WHERE user_id = :operator_id",
        {"operator_id": operator_id},
    )
