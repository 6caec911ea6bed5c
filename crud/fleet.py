"""A machine's notes, its cassette versions, counts, cashbox batches and the
bills its dispense reports named."""

from __future__ import annotations

from lnbits.db import Connection

from ..database import execute
from ..models import (
    CashBatchRow,
    CashCountRow,
    CassetteVersionRow,
    DispensedBillsRow,
    MachineNoteRow,
)
from .sql import S, connection, fetch_all, fetch_row, fetch_rows, insert_model


async def insert_machine_note(
    *, row: MachineNoteRow, conn: Connection | None = None
) -> None:
    """Raises IntegrityError if its ``seq`` was taken by a concurrent note."""
    async with connection(conn) as c:
        await insert_model(c, "machine_notes", row)


async def last_note_seq(*, machine_id: str, conn: Connection | None = None) -> int:
    rows = await fetch_all(
        f"SELECT MAX(seq) AS seq FROM {S}.machine_notes WHERE machine_id = :machine_id",
        {"machine_id": machine_id},
        conn,
    )
    return int(rows[0]["seq"] or 0) if rows else 0


async def list_machine_notes(
    *, machine_id: str, operator_id: str, limit: int, conn: Connection | None = None
) -> list[MachineNoteRow]:
    """Newest first; only the operator's own."""
    return await fetch_rows(
        MachineNoteRow,
        f"SELECT * FROM {S}.machine_notes WHERE machine_id = :machine_id "
        "AND operator_id = :operator_id ORDER BY seq DESC "
        "LIMIT :limit",
        {"machine_id": machine_id, "operator_id": operator_id, "limit": limit},
        conn,
    )


async def current_cassette_version(
    *, machine_id: str, conn: Connection | None = None
) -> CassetteVersionRow | None:
    return await fetch_row(
        CassetteVersionRow,
        f"SELECT * FROM {S}.cassette_versions WHERE machine_id = :machine_id "
        "ORDER BY version DESC LIMIT 1",
        {"machine_id": machine_id},
        conn,
    )


async def insert_cassette_version(
    *, row: CassetteVersionRow, conn: Connection | None = None
) -> None:
    """Raises IntegrityError if the version number is taken (a concurrent
    change won)."""
    async with connection(conn) as c:
        await insert_model(c, "cassette_versions", row)


async def list_cassette_machine_ids(*, conn: Connection | None = None) -> list[str]:
    rows = await fetch_all(
        f"SELECT DISTINCT machine_id FROM {S}.cassette_versions ORDER BY machine_id",
        {},
        conn,
    )
    return [row["machine_id"] for row in rows]


async def insert_cash_count(
    *, row: CashCountRow, conn: Connection | None = None
) -> None:
    """Raises IntegrityError for a report_id this machine used before, or a
    ``seq`` taken by a concurrent count. The bills not yet counted are marked
    as counted by this count."""
    async with connection(conn) as c:
        await insert_model(c, "cash_counts", row)
        await execute(
            c,
            f"UPDATE {S}.dispensed_bills SET counted_in = :count_id "
            "WHERE machine_id = :machine_id AND counted_in IS NULL",
            {"count_id": row.id, "machine_id": row.machine_id},
        )


async def get_cash_count_by_report(
    *, machine_id: str, report_id: str, conn: Connection | None = None
) -> CashCountRow | None:
    return await fetch_row(
        CashCountRow,
        f"SELECT * FROM {S}.cash_counts WHERE machine_id = :machine_id "
        "AND report_id = :report_id",
        {"machine_id": machine_id, "report_id": report_id},
        conn,
    )


async def list_cash_counts(
    *, machine_id: str, limit: int, conn: Connection | None = None
) -> list[CashCountRow]:
    """Newest first."""
    return await fetch_rows(
        CashCountRow,
        f"SELECT * FROM {S}.cash_counts WHERE machine_id = :machine_id "
        "ORDER BY seq DESC LIMIT :limit",
        {"machine_id": machine_id, "limit": limit},
        conn,
    )


