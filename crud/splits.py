"""An operator's split rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from .sql import S, connection, fetch_all, insert_row


async def get_split_rules(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await fetch_all(
        f"SELECT * FROM {S}.split_rules WHERE operator_id = :operator_id "
        "ORDER BY position",
        {"operator_id": operator_id},
        conn,
    )


async def replace_split_rules(
    *, operator_id: str, rows: Sequence[dict[str, Any]], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.split_rules WHERE operator_id = :operator_id",
            {"operator_id": operator_id},
        )
        for row in rows:
            await insert_row(c, "split_rules", row)
