"""Database access, and nothing else.

Every function takes keyword-only arguments and an optional connection: given one,
it runs inside the caller's transaction; without one, it opens its own. Rows come
back as plain dicts; services turn them into API models.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from lnbits.db import Connection

from .database import db, execute, fetch_returning, transaction

S = "satmachineadmin"


@asynccontextmanager
async def _tx(conn: Connection | None) -> AsyncIterator[Connection]:
    if conn is not None:
        yield conn
    else:
        async with transaction() as own:
            yield own


async def _fetchone(sql: str, values: dict, conn: Connection | None) -> dict | None:
    row: Any = await (conn or db).fetchone(sql, values)
    return dict(row) if row else None


async def _fetchall(sql: str, values: dict, conn: Connection | None) -> list[dict]:
    rows: list[Any] = await (conn or db).fetchall(sql, values)
    return [dict(row) for row in rows]


async def _insert(conn: Connection, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    params = ", ".join(f":{key}" for key in row)
    await execute(conn, f"INSERT INTO {S}.{table} ({columns}) VALUES ({params})", row)


def _as_int(value: Any) -> int:
    # PostgreSQL returns SUM(BIGINT) as NUMERIC (Decimal); both are exact.
    return int(value or 0)


def _ints_except(row: dict, *text_columns: str) -> dict:
    return {
        key: value if key in text_columns else _as_int(value)
        for key, value in row.items()
    }


# --- super config ------------------------------------------------------------------


async def get_super_config(*, conn: Connection | None = None) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.super_config WHERE id = 'global'", {}, conn
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
    async with _tx(conn) as c:
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
    async with _tx(conn) as c:
        await execute(
            c, f"UPDATE {S}.super_config SET {assignments} WHERE id = 'global'", values
        )


# --- operators -----------------------------------------------------------------------


async def ensure_operator(
    *, user_id: str, now: int, conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
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


# --- machines ------------------------------------------------------------------------


async def insert_machine(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "machines", row)


async def get_machine(
    *, machine_id: str, operator_id: str | None = None, conn: Connection | None = None
) -> dict | None:
    if operator_id is None:
        return await _fetchone(
            f"SELECT * FROM {S}.machines WHERE id = :id", {"id": machine_id}, conn
        )
    return await _fetchone(
        f"SELECT * FROM {S}.machines WHERE id = :id AND operator_id = :operator_id",
        {"id": machine_id, "operator_id": operator_id},
        conn,
    )


async def list_machines(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.machines WHERE operator_id = :operator_id "
        "ORDER BY created_at, id",
        {"operator_id": operator_id},
        conn,
    )


async def update_machine(
    *,
    machine_id: str,
    operator_id: str,
    fields: dict[str, Any],
    conn: Connection | None = None,
) -> None:
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    async with _tx(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.machines SET {assignments} "
            "WHERE id = :machine_id AND operator_id = :operator_id",
            {**fields, "machine_id": machine_id, "operator_id": operator_id},
        )


async def delete_machine_without_settlements(
    *, machine_id: str, operator_id: str, conn: Connection | None = None
) -> int:
    """Deletes the machine only if no settlement refers to it; returns rows deleted."""
    async with _tx(conn) as c:
        return await execute(
            c,
            f"""
            DELETE FROM {S}.machines
            WHERE id = :machine_id AND operator_id = :operator_id
              AND NOT EXISTS (
                SELECT 1 FROM {S}.settlements s WHERE s.machine_id = :machine_id
              )
            """,
            {"machine_id": machine_id, "operator_id": operator_id},
        )


async def machine_has_settlements(
    *, machine_id: str, conn: Connection | None = None
) -> bool:
    row = await _fetchone(
        f"SELECT 1 AS found FROM {S}.settlements WHERE machine_id = :id LIMIT 1",
        {"id": machine_id},
        conn,
    )
    return row is not None


# --- split rules ---------------------------------------------------------------------


async def get_split_rules(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.split_rules WHERE operator_id = :operator_id "
        "ORDER BY position",
        {"operator_id": operator_id},
        conn,
    )


async def replace_split_rules(
    *, operator_id: str, rows: Sequence[dict[str, Any]], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.split_rules WHERE operator_id = :operator_id",
            {"operator_id": operator_id},
        )
        for row in rows:
            await _insert(c, "split_rules", row)


# --- settlements ---------------------------------------------------------------------


async def insert_settlement(*, row: dict[str, Any], conn: Connection) -> None:
    await _insert(conn, "settlements", row)


async def insert_legs(*, rows: Sequence[dict[str, Any]], conn: Connection) -> None:
    for row in rows:
        await _insert(conn, "payout_legs", row)


async def get_settlement(
    *,
    settlement_id: str,
    operator_id: str | None = None,
    conn: Connection | None = None,
) -> dict | None:
    sql = f"SELECT * FROM {S}.settlements WHERE id = :id"
    values = {"id": settlement_id}
    if operator_id is not None:
        sql += " AND operator_id = :operator_id"
        values["operator_id"] = operator_id
    return await _fetchone(sql, values, conn)


async def get_settlement_by_tx(
    *, machine_id: str, tx_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.settlements WHERE machine_id = :machine_id "
        "AND tx_id = :tx_id",
        {"machine_id": machine_id, "tx_id": tx_id},
        conn,
    )


async def get_settlement_by_payment_hash(
    *, payment_hash: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.settlements WHERE payment_hash = :payment_hash",
        {"payment_hash": payment_hash},
        conn,
    )


def _settlement_filters(
    *,
    operator_id: str,
    machine_id: str | None,
    status: str | None,
    direction: str | None,
    since: int | None,
    until: int | None,
) -> tuple[str, dict[str, Any]]:
    clauses = ["operator_id = :operator_id"]
    values: dict[str, Any] = {"operator_id": operator_id}
    for column, value in (
        ("machine_id", machine_id),
        ("status", status),
        ("direction", direction),
    ):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            values[column] = value
    if since is not None:
        clauses.append("created_at >= :since")
        values["since"] = since
    if until is not None:
        clauses.append("created_at < :until")
        values["until"] = until
    return " AND ".join(clauses), values


async def list_settlements(
    *,
    operator_id: str,
    machine_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    conn: Connection | None = None,
) -> tuple[list[dict], int]:
    where, values = _settlement_filters(
        operator_id=operator_id,
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=since,
        until=until,
    )
    order = "ORDER BY created_at DESC, id DESC"
    async with _tx(conn) as c:  # one connection for the page and its count
        if limit is None:
            rows = await _fetchall(
                f"SELECT * FROM {S}.settlements WHERE {where} {order}", values, c
            )
            return rows, len(rows)
        # The page's ids come from the index alone (settlements_list covers the
        # usual filter, the order and the id), so a deep offset skips index
        # entries, not whole rows; only the page's own rows are read.
        rows = await _fetchall(
            f"SELECT s.* FROM {S}.settlements s JOIN ("
            f"SELECT id FROM {S}.settlements WHERE {where} {order} "
            "LIMIT :limit OFFSET :offset"
            ") page ON page.id = s.id ORDER BY s.created_at DESC, s.id DESC",
            {**values, "limit": limit, "offset": offset},
            c,
        )
        counted = await _fetchone(
            f"SELECT COUNT(*) AS total FROM {S}.settlements WHERE {where}", values, c
        )
    return rows, _as_int(counted["total"] if counted else 0)


async def settlement_totals(
    *,
    operator_id: str,
    machine_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    since: int | None = None,
    until: int | None = None,
    conn: Connection | None = None,
) -> list[dict]:
    """Sums of the filtered settlements, one row per fiat currency."""
    where, values = _settlement_filters(
        operator_id=operator_id,
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=since,
        until=until,
    )
    rows = await _fetchall(
        f"""
        SELECT fiat_code, COUNT(*) AS settlements,
            SUM(fiat_amount_minor) AS fiat_amount_minor,
            SUM(gross_sats) AS gross_sats,
            SUM(commission_sats) AS commission_sats,
            SUM(platform_fee_sats) AS platform_fee_sats,
            SUM(operator_fee_sats) AS operator_fee_sats,
            SUM(lp_allocated_sats) AS lp_allocated_sats
        FROM {S}.settlements WHERE {where}
        GROUP BY fiat_code ORDER BY fiat_code
        """,
        values,
        conn,
    )
    return [_ints_except(row, "fiat_code") for row in rows]


async def daily_settlement_stats(
    *, operator_id: str, since: int, until: int, conn: Connection | None = None
) -> list[dict]:
    """Per UTC day and machine; created_at is integer seconds, so the division
    truncates to the day on SQLite and PostgreSQL alike."""
    rows = await _fetchall(
        f"""
        SELECT created_at / 86400 AS day, machine_id, COUNT(*) AS settlements,
            SUM(gross_sats) AS gross_sats, SUM(commission_sats) AS commission_sats
        FROM {S}.settlements
        WHERE operator_id = :operator_id
          AND created_at >= :since AND created_at < :until
        GROUP BY created_at / 86400, machine_id
        ORDER BY day, machine_id
        """,
        {"operator_id": operator_id, "since": since, "until": until},
        conn,
    )
    return [_ints_except(row, "machine_id") for row in rows]


async def get_legs(
    *, settlement_ids: Sequence[str], conn: Connection | None = None
) -> list[dict]:
    if not settlement_ids:
        return []
    names = {f"s{i}": sid for i, sid in enumerate(settlement_ids)}
    placeholders = ", ".join(f":{name}" for name in names)
    return await _fetchall(
        f"SELECT * FROM {S}.payout_legs WHERE settlement_id IN ({placeholders}) "
        "ORDER BY settlement_id, position",
        names,
        conn,
    )


async def operator_totals(*, conn: Connection | None = None) -> list[dict]:
    rows = await _fetchall(
        f"""
        SELECT o.user_id AS operator_id,
            (SELECT COUNT(*) FROM {S}.machines m
             WHERE m.operator_id = o.user_id) AS machines,
            COUNT(s.id) AS settlements,
            COALESCE(SUM(s.gross_sats), 0) AS gross_sats,
            COALESCE(SUM(s.commission_sats), 0) AS commission_sats,
            COALESCE(SUM(s.platform_fee_sats), 0) AS platform_fee_sats,
            COALESCE(SUM(s.operator_fee_sats), 0) AS operator_fee_sats
        FROM {S}.operators o
        LEFT JOIN {S}.settlements s ON s.operator_id = o.user_id
        GROUP BY o.user_id
        ORDER BY o.user_id
        """,
        {},
        conn,
    )
    for row in rows:
        for key, value in row.items():
            if key != "operator_id":
                row[key] = _as_int(value)
    return rows


# --- liquidity providers --------------------------------------------------------------


async def ensure_lp(
    *, lp_id: str, user_id: str, now: int, conn: Connection | None = None
) -> dict:
    """Returns the LP row of this LNbits user, creating it on first enrolment."""
    async with _tx(conn) as c:
        await execute(
            c,
            f"""
            INSERT INTO {S}.lps (id, user_id, created_at) VALUES (:id, :user_id, :now)
            ON CONFLICT (user_id) DO NOTHING
            """,
            {"id": lp_id, "user_id": user_id, "now": now},
        )
        row = await _fetchone(
            f"SELECT * FROM {S}.lps WHERE user_id = :user_id", {"user_id": user_id}, c
        )
    assert row is not None
    return row


async def get_lp_by_user(
    *, user_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.lps WHERE user_id = :user_id", {"user_id": user_id}, conn
    )


async def set_lp_display_name(
    *, lp_id: str, display_name: str | None, conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.lps SET display_name = :name WHERE id = :id",
            {"id": lp_id, "name": display_name},
        )


async def replace_lp_code(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    """One live code per LP user: a new code replaces the previous one."""
    async with _tx(conn) as c:
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
            row,
        )


async def get_lp_code(*, user_id: str, conn: Connection | None = None) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.lp_codes WHERE user_id = :user_id",
        {"user_id": user_id},
        conn,
    )


async def claim_lp_code(
    *, code_hash: str, now: int, conn: Connection | None = None
) -> dict | None:
    """Uses a live code once: the first caller before expiry gets its row."""
    async with _tx(conn) as c:
        claimed = await execute(
            c,
            f"UPDATE {S}.lp_codes SET used_at = :now WHERE code_hash = :code_hash "
            "AND used_at IS NULL AND expires_at > :now",
            {"code_hash": code_hash, "now": now},
        )
        if claimed != 1:
            return None
        return await _fetchone(
            f"SELECT * FROM {S}.lp_codes WHERE code_hash = :code_hash",
            {"code_hash": code_hash},
            c,
        )


async def insert_enrolment(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "lp_enrolments", row)


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
    SELECT e.*, l.user_id, l.display_name,
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


async def _with_balances(rows: list[dict], conn: Connection) -> list[dict]:
    """The enrolments with their leg sums and the balance they make."""
    names = {f"e{i}": row["id"] for i, row in enumerate(rows)}
    sums: dict[str, dict] = {}
    if names:
        placeholders = ", ".join(f":{name}" for name in names)
        for found in await _fetchall(
            f"{_LEG_SUMS} WHERE g.lp_enrolment_id IN ({placeholders}) "
            "GROUP BY g.lp_enrolment_id",
            names,
            conn,
        ):
            sums[found["lp_enrolment_id"]] = found
    for row in rows:
        found = sums.get(row["id"], {})
        for key in _LEG_SUM_COLUMNS:
            row[key] = found.get(key)
        for key in BALANCE_SUMS:
            row[key] = _as_int(row[key])
        row["balance_minor"] = (
            row["deposited_minor"] - row["distributed_minor"] - row["held_minor"]
        )
    return rows


async def list_enrolments(
    *,
    operator_id: str | None = None,
    lp_id: str | None = None,
    fiat_code: str | None = None,
    conn: Connection | None = None,
) -> list[dict]:
    """Enrolments with their balances, oldest first (the allocation order)."""
    clauses, values = [], {}
    for column, value in (
        ("operator_id", operator_id),
        ("lp_id", lp_id),
        ("fiat_code", fiat_code),
    ):
        if value is not None:
            clauses.append(f"e.{column} = :{column}")
            values[column] = value
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    async with _tx(conn) as c:  # the deposits and the legs as of one moment
        rows = await _fetchall(
            f"{_ENROLMENT_WITH_DEPOSITS} {where} ORDER BY e.created_at, e.id",
            values,
            c,
        )
        return await _with_balances(rows, c)


async def get_enrolment(
    *, enrolment_id: str, operator_id: str, conn: Connection | None = None
) -> dict | None:
    async with _tx(conn) as c:
        row = await _fetchone(
            f"{_ENROLMENT_WITH_DEPOSITS} "
            "WHERE e.id = :id AND e.operator_id = :operator_id",
            {"id": enrolment_id, "operator_id": operator_id},
            c,
        )
        return (await _with_balances([row], c))[0] if row else None


async def insert_deposit(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "deposits", row)


async def get_deposit(
    *, deposit_id: str, operator_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
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
    async with _tx(conn) as c:
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
) -> list[dict]:
    clauses = ["operator_id = :operator_id"]
    values = {"operator_id": operator_id}
    if enrolment_id is not None:
        clauses.append("enrolment_id = :enrolment_id")
        values["enrolment_id"] = enrolment_id
    if status is not None:
        clauses.append("status = :status")
        values["status"] = status
    return await _fetchall(
        f"SELECT * FROM {S}.deposits WHERE {' AND '.join(clauses)} "
        "ORDER BY created_at DESC, id",
        values,
        conn,
    )


async def list_lp_distributions(
    *, lp_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"""
        SELECT g.id AS leg_id, g.settlement_id, g.lp_enrolment_id AS enrolment_id,
               g.operator_id, s.fiat_code, g.fiat_minor, g.sats, s.exchange_rate,
               g.status, g.created_at
        FROM {S}.payout_legs g
        JOIN {S}.lp_enrolments e ON e.id = g.lp_enrolment_id
        JOIN {S}.settlements s ON s.id = g.settlement_id
        WHERE e.lp_id = :lp_id
        ORDER BY g.created_at DESC, g.id
        """,
        {"lp_id": lp_id},
        conn,
    )


# --- audit log ------------------------------------------------------------------------


async def insert_audit(*, row: dict[str, Any], conn: Connection | None = None) -> None:
    async with _tx(conn) as c:
        await _insert(c, "audit_log", row)


async def list_audit(
    *, operator_id: str, limit: int = 100, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.audit_log WHERE operator_id = :operator_id "
        "ORDER BY created_at DESC, id LIMIT :limit",
        {"operator_id": operator_id, "limit": limit},
        conn,
    )


# --- ATM transactions (RPC) ------------------------------------------------------


async def insert_atm_transaction(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "atm_transactions", row)


async def get_atm_transaction(
    *,
    machine_id: str,
    tx_id: str | None = None,
    payment_hash: str | None = None,
    conn: Connection | None = None,
) -> dict | None:
    column, value = (
        ("tx_id", tx_id) if tx_id is not None else ("payment_hash", payment_hash)
    )
    return await _fetchone(
        f"SELECT * FROM {S}.atm_transactions WHERE machine_id = :machine_id "
        f"AND {column} = :value",
        {"machine_id": machine_id, "value": value},
        conn,
    )


async def get_atm_transaction_by_hash(
    *, payment_hash: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.atm_transactions WHERE payment_hash = :payment_hash",
        {"payment_hash": payment_hash},
        conn,
    )


async def update_atm_transaction(
    *,
    transaction_id: str,
    fields: dict[str, Any],
    only_if_status: Sequence[str] | None = None,
    conn: Connection | None = None,
) -> int:
    """Updates one transaction; with ``only_if_status`` only from those states,
    which makes each state change happen once however many callers race."""
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    values: dict[str, Any] = {**fields, "transaction_id": transaction_id}
    guard = ""
    if only_if_status:
        names = {f"st{i}": status for i, status in enumerate(only_if_status)}
        guard = f" AND status IN ({', '.join(f':{n}' for n in names)})"
        values.update(names)
    async with _tx(conn) as c:
        return await execute(
            c,
            f"UPDATE {S}.atm_transactions SET {assignments} "
            f"WHERE id = :transaction_id{guard}",
            values,
        )


# --- idempotent RPC requests ---------------------------------------------------------


async def claim_rpc_request(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    """Raises IntegrityError when (machine, method, tx_id) was claimed before."""
    async with _tx(conn) as c:
        await _insert(c, "rpc_requests", row)


async def get_rpc_request(
    *, machine_id: str, method: str, tx_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.rpc_requests WHERE machine_id = :machine_id "
        "AND method = :method AND tx_id = :tx_id",
        {"machine_id": machine_id, "method": method, "tx_id": tx_id},
        conn,
    )


async def finish_rpc_request(
    *, request_id: str, response: str, now: int, conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.rpc_requests SET status = 'done', response = :response, "
            "updated_at = :now WHERE id = :id",
            {"id": request_id, "response": response, "now": now},
        )


async def take_over_rpc_request(
    *, request_id: str, stale_before: int, now: int, conn: Connection | None = None
) -> bool:
    """Lets one caller resume a claim whose worker died (still processing, old)."""
    async with _tx(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.rpc_requests SET updated_at = :now WHERE id = :id "
                "AND status = 'processing' AND updated_at < :stale_before",
                {"id": request_id, "now": now, "stale_before": stale_before},
            )
            == 1
        )


async def release_rpc_request(
    *, request_id: str, conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"DELETE FROM {S}.rpc_requests WHERE id = :id AND status = 'processing'",
            {"id": request_id},
        )


async def insert_rpc_log(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "rpc_log", row)


async def delete_rpc_log_before(
    *, before: int, batch: int = 5000, conn: Connection | None = None
) -> int:
    """Deletes up to ``batch`` entries older than ``before``; how many it deleted.

    In batches, so that purging a large backlog never holds the database (SQLite's
    single writer) for long: the caller repeats until fewer than ``batch`` go."""
    async with _tx(conn) as c:
        return await execute(
            c,
            f"""
            DELETE FROM {S}.rpc_log WHERE id IN (
                SELECT id FROM {S}.rpc_log WHERE created_at < :before LIMIT :batch
            )
            """,
            {"before": before, "batch": batch},
        )


async def list_rpc_log(
    *,
    operator_id: str,
    machine_id: str | None = None,
    limit: int = 100,
    conn: Connection | None = None,
) -> list[dict]:
    clauses = ["operator_id = :operator_id"]
    values: dict[str, Any] = {"operator_id": operator_id, "limit": limit}
    if machine_id is not None:
        clauses.append("machine_id = :machine_id")
        values["machine_id"] = machine_id
    return await _fetchall(
        f"SELECT * FROM {S}.rpc_log WHERE {' AND '.join(clauses)} "
        "ORDER BY created_at DESC, id LIMIT :limit",
        values,
        conn,
    )


async def rpc_error_counts(
    *, operator_id: str, since: int, conn: Connection | None = None
) -> list[dict]:
    rows = await _fetchall(
        f"""
        SELECT COALESCE(error_code, 'ok') AS code, COUNT(*) AS count,
               MAX(created_at) AS last_at
        FROM {S}.rpc_log WHERE operator_id = :operator_id AND created_at >= :since
        GROUP BY COALESCE(error_code, 'ok') ORDER BY code
        """,
        {"operator_id": operator_id, "since": since},
        conn,
    )
    return [
        {
            "code": r["code"],
            "count": _as_int(r["count"]),
            "last_at": _as_int(r["last_at"]),
        }
        for r in rows
    ]


# --- beacons and telemetry ------------------------------------------------------------


async def list_machine_pubkeys(*, conn: Connection | None = None) -> list[dict]:
    return await _fetchall(
        f"SELECT id, pubkey, operator_id, status FROM {S}.machines ORDER BY pubkey",
        {},
        conn,
    )


async def list_expected_pubkeys(
    *, now: int, conn: Connection | None = None
) -> list[str]:
    """Keys an operator added by npub that may still confirm (their pairing is
    neither used nor expired)."""
    rows = await _fetchall(
        f"""
        SELECT DISTINCT expected_pubkey FROM {S}.pairings
        WHERE expected_pubkey IS NOT NULL AND used_at IS NULL AND expires_at > :now
        """,
        {"now": now},
        conn,
    )
    return [row["expected_pubkey"] for row in rows]


async def get_machine_by_pubkey(
    *, pubkey: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.machines WHERE pubkey = :pubkey", {"pubkey": pubkey}, conn
    )


async def upsert_beacon(*, row: dict[str, Any], conn: Connection | None = None) -> int:
    """Keeps the newest beacon per (machine, d): a later created_at wins, a tie goes
    to the lower event id; returns 1 if this one is now the stored one."""
    async with _tx(conn) as c:
        return await execute(
            c,
            f"""
            INSERT INTO {S}.beacons
                (machine_id, d_tag, event_id, created_at, content, received_at)
            VALUES (:machine_id, :d_tag, :event_id, :created_at, :content, :received_at)
            ON CONFLICT (machine_id, d_tag) DO UPDATE SET
                event_id = excluded.event_id,
                created_at = excluded.created_at,
                content = excluded.content,
                received_at = excluded.received_at
            WHERE excluded.created_at > {S}.beacons.created_at
               OR (excluded.created_at = {S}.beacons.created_at
                   AND excluded.event_id < {S}.beacons.event_id)
            """,
            row,
        )


async def latest_beacons(
    *, machine_ids: Sequence[str], conn: Connection | None = None
) -> list[dict]:
    if not machine_ids:
        return []
    names = {f"m{i}": mid for i, mid in enumerate(machine_ids)}
    placeholders = ", ".join(f":{name}" for name in names)
    return await _fetchall(
        f"SELECT * FROM {S}.beacons WHERE machine_id IN ({placeholders}) "
        "ORDER BY machine_id, created_at DESC",
        names,
        conn,
    )


async def insert_telemetry(
    *, row: dict[str, Any], conn: Connection | None = None
) -> int:
    async with _tx(conn) as c:
        return await execute(
            c,
            f"""
            INSERT INTO {S}.telemetry
                (event_id, machine_id, d_tag, created_at, content, received_at)
            VALUES (:event_id, :machine_id, :d_tag, :created_at, :content, :received_at)
            ON CONFLICT (event_id) DO NOTHING
            """,
            row,
        )


async def list_telemetry(
    *, machine_id: str, limit: int = 100, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.telemetry WHERE machine_id = :machine_id "
        "ORDER BY created_at DESC, event_id LIMIT :limit",
        {"machine_id": machine_id, "limit": limit},
        conn,
    )


async def delete_telemetry_before(
    *, before: int, conn: Connection | None = None
) -> int:
    async with _tx(conn) as c:
        return await execute(
            c,
            f"DELETE FROM {S}.telemetry WHERE created_at < :before",
            {"before": before},
        )


# --- pairing --------------------------------------------------------------------------


async def insert_pairing(
    *, row: dict[str, Any], conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await _insert(c, "pairings", row)


async def get_pairing_by_token_hash(
    *, token_hash: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.pairings WHERE token_hash = :token_hash",
        {"token_hash": token_hash},
        conn,
    )


async def use_pairing(
    *, pairing_id: str, pubkey: str, now: int, conn: Connection | None = None
) -> bool:
    """Single use: only the first caller before expiry gets True, and only with
    the key the pairing expects, if it expects one."""
    async with _tx(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.pairings SET used_at = :now, pubkey = :pubkey "
                "WHERE id = :id AND used_at IS NULL AND expires_at > :now "
                "AND (expected_pubkey IS NULL OR expected_pubkey = :pubkey)",
                {"id": pairing_id, "pubkey": pubkey, "now": now},
            )
            == 1
        )


async def set_pairing_machine(
    *, pairing_id: str, machine_id: str, conn: Connection | None = None
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.pairings SET machine_id = :machine_id WHERE id = :id",
            {"id": pairing_id, "machine_id": machine_id},
        )


async def list_pairings(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.pairings WHERE operator_id = :operator_id "
        "ORDER BY created_at DESC, id",
        {"operator_id": operator_id},
        conn,
    )


async def get_server_private_key(*, conn: Connection | None = None) -> str | None:
    row = await _fetchone(
        f"SELECT server_private_key FROM {S}.super_config WHERE id = 'global'", {}, conn
    )
    return row["server_private_key"] if row else None


# --- payouts ---------------------------------------------------------------------


async def get_leg(*, leg_id: str, conn: Connection | None = None) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.payout_legs WHERE id = :id", {"id": leg_id}, conn
    )


async def claim_leg(
    *, leg_id: str, now: int, stale_before: int, conn: Connection | None = None
) -> dict | None:
    """Takes a leg for payment: one claimant wins, whatever the number of workers
    or processes. A failed leg is taken only once its retry is due; a claim older
    than ``stale_before`` belonged to a dead worker.

    Returns the claimed leg as it now stands (None when the claim was lost), read
    in the same statement, plus ``lp_ln_address``: the Lightning address its LP
    forwards to, if any, so that paying the leg needs no further reads."""
    async with _tx(conn) as c:
        return await fetch_returning(
            c,
            f"""
            UPDATE {S}.payout_legs
            SET status = 'paying', claimed_at = :now, attempts = attempts + 1,
                updated_at = :now
            WHERE id = :id AND (
                status = 'pending'
                OR (status = 'failed' AND next_attempt_at <= :now)
                OR (status = 'paying' AND claimed_at < :stale_before)
            )
            RETURNING *, (
                SELECT l.ln_address FROM {S}.lps l
                JOIN {S}.lp_enrolments e ON e.lp_id = l.id
                WHERE e.id = payout_legs.lp_enrolment_id
            ) AS lp_ln_address
            """,
            {"id": leg_id, "now": now, "stale_before": stale_before},
        )


async def set_leg_invoice(
    *,
    leg_id: str,
    claimed_at: int,
    payment_hash: str,
    payment_request: str,
    conn: Connection | None = None,
) -> bool:
    """Records the invoice a leg pays, replacing one that was not paid; only the
    current claim (``claimed_at`` fences it) may. False: the claim was taken over,
    and the invoice must not be paid."""
    async with _tx(conn) as c:
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
    claimed_at: int,
    status: str,
    now: int,
    error: str | None = None,
    next_attempt_at: int | None = None,
    conn: Connection | None = None,
) -> int:
    """paying → paid or failed; only the current claim's transition counts."""
    paid_at = ", paid_at = :now" if status == "paid" else ""
    async with _tx(conn) as c:
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


