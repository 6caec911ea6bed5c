"""LNURL-withdraw links: rows, the guarded claim that lets one callback pay, and
the guarded moves out of each state (a move that another caller made first
changes nothing and says so)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lnbits.db import Connection

from ..database import execute, fetch_returning
from ..models import LinkStatus, WithdrawLinkRow
from .sql import S, connection, fetch_row, fetch_rows, insert_row


async def insert_withdraw_link(
    *, row: WithdrawLinkRow, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "withdraw_links", row.columns())


async def get_withdraw_link(
    *,
    k1: str | None = None,
    machine_id: str | None = None,
    tx_id: str | None = None,
    conn: Connection | None = None,
) -> WithdrawLinkRow | None:
    """By its ``k1``, or by its machine's transaction."""
    if k1 is not None:
        where, values = "k1 = :k1", {"k1": k1}
    else:
        where = "machine_id = :machine_id AND tx_id = :tx_id"
        values = {"machine_id": machine_id or "", "tx_id": tx_id or ""}
    return await fetch_row(
        WithdrawLinkRow,
        f"SELECT * FROM {S}.withdraw_links WHERE {where}",
        values,
        conn,
    )


async def claim_withdraw_link(
    *,
    k1: str,
    bolt11: str,
    payment_hash: str,
    now: int,
    conn: Connection | None = None,
) -> WithdrawLinkRow | None:
    """pending and not expired → claimed, recording the invoice it will pay:
    one caller wins, in this process or another one on the same database.
    Returns the claimed link, or None when this caller did not win (raises
    IntegrityError when another link claimed that invoice)."""
    async with connection(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.withdraw_links
            SET status = 'claimed', bolt11 = :bolt11, payment_hash = :payment_hash,
                claimed_at = :now, updated_at = :now
            WHERE k1 = :k1 AND status = 'pending' AND expires_at > :now
            RETURNING *
            """,
            {"k1": k1, "bolt11": bolt11, "payment_hash": payment_hash, "now": now},
        )
    return WithdrawLinkRow(**row) if row else None


async def move_withdraw_link(
    *,
    link_id: str,
    from_: Sequence[LinkStatus],
    fields: dict[str, Any],
    claimed_at: int | None = None,
    conn: Connection | None = None,
) -> bool:
    """Moves a link on from one of ``from_`` (and, given ``claimed_at``, only
    under that claim), writing ``fields``; False if another caller was first."""
    names = {f"st{i}": status.value for i, status in enumerate(from_)}
    states = ", ".join(f":{name}" for name in names)
    values = {
        key: value.value if isinstance(value, LinkStatus) else value
        for key, value in fields.items()
    }
    assignments = ", ".join(f"{key} = :{key}" for key in values)
    params: dict[str, Any] = {**values, **names, "link_id": link_id}
    fence = ""
    if claimed_at is not None:
        fence = " AND claimed_at = :fence"
        params["fence"] = claimed_at
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.withdraw_links SET {assignments} "
                f"WHERE id = :link_id AND status IN ({states}){fence}",
                params,
            )
            == 1
        )


async def list_withdraw_links_due(
    *, now: int, stale_before: int, conn: Connection | None = None
) -> list[WithdrawLinkRow]:
    """Links that need the sweep: unclaimed past their expiry, or claimed by a
    callback that did not finish (a crash, or a payment LNbits had in flight)."""
    return await fetch_rows(
        WithdrawLinkRow,
        f"""
        SELECT * FROM {S}.withdraw_links
        WHERE (status = 'pending' AND expires_at <= :now)
           OR (status = 'claimed' AND claimed_at < :stale_before)
        ORDER BY updated_at
        LIMIT 100
        """,
        {"now": now, "stale_before": stale_before},
        conn,
    )
