"""Liquidity providers: codes, enrolments with balances, deposits, distributions."""

from __future__ import annotations

from typing import Any

from lnbits.db import Connection

from ..database import execute
from ..models import (
    DepositRow,
    EnrolmentRow,
    LpCodeRow,
    LpDistributionRow,
    LpRow,
)
from .sql import (
    S,
    as_int,
    connection,
    equal_to,
    fetch_all,
    fetch_one,
    fetch_row,
    fetch_rows,
    in_list,
    insert_model,
    insert_row,
)


async def ensure_lp(
    *, lp_id: str, user_id: str, now: int, conn: Connection | None = None
) -> LpRow:
    """Returns the LP row of this LNbits user, creating it on first enrolment."""
    async with connection(conn) as c:
        await execute(
            c,
            f"""
            INSERT INTO {S}.lps (id, user_id, created_at) VALUES (:id, :user_id, :now)
            ON CONFLICT (user_id) DO NOTHING
            """,
            {"id": lp_id, "user_id": user_id, "now": now},
        )
        row = await get_lp_by_user(user_id=user_id, conn=c)
    assert row is not None
    return row


async def get_lp_by_user(
    *, user_id: str, conn: Connection | None = None
) -> LpRow | None:
    return await fetch_row(
        LpRow,
        f"SELECT * FROM {S}.lps WHERE user_id = :user_id",
        {"user_id": user_id},
        conn,
    )


async def set_lp_display_name(
    *, lp_id: str, display_name: str | None, conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.lps SET display_name = :name WHERE id = :id",
            {"id": lp_id, "name": display_name},
        )


async def replace_lp_code(*, row: LpCodeRow, conn: Connection | None = None) -> None:
    """One live code per LP user: a new code replaces the previous one."""
    async with connection(conn) as c:
        await execute(
            c,
            f"""
            INSERT INTO {S}.lp_codes
                (user_id, lp_id, wallet_id, code_hash, expires_at, used_at, created_at)
            VALUES
                (:user_id, :lp_id, :wallet_id, :code_hash, :expires_at, NULL,
                 :created_at)
            ON CONFLICT (user_id) DO UPDATE SET
                lp_id = excluded.lp_id, wallet_id = excluded.wallet_id,
                code_hash = excluded.code_hash, expires_at = excluded.expires_at,
                used_at = NULL, created_at = excluded.created_at
            """,
            row.dict(exclude={"used_at"}),
        )


async def get_lp_code(
    *, user_id: str, conn: Connection | None = None
) -> LpCodeRow | None:
    return await fetch_row(
        LpCodeRow,
        f"SELECT * FROM {S}.lp_codes WHERE user_id = :user_id",
        {"user_id": user_id},
        conn,
    )


async def claim_lp_code(
    *, code_hash: str, now: int, conn: Connection | None = None
) -> LpCodeRow | None:
    """Uses a live code once: the first caller before expiry gets its row."""
    async with connection(conn) as c:
        claimed = await execute(
            c,
            f"UPDATE {S}.lp_codes SET used_at = :now WHERE code_hash = :code_hash "
            "AND used_at IS NULL AND expires_at > :now",
            {"code_hash": code_hash, "now": now},
        )
        if claimed != 1:
            return None
        return await fetch_row(
            LpCodeRow,
            f"SELECT * FROM {S}.lp_codes WHERE code_hash = :code_hash",
            {"code_hash": code_hash},
            c,
        )


