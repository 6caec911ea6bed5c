"""The audit log."""

from __future__ import annotations

from typing import Any

from lnbits.db import Connection

from ..models import AuditRow
from .sql import S, connection, fetch_rows, insert_row


async def insert_audit(*, row: dict[str, Any], conn: Connection | None = None) -> None:
    async with connection(conn) as c:
        await insert_row(c, "audit_log", row)


async def list_audit(
    *, operator_id: str, limit: int = 100, conn: Connection | None = None
) -> list[AuditRow]:
    return await fetch_rows(
        AuditRow,
        f"SELECT * FROM {S}.audit_log WHERE operator_id = :operator_id "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {"operator_id": operator_id, "limit": limit},
        conn,
    )
