"""LP payout schedules and the payouts of accrued legs: settings, the due scan,
claims, invoices and outcomes (the same discipline as ``payout_queue``'s legs)."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import execute, fetch_returning
from ..models import AccruedGroupRow, LpPayoutRow
from .sql import S, claimable, connection, fetch_all, fetch_one, fetch_rows


async def set_payout_schedules_offered(
    *,
    enrolment_id: str,
    operator_id: str,
    offered: str,
    conn: Connection | None = None,
) -> int:
    """What the operator offers; a choice no longer offered falls back to
    ``each`` in the same statement."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            UPDATE {S}.lp_enrolments SET payout_schedules_offered = :offered,
                payout_schedule = CASE
                    WHEN ',' || CAST(:offered AS TEXT) || ','
                        LIKE '%,' || payout_schedule || ',%'
                    THEN payout_schedule ELSE 'each' END
            WHERE id = :id AND operator_id = :operator_id
            """,
            {"id": enrolment_id, "operator_id": operator_id, "offered": offered},
        )


async def set_payout_schedule(
    *,
    enrolment_id: str,
    lp_id: str,
    schedule: str,
    hour: int,
    threshold_sats: int,
    conn: Connection | None = None,
) -> int:
    """The LP's choice, only among what its operator offers (checked in the
    statement, so an offer withdrawn meanwhile is not chosen)."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            UPDATE {S}.lp_enrolments SET payout_schedule = :schedule,
                payout_hour = :hour, payout_threshold_sats = :threshold
            WHERE id = :id AND lp_id = :lp_id AND (
                CAST(:schedule AS TEXT) = 'each'
                OR ',' || payout_schedules_offered || ','
                    LIKE '%,' || CAST(:schedule AS TEXT) || ',%'
            )
            """,
            {
                "id": enrolment_id,
                "lp_id": lp_id,
                "schedule": schedule,
                "hour": hour,
                "threshold": threshold_sats,
            },
        )


async def accrued_groups(
    *,
    accrued_since: int | None = None,
    limit: int = 500,
    conn: Connection | None = None,
) -> list[AccruedGroupRow]:
    """Accrued legs not taken by a payout yet, summed per enrolment and paying
    wallet, with the enrolment's schedule; with ``accrued_since``, only the
    enrolments with a leg accrued at or after that time (those whose sum grew).
    Both read the index of migration m017, which holds only such legs."""
    touched = ""
    values: dict = {"limit": limit}
    if accrued_since is not None:
        touched = f"""AND g.lp_enrolment_id IN (
            SELECT n.lp_enrolment_id FROM {S}.payout_legs n
            WHERE n.status = 'accrued' AND n.lp_payout_id IS NULL
                AND n.created_at >= :since)"""
        values["since"] = accrued_since
    return await fetch_rows(
        AccruedGroupRow,
        f"""
        SELECT g.lp_enrolment_id AS enrolment_id, e.operator_id, e.lp_id,
            e.wallet_id, g.source_wallet_id,
            SUM(g.sats) AS accrued_sats, COUNT(*) AS accrued_legs,
            MIN(g.created_at) AS oldest_at, e.payout_schedule, e.payout_hour,
            e.payout_threshold_sats
        FROM {S}.payout_legs g JOIN {S}.lp_enrolments e ON e.id = g.lp_enrolment_id
        WHERE g.status = 'accrued' AND g.lp_payout_id IS NULL {touched}
        GROUP BY g.lp_enrolment_id, e.operator_id, e.lp_id, e.wallet_id,
            g.source_wallet_id, e.payout_schedule, e.payout_hour,
            e.payout_threshold_sats
        ORDER BY MIN(g.created_at) LIMIT :limit
        """,
        values,
        conn,
    )


async def open_lp_payout(
    *, row: dict, before: int, conn: Connection
) -> LpPayoutRow | None:
    """Opens the payout ``row`` (sats and legs filled here) and gives it every
    accrued leg of its enrolment and paying wallet created before ``before``,
    in the caller's transaction. None when another payout of that enrolment and
    wallet is still open (the unique index decides, across processes) or no leg
    was left to take."""
    columns = ", ".join(row)
    params = ", ".join(f":{key}" for key in row)
    inserted = await execute(
        conn,
        f"INSERT INTO {S}.lp_payouts ({columns}) VALUES ({params}) "
        "ON CONFLICT DO NOTHING",
        row,
    )
    if inserted != 1:
        return None
    scope = {
        "payout": row["id"],
        "enrolment": row["enrolment_id"],
        "wallet": row["source_wallet_id"],
        "before": before,
    }
    await execute(
        conn,
        f"""
        UPDATE {S}.payout_legs SET lp_payout_id = :payout
        WHERE lp_enrolment_id = :enrolment AND source_wallet_id = :wallet
            AND status = 'accrued' AND lp_payout_id IS NULL AND created_at < :before
        """,
        scope,
    )
    return await _sized(conn, row["id"])


async def _sized(conn: Connection, payout_id: str) -> LpPayoutRow | None:
    """The payout's amount is what its legs add up to; a payout that took no
    leg (another took them first) is not kept."""
    row = await fetch_returning(
        conn,
        f"""
        UPDATE {S}.lp_payouts SET
            sats = COALESCE((SELECT SUM(g.sats) FROM {S}.payout_legs g
                             WHERE g.lp_payout_id = :payout), 0),
            legs = (SELECT COUNT(*) FROM {S}.payout_legs g
                    WHERE g.lp_payout_id = :payout)
        WHERE id = :payout
        RETURNING *
        """,
        {"payout": payout_id},
    )
    if row is None or not row["legs"]:
        await execute(
            conn, f"DELETE FROM {S}.lp_payouts WHERE id = :id", {"id": payout_id}
        )
        return None
    return LpPayoutRow(**row)


async def claim_lp_payout(
    *, payout_id: str, now: int, stale_before: int, conn: Connection | None = None
) -> LpPayoutRow | None:
    """Takes a payout for paying, as ``claim_leg`` takes a leg: one claimant
    wins; a failed payout is taken once its retry is due, a claim older than
    ``stale_before`` belonged to a worker that died."""
    async with connection(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.lp_payouts
            SET status = 'paying', claimed_at = :now, attempts = attempts + 1,
                updated_at = :now
            WHERE id = :id AND {claimable()}
            RETURNING *
            """,
            {"id": payout_id, "now": now, "stale_before": stale_before},
        )
    return LpPayoutRow(**row) if row else None