async def legs_of(*, settlement_id: str, conn: Connection | None = None) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.payout_legs WHERE settlement_id = :id ORDER BY position",
        {"id": settlement_id},
        conn,
    )


async def settlements_to_process(
    *, now: int, stale_before: int, limit: int = 100, conn: Connection | None = None
) -> list[str]:
    """Settlements with a leg to pay now (new, due for a retry, or left mid-payment
    by a worker that died), and settlements whose legs are all done but whose
    status was not written (a crash between the last leg and the status)."""
    rows = await _fetchall(
        f"""
        SELECT DISTINCT settlement_id FROM {S}.payout_legs
        WHERE status = 'pending'
           OR (status = 'failed' AND next_attempt_at IS NOT NULL
               AND next_attempt_at <= :now)
           OR (status = 'paying' AND claimed_at < :stale_before)
        UNION
        SELECT s.id FROM {S}.settlements s
        WHERE s.status IN ('pending', 'processing') AND NOT EXISTS (
            SELECT 1 FROM {S}.payout_legs g WHERE g.settlement_id = s.id
            AND g.status IN ('pending', 'paying', 'failed')
        )
        LIMIT :limit
        """,
        {"now": now, "stale_before": stale_before, "limit": limit},
        conn,
    )
    return [row["settlement_id"] for row in rows]


