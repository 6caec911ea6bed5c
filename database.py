"""The extension's database handle and a real transaction on top of it.

LNbits' ``Connection.execute/insert/update`` commit after every statement, so
``db.connect()`` alone is not atomic. Money needs several statements to commit
together (a settlement and all of its legs, or none), so the statements here run on
the underlying SQLAlchemy connection and commit once, at the end of ``transaction()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lnbits.db import Connection, Database
from sqlalchemy import text

db = Database("ext_satmachineadmin")


@asynccontextmanager
async def transaction() -> AsyncIterator[Connection]:
    """One database transaction: commits if the block succeeds, else rolls back."""
    async with db.connect() as conn:
        try:
            yield conn
        except BaseException:
            await conn.conn.rollback()
            raise
        await conn.conn.commit()


async def execute(conn: Connection, sql: str, values: dict[str, Any]) -> int:
    """Runs one statement inside the caller's transaction; returns rows affected."""
    result = await conn.conn.execute(
        text(conn.rewrite_query(sql)), conn.rewrite_values(values)
    )
    return result.rowcount


async def fetch_returning(
    conn: Connection, sql: str, values: dict[str, Any]
) -> dict | None:
    """Runs one ``… RETURNING`` statement inside the caller's transaction; returns
    the first row it returned, or None. (SQLite ≥ 3.35 and PostgreSQL both have
    RETURNING; a write and the read of its result are then one round trip.)"""
    result = await conn.conn.execute(
        text(conn.rewrite_query(sql)), conn.rewrite_values(values)
    )
    rows = result.mappings().all()
    return dict(rows[0]) if rows else None