async def insert_enrolment(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with connection(conn) as c:
        await insert_row(c, "lp_enrolments", row)


# How an LP's fiat balance is accounted, in one place (every balance read here):
#
#   balance = confirmed deposits - distributed - held
#
# - distributed: an LP leg of a machine settlement (cash-out) counts from the
#   moment the settlement lands, whatever its payment's state: the LP's fiat left
#   the machine then, and the sats owed for it are that leg's to pay (void only
#   when the transaction is resolved as refunded). A balance settlement counts
#   only once it is paid: nothing left the LP before that.
# - held: a balance settlement not paid yet (pending, being paid, or failed and
#   not voided). It is not available to settle again or to allocate, but it is
#   still the LP's: voiding it releases it back into the balance.
# - voided: voided balance settlements, shown to the LP; they reduce nothing.
_BALANCE_SETTLEMENT = "g.kind = 'lp_balance_settlement'"


_LEG_DISTRIBUTED = (
    f"((NOT {_BALANCE_SETTLEMENT} AND g.status <> 'void') "
    f"OR ({_BALANCE_SETTLEMENT} AND g.status = 'paid'))"
)


_LEG_HELD = f"({_BALANCE_SETTLEMENT} AND g.status IN ('pending', 'paying', 'failed'))"


_LEG_VOIDED = f"({_BALANCE_SETTLEMENT} AND g.status = 'void')"


_ENROLMENT_WITH_DEPOSITS = f"""
    SELECT e.*, l.user_id, l.display_name AS lp_display_name,
        COALESCE((SELECT SUM(d.fiat_amount_minor) FROM {S}.deposits d
                  WHERE d.enrolment_id = e.id AND d.status = 'confirmed'), 0)
            AS deposited_minor,
        COALESCE((SELECT SUM(d.fiat_amount_minor) FROM {S}.deposits d
                  WHERE d.enrolment_id = e.id AND d.status = 'pending'), 0)
            AS pending_minor
    FROM {S}.lp_enrolments e JOIN {S}.lps l ON l.id = e.lp_id
"""


# One pass over the enrolments' legs (by the lp_enrolment_id index) for all sums.
_LEG_SUMS = f"""
    SELECT g.lp_enrolment_id,
        SUM(CASE WHEN {_LEG_DISTRIBUTED} THEN g.fiat_minor ELSE 0 END)
            AS distributed_minor,
        SUM(CASE WHEN {_LEG_DISTRIBUTED} THEN g.sats ELSE 0 END) AS distributed_sats,
        SUM(CASE WHEN {_LEG_HELD} THEN g.fiat_minor ELSE 0 END) AS held_minor,
        SUM(CASE WHEN {_LEG_HELD} THEN g.sats ELSE 0 END) AS held_sats,
        SUM(CASE WHEN {_LEG_VOIDED} THEN g.fiat_minor ELSE 0 END) AS voided_minor
    FROM {S}.payout_legs g
"""


_LEG_SUM_COLUMNS = (
    "distributed_minor",
    "distributed_sats",
    "held_minor",
    "held_sats",
    "voided_minor",
)


BALANCE_SUMS = ("deposited_minor", "pending_minor", *_LEG_SUM_COLUMNS)


async def _with_balances(rows: list[dict], conn: Connection) -> list[EnrolmentRow]:
    """The enrolments with their leg sums and the balance they make."""
    ids, names = in_list("e", [row["id"] for row in rows])
    sums: dict[str, dict] = {}
    if names:
        for found in await fetch_all(
            f"{_LEG_SUMS} WHERE g.lp_enrolment_id IN {ids} GROUP BY g.lp_enrolment_id",
            names,
            conn,
        ):
            sums[found["lp_enrolment_id"]] = found
    enrolments = []
    for row in rows:
        found = sums.get(row["id"], {})
        for key in _LEG_SUM_COLUMNS:
            row[key] = found.get(key)
        for key in BALANCE_SUMS:
            row[key] = as_int(row[key])
        enrolments.append(EnrolmentRow.parse_obj(row))
    return enrolments


async def list_enrolments(
    *,
    operator_id: str | None = None,
    lp_id: str | None = None,
    fiat_code: str | None = None,
    conn: Connection | None = None,
) -> list[EnrolmentRow]:
    """Enrolments with their balances, oldest first (the allocation order)."""
    clauses, values = equal_to(
        {"operator_id": operator_id, "lp_id": lp_id, "fiat_code": fiat_code}, table="e"
    )
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    async with connection(conn) as c:  # the deposits and the legs as of one moment
        rows = await fetch_all(
            f"{_ENROLMENT_WITH_DEPOSITS} {where} ORDER BY e.created_at, e.id",
            values,
            c,
        )
        return await _with_balances(rows, c)


async def get_enrolment(
    *, enrolment_id: str, operator_id: str, conn: Connection | None = None
) -> EnrolmentRow | None:
    async with connection(conn) as c:
        row = await fetch_one(
            f"{_ENROLMENT_WITH_DEPOSITS} "
            "WHERE e.id = :id AND e.operator_id = :operator_id",
            {"id": enrolment_id, "operator_id": operator_id},
            c,
        )
        return (await _with_balances([row], c))[0] if row else None


async def insert_deposit(*, row: DepositRow, conn: Connection | None = None) -> None:
    async with connection(conn) as c:
        await insert_model(c, "deposits", row)


async def get_deposit(
    *, deposit_id: str, operator_id: str, conn: Connection | None = None
) -> DepositRow | None:
    return await fetch_row(
        DepositRow,
        f"SELECT * FROM {S}.deposits WHERE id = :id AND operator_id = :operator_id",
        {"id": deposit_id, "operator_id": operator_id},
        conn,
    )


async def confirm_deposit(
    *,
    deposit_id: str,
    operator_id: str,
    confirmed_by: str,
    now: int,
    conn: Connection | None = None,
) -> int:
    """Pending → confirmed, once; returns 1 if this call confirmed it."""
    async with connection(conn) as c:
        return await execute(
            c,
            f"""
            UPDATE {S}.deposits
            SET status = 'confirmed', confirmed_by = :by, confirmed_at = :now
            WHERE id = :id AND operator_id = :operator_id AND status = 'pending'
            """,
            {
                "id": deposit_id,
                "operator_id": operator_id,
                "by": confirmed_by,
                "now": now,
            },
        )


async def list_deposits(
    *,
    operator_id: str,
    enrolment_id: str | None = None,
    status: str | None = None,
    conn: Connection | None = None,
) -> list[DepositRow]:
    clauses = ["operator_id = :operator_id"]
    values = {"operator_id": operator_id}
    if enrolment_id is not None:
        clauses.append("enrolment_id = :enrolment_id")
        values["enrolment_id"] = enrolment_id
    if status is not None:
        clauses.append("status = :status")
        values["status"] = status
    return await fetch_rows(
        DepositRow,
        f"SELECT * FROM {S}.deposits WHERE {' AND '.join(clauses)} "
        "ORDER BY created_at DESC, id",
        values,
        conn,
    )


async def list_lp_distributions(
    *, lp_id: str, conn: Connection | None = None
) -> list[LpDistributionRow]:
    return await fetch_rows(
        LpDistributionRow,
        f"""
        SELECT g.id AS leg_id, g.settlement_id, g.lp_enrolment_id AS enrolment_id,
               g.operator_id, s.fiat_code, g.fiat_minor, g.sats, s.exchange_rate,
               g.status, g.created_at, m.name AS machine, s.direction
        FROM {S}.payout_legs g
        JOIN {S}.lp_enrolments e ON e.id = g.lp_enrolment_id
        JOIN {S}.settlements s ON s.id = g.settlement_id
        LEFT JOIN {S}.machines m ON m.id = s.machine_id
        WHERE e.lp_id = :lp_id
        ORDER BY g.created_at DESC, g.id
        """,
        {"lp_id": lp_id},
        conn,
    )
