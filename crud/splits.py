"""An operator's split rules."""

from __future__ import annotations

from collections.abc import Sequence

from lnbits.db import Connection

from ..database import execute
from ..models import SplitRuleRow
from .sql import S, connection, fetch_rows, insert_model


async def get_split_rules(
    *, operator_id: str, conn: Connection | None = None
) -> list[SplitRuleRow]:
    return await fetch_rows(
        SplitRuleRow,
        f"SELECT * FROM {S}.split_rules WHERE operator_id = :operator_id "
        "ORDER BY position",
        {"operator_id": operator_id},
        conn,
    )


async def replace_split_rules(
    *, operator_id: str, rows: Sequence[SplitRuleRow], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.split_rules WHERE operator_id = :operator_id",
            {"operator_id": operator_id},
        )
        for row in rows:
            await insert_model(c, "split_rules", row)