async def first_cash_count_at(
    *, machine_id: str, conn: Connection | None = None
) -> int | None:
    rows = await fetch_all(
        f"SELECT MIN(created_at) AS first FROM {S}.cash_counts "
        "WHERE machine_id = :machine_id",
        {"machine_id": machine_id},
        conn,
    )
    first = rows[0]["first"] if rows else None
    return None if first is None else int(first)


async def open_cash_batch(
    *, machine_id: str, conn: Connection | None = None
) -> CashBatchRow | None:
    return await fetch_row(
        CashBatchRow,
        f"SELECT * FROM {S}.cash_batches WHERE machine_id = :machine_id "
        "AND closed_at IS NULL ORDER BY batch DESC LIMIT 1",
        {"machine_id": machine_id},
        conn,
    )


async def list_cash_batches(
    *, machine_id: str, limit: int, conn: Connection | None = None
) -> list[CashBatchRow]:
    return await fetch_rows(
        CashBatchRow,
        f"SELECT * FROM {S}.cash_batches WHERE machine_id = :machine_id "
        "ORDER BY batch DESC LIMIT :limit",
        {"machine_id": machine_id, "limit": limit},
        conn,
    )


async def insert_cash_batch(*, row: CashBatchRow, conn: Connection) -> None:
    await insert_model(conn, "cash_batches", row)


async def close_cash_batch(
    *,
    machine_id: str,
    batch: int,
    now: int,
    removed_count: int | None,
    removed_fiat_minor: int | None,
    conn: Connection,
) -> int:
    """Closes the batch if it is still open; how many rows changed (0: another
    refill closed it first)."""
    return await execute(
        conn,
        f"UPDATE {S}.cash_batches SET closed_at = :now, "
        "removed_count = :removed_count, removed_fiat_minor = :removed_fiat_minor "
        "WHERE machine_id = :machine_id AND batch = :batch AND closed_at IS NULL",
        {
            "now": now,
            "removed_count": removed_count,
            "removed_fiat_minor": removed_fiat_minor,
            "machine_id": machine_id,
            "batch": batch,
        },
    )


async def insert_dispensed_bills(
    *, rows: list[DispensedBillsRow], conn: Connection | None = None
) -> None:
    """Raises IntegrityError if this transaction's bills were recorded before."""
    async with connection(conn) as c:
        for row in rows:
            await insert_model(c, "dispensed_bills", row)


async def list_uncounted_bills(
    *, machine_id: str, conn: Connection | None = None
) -> list[DispensedBillsRow]:
    """The bills dispensed since the machine's last count."""
    return await fetch_rows(
        DispensedBillsRow,
        f"SELECT * FROM {S}.dispensed_bills WHERE machine_id = :machine_id "
        "AND counted_in IS NULL",
        {"machine_id": machine_id},
        conn,
    )


async def list_bills_since(
    *, machine_id: str, since: int, conn: Connection | None = None
) -> list[DispensedBillsRow]:
    return await fetch_rows(
        DispensedBillsRow,
        f"SELECT * FROM {S}.dispensed_bills WHERE machine_id = :machine_id "
        "AND created_at >= :since",
        {"machine_id": machine_id, "since": since},
        conn,
    )


async def delete_machine_cash(*, machine_id: str, conn: Connection) -> None:
    """A deleted machine's notes, cassettes, counts, batches, bills and the
    state of its alerts."""
    for table in (
        "machine_notes",
        "cassette_versions",
        "cash_counts",
        "cash_batches",
        "dispensed_bills",
    ):
        await execute(
            conn,
            f"DELETE FROM {S}.{table} WHERE machine_id = :machine_id",
            {"machine_id": machine_id},
        )
    # Its alerts (their history stays).
    await execute(
        conn,
        f"DELETE FROM {S}.alert_states WHERE subject = :machine_id",
        {"machine_id": machine_id},
    )