async def set_lp_payout_invoice(
    *,
    payout_id: str,
    claimed_at: int | None,
    payment_hash: str,
    payment_request: str,
    conn: Connection | None = None,
) -> bool:
    """Records the invoice a payout pays, under the current claim only."""
    async with connection(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.lp_payouts SET payment_hash = :payment_hash, "
                "payment_request = :payment_request "
                "WHERE id = :id AND status = 'paying' AND claimed_at = :claimed_at",
                {
                    "id": payout_id,
                    "claimed_at": claimed_at,
                    "payment_hash": payment_hash,
                    "payment_request": payment_request,
                },
            )
            == 1
        )


async def finish_lp_payout(
    *,
    payout_id: str,
    claimed_at: int | None,
    status: str,
    now: int,
    error: str | None = None,
    next_attempt_at: int | None = None,
    conn: Connection,
) -> bool:
    """paying → paid or failed under the current claim; a paid payout marks
    its legs paid in the same transaction (the caller's)."""
    paid_at = ", paid_at = :now" if status == "paid" else ""
    finished = await execute(
        conn,
        f"""
        UPDATE {S}.lp_payouts
        SET status = :status, last_error = :error, updated_at = :now,
            next_attempt_at = :next_attempt_at{paid_at}
        WHERE id = :id AND status = 'paying' AND claimed_at = :claimed_at
        """,
        {
            "id": payout_id,
            "claimed_at": claimed_at,
            "status": status,
            "error": error,
            "now": now,
            "next_attempt_at": next_attempt_at,
        },
    )
    if finished != 1:
        return False
    if status == "paid":
        await execute(
            conn,
            f"UPDATE {S}.payout_legs SET status = 'paid', paid_at = :now, "
            "updated_at = :now WHERE lp_payout_id = :id AND status = 'accrued'",
            {"id": payout_id, "now": now},
        )
    return True


async def lp_payouts_due(
    *, now: int, stale_before: int, limit: int = 100, conn: Connection | None = None
) -> list[str]:
    rows = await fetch_all(
        f"""
        SELECT id FROM {S}.lp_payouts WHERE {claimable()}
        ORDER BY created_at LIMIT :limit
        """,
        {"now": now, "stale_before": stale_before, "limit": limit},
        conn,
    )
    return [row["id"] for row in rows]


async def get_lp_payout(
    *, payout_id: str, conn: Connection | None = None
) -> LpPayoutRow | None:
    row = await fetch_one(
        f"SELECT * FROM {S}.lp_payouts WHERE id = :id", {"id": payout_id}, conn
    )
    return LpPayoutRow(**row) if row else None


async def list_lp_payouts(
    *, lp_id: str, limit: int = 200, conn: Connection | None = None
) -> list[LpPayoutRow]:
    return await fetch_rows(
        LpPayoutRow,
        f"SELECT * FROM {S}.lp_payouts WHERE lp_id = :lp_id "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {"lp_id": lp_id, "limit": limit},
        conn,
    )


async def lp_payout_sums(*, lp_id: str, conn: Connection | None = None) -> list[dict]:
    """Per enrolment of the LP: accrued (not paid yet) and paid by payouts."""
    return await fetch_all(
        f"""
        SELECT g.lp_enrolment_id AS enrolment_id,
            SUM(CASE WHEN g.status = 'accrued' THEN g.sats ELSE 0 END)
                AS accrued_sats,
            SUM(CASE WHEN g.status = 'accrued' THEN 1 ELSE 0 END) AS accrued_legs,
            SUM(CASE WHEN g.status = 'paid' AND g.lp_payout_id IS NOT NULL
                THEN g.sats ELSE 0 END) AS paid_sats
        FROM {S}.payout_legs g JOIN {S}.lp_enrolments e ON e.id = g.lp_enrolment_id
        WHERE e.lp_id = :lp_id AND g.kind = 'lp_distribution'
        GROUP BY g.lp_enrolment_id
        """,
        {"lp_id": lp_id},
        conn,
    )


async def lp_payout_machines(
    *, payout_id: str, conn: Connection | None = None
) -> list[str]:
    """The names of the machines whose sales a payout gathers."""
    rows = await fetch_all(
        f"""
        SELECT DISTINCT m.name FROM {S}.payout_legs g
        JOIN {S}.settlements s ON s.id = g.settlement_id
        JOIN {S}.machines m ON m.id = s.machine_id
        WHERE g.lp_payout_id = :id ORDER BY m.name
        """,
        {"id": payout_id},
        conn,
    )
    return [row["name"] for row in rows]
