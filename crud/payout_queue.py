"""The payout legs queue: claims, invoices, outcomes and the worklist."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import db, execute, fetch_returning
from ..models import LegContext, LegRow
from .sql import S, claimable, connection, fetch_all, fetch_row


async def get_leg(*, leg_id: str, conn: Connection | None = None) -> LegRow | None:
    return await (conn or db).fetchone(
        f"SELECT * FROM {S}.payout_legs WHERE id = :id", {"id": leg_id}, LegRow
    )


async def claim_leg(
    *, leg_id: str, now: int, stale_before: int, conn: Connection | None = None
) -> LegRow | None:
    """Takes a leg for payment: one claimant wins, whatever the number of workers
    or processes. A failed leg is taken only once its retry is due; a claim older
    than ``stale_before`` belonged to a dead worker.

    Returns the claimed leg as it now stands (None when the claim was lost), read
    in the same statement, plus ``lp_ln_address``: the Lightning address its LP
    forwards to, if any, so that paying the leg needs no further reads."""
    async with connection(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.payout_legs
            SET status = 'paying', claimed_at = :now, attempts = attempts + 1,
                updated_at = :now
            WHERE id = :id AND {claimable()}
            RETURNING *, (
                SELECT l.ln_address FROM {S}.lps l
                JOIN {S}.lp_enrolments e ON e.lp_id = l.id
                WHERE e.id = payout_legs.lp_enrolment_id
            ) AS lp_ln_address
            """,
            {"id": leg_id, "now": now, "stale_before": stale_before},
        )
    return LegRow(**row) if row else None


async def set_leg_invoice(
    *,
    leg_id: str,
    claimed_at: int | None,
    payment_hash: str,
    payment_request: str,
    conn: Connection | None = None,
) -> bool:
    """Records the invoice a leg pays, replacing one that was not paid; only the
    current claim (``claimed_at`` fences it) may. False: the claim was taken over,
    and the invoice must not be paid."""
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.payout_legs SET payment_hash = :payment_hash, "
                "payment_request = :payment_request "
                "WHERE id = :id AND status = 'paying' AND claimed_at = :claimed_at",
                {
                    "id": leg_id,
                    "claimed_at": claimed_at,
                    "payment_hash": payment_hash,
                    "payment_request": payment_request,
                },
            )
            == 1
        )


async def finish_leg(
    *,
    leg_id: str,
    claimed_at: int | None,
    status: str,
    now: int,
    error: str | None = None,
    next_attempt_at: int | None = None,
    conn: Connection | None = None,
) -> int:
    """paying → paid or failed; only the current claim's transition counts."""
    paid_at = ", paid_at = :now" if status == "paid" else ""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            UPDATE {S}.payout_legs
            SET status = :status, last_error = :error, updated_at = :now,
                next_attempt_at = :next_attempt_at{paid_at}
            WHERE id = :id AND status = 'paying' AND claimed_at = :claimed_at
            """,
            {
                "id": leg_id,
                "claimed_at": claimed_at,
                "status": status,
                "error": error,
                "now": now,
                "next_attempt_at": next_attempt_at,
            },
        )


async def legs_of(
    *, settlement_id: str, conn: Connection | None = None
) -> list[LegRow]:
    return await (conn or db).fetchall(
        f"SELECT * FROM {S}.payout_legs WHERE settlement_id = :id ORDER BY position",
        {"id": settlement_id},
        LegRow,
    )


async def settlements_to_process(
    *, now: int, stale_before: int, limit: int = 100, conn: Connection | None = None
) -> dict[str, str]:
    """Settlements with a leg to pay now (new, due for a retry, or left mid-payment
    by a worker that died), and settlements whose legs are all done but whose
    status was not written (a crash between the last leg and the status): each
    settlement's id and the wallet its legs are paid from ('' for the latter),
    oldest first, so that a backlog is paid in the order the sales were made."""
    rows = await fetch_all(
        f"""
        SELECT settlement_id, source_wallet_id, MIN(created_at) AS since
        FROM {S}.payout_legs WHERE {claimable()}
        GROUP BY settlement_id, source_wallet_id
        UNION
        SELECT s.id, '', s.created_at FROM {S}.settlements s
        WHERE s.status IN ('pending', 'processing') AND NOT EXISTS (
            SELECT 1 FROM {S}.payout_legs g WHERE g.settlement_id = s.id
            AND g.status IN ('pending', 'paying', 'failed')
        )
        ORDER BY since, settlement_id
        LIMIT :limit
        """,
        {"now": now, "stale_before": stale_before, "limit": limit},
        conn,
    )
    due: dict[str, str] = {}
    for row in rows:
        due.setdefault(row["settlement_id"], row["source_wallet_id"] or "")
    return due


async def refresh_settlement_status(
    *, settlement_id: str, now: int, conn: Connection | None = None
) -> str | None:
    """Derives the status from the legs in one statement, so that whichever
    worker writes last writes what the legs say at that moment. Returns that
    status, or None when there is no such settlement (a balance settlement)."""
    async with connection(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.settlements SET updated_at = :now, status = CASE
                WHEN NOT EXISTS (
                    SELECT 1 FROM {S}.payout_legs g WHERE g.settlement_id = :id
                    AND g.status NOT IN ('paid', 'retained', 'void', 'accrued')
                ) THEN 'settled'
                WHEN EXISTS (
                    SELECT 1 FROM {S}.payout_legs g WHERE g.settlement_id = :id
                    AND g.status IN ('pending', 'paying')
                ) THEN 'processing'
                ELSE 'failed'
            END
            WHERE id = :id
            RETURNING status
            """,
            {"id": settlement_id, "now": now},
        )
    return row["status"] if row else None


async def make_failed_legs_due(
    *, settlement_id: str, now: int, conn: Connection | None = None
) -> int:
    async with connection(conn) as c:
        return await execute(
            c,
            f"UPDATE {S}.payout_legs SET next_attempt_at = :now "
            "WHERE settlement_id = :id AND status = 'failed'",
            {"id": settlement_id, "now": now},
        )


async def list_settlements_with_failed_legs(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await fetch_all(
        f"""
        SELECT * FROM {S}.settlements s
        WHERE s.operator_id = :operator_id AND EXISTS (
            SELECT 1 FROM {S}.payout_legs g
            WHERE g.settlement_id = s.id AND g.status = 'failed'
        )
        ORDER BY s.created_at DESC, s.id
        """,
        {"operator_id": operator_id},
        conn,
    )


async def leg_context(
    *, settlement_id: str, conn: Connection | None = None
) -> LegContext | None:
    """The machine settlement, or the LP's balance settlement, a leg pays for."""
    return await fetch_row(
        LegContext,
        f"""
        SELECT m.name AS machine, s.direction, s.fiat_amount_minor AS total_minor,
               s.fiat_code, s.exchange_rate
        FROM {S}.settlements s LEFT JOIN {S}.machines m ON m.id = s.machine_id
        WHERE s.id = :id
        UNION ALL
        SELECT NULL, NULL, b.fiat_minor, b.fiat_code, b.exchange_rate
        FROM {S}.balance_settlements b WHERE b.id = :id
        """,
        {"id": settlement_id},
        conn,
    )
