"""The super user's configuration row and the server's Nostr key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import SuperConfigRow
from .sql import S, connection, fetch_one, fetch_row


async def get_super_config(*, conn: Connection | None = None) -> SuperConfigRow | None:
    return await fetch_row(
        SuperConfigRow, f"SELECT * FROM {S}.super_config WHERE id = 'global'", {}, conn
    )


async def create_super_config_if_missing(
    *,
    server_private_key: str,
    server_pubkey: str,
    relays: Sequence[str],
    now: int,
    conn: Connection | None = None,
) -> None:
    """First start: the row with the server's Nostr identity. A concurrent start
    that loses the race keeps the identity the winner wrote."""
    async with connection(conn) as c:
        await execute(
            c,
            f"""
            INSERT INTO {S}.super_config
                (id, relays, server_private_key, server_pubkey, updated_at)
            VALUES ('global', :relays, :private_key, :pubkey, :now)
            ON CONFLICT (id) DO NOTHING
            """,
            {
                "relays": json.dumps(list(relays)),
                "private_key": server_private_key,
                "pubkey": server_pubkey,
                "now": now,
            },
        )


async def update_super_config(
    *, fields: dict[str, Any], updated_by: str, now: int, conn: Connection | None = None
) -> None:
    values = {**fields, "updated_by": updated_by, "updated_at": now}
    assignments = ", ".join(f"{key} = :{key}" for key in values)
    async with connection(conn) as c:
        await execute(
            c, f"UPDATE {S}.super_config SET {assignments} WHERE id = 'global'", values
        )


async def get_server_private_key(*, conn: Connection | None = None) -> str | None:
    row = await fetch_one(
        f"SELECT server_private_key FROM {S}.super_config WHERE id = 'global'", {}, conn
    )
    return row["server_private_key"] if row else None