async def refresh_settlement_status(
    *, settlement_id: str, now: int, conn: Connection | None = None
) -> str | None:
    """Derives the status from the legs in one statement, so that whichever
    worker writes last writes what the legs say at that moment. Returns that
    status, or None when there is no such settlement (a balance settlement)."""
    async with _tx(conn) as c:
        row = await fetch_returning(
            c,
            f"""
            UPDATE {S}.settlements SET updated_at = :now, status = CASE
                WHEN NOT EXISTS (
                    SELECT 1 FROM {S}.payout_legs g WHERE g.settlement_id = :id
                    AND g.status NOT IN ('paid', 'retained', 'void')
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
    async with _tx(conn) as c:
        return await execute(
            c,
            f"UPDATE {S}.payout_legs SET next_attempt_at = :now "
            "WHERE settlement_id = :id AND status = 'failed'",
            {"id": settlement_id, "now": now},
        )


async def list_settlements_with_failed_legs(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
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


async def abandon_overdue_cash_outs(
    *, paid_before: int, now: int, conn: Connection | None = None
) -> list[dict]:
    """Paid cash-outs whose machine never reported the dispense: abandoned."""
    async with _tx(conn) as c:
        overdue = await _fetchall(
            f"""
            SELECT t.* FROM {S}.atm_transactions t
            JOIN {S}.machines m ON m.id = t.machine_id
            WHERE t.status = 'paid' AND t.direction = 'cash_out'
              AND m.dispense_confirmation = 'report' AND t.paid_at < :paid_before
            """,
            {"paid_before": paid_before},
            c,
        )
        abandoned = []
        for tx in overdue:
            changed = await execute(
                c,
                f"UPDATE {S}.atm_transactions SET status = 'abandoned', "
                "note = 'no dispense report before the timeout', updated_at = :now "
                "WHERE id = :id AND status = 'paid'",
                {"id": tx["id"], "now": now},
            )
            if changed:
                abandoned.append(tx)
    return abandoned


ABANDONED_STATES = ("abandoned", "cancelled_after_payment", "failed")


async def list_abandoned(
    *, operator_id: str, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"""
        SELECT * FROM {S}.atm_transactions
        WHERE operator_id = :operator_id
          AND status IN ('abandoned', 'cancelled_after_payment', 'failed')
        ORDER BY updated_at DESC, id
        """,
        {"operator_id": operator_id},
        conn,
    )


async def get_atm_transaction_for_operator(
    *, transaction_id: str, operator_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.atm_transactions WHERE id = :id "
        "AND operator_id = :operator_id",
        {"id": transaction_id, "operator_id": operator_id},
        conn,
    )


# --- LP balance settlements --------------------------------------------------------


async def insert_balance_settlement(*, row: dict[str, Any], conn: Connection) -> None:
    await _insert(conn, "balance_settlements", row)


async def list_balance_settlements(
    *,
    operator_id: str | None = None,
    enrolment_ids: Sequence[str] | None = None,
    settlement_id: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    conn: Connection | None = None,
) -> list[dict]:
    clauses: list[str] = []
    values: dict[str, Any] = {"limit": limit}
    if operator_id is not None:
        clauses.append("b.operator_id = :operator_id")
        values["operator_id"] = operator_id
    if settlement_id is not None:
        clauses.append("b.id = :settlement_id")
        values["settlement_id"] = settlement_id
    if status is not None:
        clauses.append("g.status = :status")
        values["status"] = status
    if enrolment_ids is not None:
        if not enrolment_ids:
            return []
        names = {f"e{i}": eid for i, eid in enumerate(enrolment_ids)}
        clauses.append(f"b.enrolment_id IN ({', '.join(f':{n}' for n in names)})")
        values.update(names)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return await _fetchall(
        f"""
        SELECT b.*, g.status, g.last_error, g.attempts, g.payment_hash
        FROM {S}.balance_settlements b
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        {where}
        ORDER BY b.created_at DESC, b.id
        LIMIT :limit
        """,
        values,
        conn,
    )


async def get_balance_settlement_by_key(
    *, operator_id: str, idempotency_key: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"""
        SELECT b.*, g.status, g.last_error, g.attempts, g.payment_hash
        FROM {S}.balance_settlements b
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        WHERE b.operator_id = :operator_id AND b.idempotency_key = :key
        """,
        {"operator_id": operator_id, "key": idempotency_key},
        conn,
    )


async def void_failed_balance_settlement(
    *, settlement_id: str, operator_id: str, now: int, conn: Connection
) -> dict | None:
    """failed → void, for a balance settlement's leg only: a leg being paid
    (paying), paid or already void is left as it is, whatever else runs. Returns
    the voided leg, or None when it was not failed."""
    return await fetch_returning(
        conn,
        f"""
        UPDATE {S}.payout_legs
        SET status = 'void', next_attempt_at = NULL, updated_at = :now
        WHERE settlement_id = :id AND operator_id = :operator_id
          AND kind = 'lp_balance_settlement' AND status = 'failed'
        RETURNING *
        """,
        {"id": settlement_id, "operator_id": operator_id, "now": now},
    )


async def list_lp_balance_settlements(
    *, lp_id: str, limit: int = 1000, conn: Connection | None = None
) -> list[dict]:
    """An LP's balance settlements, newest first, with their legs' status."""
    return await _fetchall(
        f"""
        SELECT b.id, b.enrolment_id, b.operator_id, b.fiat_minor, b.fiat_code,
               b.exchange_rate, b.sats, b.created_at, g.status, g.paid_at
        FROM {S}.balance_settlements b
        JOIN {S}.lp_enrolments e ON e.id = b.enrolment_id
        JOIN {S}.payout_legs g ON g.settlement_id = b.id
        WHERE e.lp_id = :lp_id
        ORDER BY b.created_at DESC, b.id
        LIMIT :limit
        """,
        {"lp_id": lp_id, "limit": limit},
        conn,
    )


# --- LP auto-forwarding --------------------------------------------------------------


async def update_lp_forwarding(
    *,
    lp_id: str,
    ln_address: str | None,
    fee_reserve_bps: int,
    conn: Connection | None = None,
) -> None:
    async with _tx(conn) as c:
        await execute(
            c,
            f"UPDATE {S}.lps SET ln_address = :ln_address, "
            "forward_fee_reserve_bps = :bps WHERE id = :id",
            {"id": lp_id, "ln_address": ln_address, "bps": fee_reserve_bps},
        )


async def get_lp_of_enrolment(
    *, enrolment_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT l.* FROM {S}.lps l JOIN {S}.lp_enrolments e ON e.lp_id = l.id "
        "WHERE e.id = :id",
        {"id": enrolment_id},
        conn,
    )


async def insert_forward_once(
    *, row: dict[str, Any], conn: Connection | None = None
) -> int:
    """One forward per distribution leg, however often it is scheduled."""
    columns = ", ".join(row)
    params = ", ".join(f":{key}" for key in row)
    async with _tx(conn) as c:
        return await execute(
            c,
            f"INSERT INTO {S}.forwards ({columns}) VALUES ({params}) "
            "ON CONFLICT (leg_id) DO NOTHING",
            row,
        )


async def forwards_due(
    *, now: int, stale_before: int, limit: int = 100, conn: Connection | None = None
) -> list[dict]:
    return await _fetchall(
        f"""
        SELECT * FROM {S}.forwards
        WHERE status = 'pending'
           OR (status = 'failed' AND next_attempt_at <= :now)
           OR (status = 'sending' AND updated_at < :stale_before)
        ORDER BY created_at LIMIT :limit
        """,
        {"now": now, "stale_before": stale_before, "limit": limit},
        conn,
    )


async def claim_forward(
    *, forward_id: str, now: int, stale_before: int, conn: Connection | None = None
) -> dict | None:
    """Takes a forward for sending, as claim_leg takes a leg; returns it as it now
    stands (None when the claim was lost). Its ``updated_at`` is the claim's token
    for update_forward."""
    async with _tx(conn) as c:
        return await fetch_returning(
            c,
            f"""
            UPDATE {S}.forwards
            SET status = 'sending', attempts = attempts + 1, updated_at = :now
            WHERE id = :id AND (
                status = 'pending'
                OR (status = 'failed' AND next_attempt_at <= :now)
                OR (status = 'sending' AND updated_at < :stale_before)
            )
            RETURNING *
            """,
            {"id": forward_id, "now": now, "stale_before": stale_before},
        )


async def update_forward(
    *,
    forward_id: str,
    claimed_at: int,
    fields: dict[str, Any],
    conn: Connection | None = None,
) -> bool:
    """Writes a claimed forward; False when the claim made at ``claimed_at`` was
    taken over meanwhile (and nothing was written)."""
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    async with _tx(conn) as c:
        return (
            await execute(
                c,
                f"UPDATE {S}.forwards SET {assignments} WHERE id = :forward_id "
                "AND status = 'sending' AND updated_at = :claimed_at",
                {**fields, "forward_id": forward_id, "claimed_at": claimed_at},
            )
            == 1
        )


async def list_forwards(*, lp_id: str, conn: Connection | None = None) -> list[dict]:
    return await _fetchall(
        f"SELECT * FROM {S}.forwards WHERE lp_id = :lp_id "
        "ORDER BY created_at DESC, id LIMIT 500",
        {"lp_id": lp_id},
        conn,
    )


async def claim_event(
    *, event_id: str, now: int, conn: Connection | None = None
) -> None:
    """Raises IntegrityError when the event was handled before."""
    async with _tx(conn) as c:
        await _insert(c, "handled_events", {"event_id": event_id, "received_at": now})


async def forget_events_before(*, before: int, conn: Connection | None = None) -> int:
    async with _tx(conn) as c:
        return await execute(
            c,
            f"DELETE FROM {S}.handled_events WHERE received_at < :before",
            {"before": before},
        )


async def get_machine_by_wallet(
    *, wallet_id: str, conn: Connection | None = None
) -> dict | None:
    return await _fetchone(
        f"SELECT * FROM {S}.machines WHERE wallet_id = :wallet_id",
        {"wallet_id": wallet_id},
        conn,
    )


async def list_machine_wallets(*, conn: Connection | None = None) -> list[str]:
    rows = await _fetchall(f"SELECT wallet_id FROM {S}.machines", {}, conn)
    return [row["wallet_id"] for row in rows]
