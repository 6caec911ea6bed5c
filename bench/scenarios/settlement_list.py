"""Figure 6: the settlement list API over 100 000 stored settlements, inserted
with direct SQL (``settlement_rows`` and the inserts are also what
profile_inprocess.py's ``list`` uses)."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import harness
from instance import PLATFORM_FEE_BPS, RATE, Instance, make_operator
from lnbits_api import API, SPLITS, add_machine, call
from measure import fmt_ms, latency_summary, timed
from report import Report, Row
from sizes import Sizes


def _snapshots(operator_id: str, now: int) -> tuple[str, str]:
    """The fee and split snapshots every stored settlement carries."""
    fee_snapshot = json.dumps(
        {
            "cash_in_fee_bps": PLATFORM_FEE_BPS,
            "cash_out_fee_bps": PLATFORM_FEE_BPS,
            "cash_in_fee_basis": "commission",
            "cash_out_fee_basis": "commission",
            "super_wallet_id": uuid.uuid4().hex,
        }
    )
    split_snapshot = json.dumps(
        [
            {
                "id": uuid.uuid4().hex,
                "operator_id": operator_id,
                "position": n,
                "label": label,
                "wallet_id": uuid.uuid4().hex,
                "ln_address": None,
                "weight_bps": weight,
                "created_at": now,
            }
            for n, (label, weight) in enumerate(SPLITS)
        ]
    )
    return fee_snapshot, split_snapshot


def _settlement(rng: random.Random) -> dict[str, Any]:
    """One settlement's direction, status and amounts, drawn from ``rng``."""
    principal = rng.randint(10_000, 2_000_000)
    commission = principal // 20
    platform = (commission * PLATFORM_FEE_BPS + 5000) // 10_000
    direction = "cash_out" if rng.random() < 0.7 else "cash_in"
    return {
        "direction": direction,
        "status": "settled" if rng.random() < 0.98 else "failed",
        "source": "rpc",
        "tx_id": uuid.uuid4().hex,
        "payment_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        "gross_sats": principal + commission,
        "principal_sats": principal,
        "commission_sats": commission,
        "platform_fee_sats": platform,
        "operator_fee_sats": commission - platform,
        "discount_sats": 0,
        "lp_allocated_sats": principal if direction == "cash_out" else 0,
        "unallocated_sats": 0,
        "undispensed_sats": 0,
        "fiat_amount_minor": principal // 200,
        "fiat_code": "GTQ",
        "exchange_rate": RATE,
        "fee_bps": PLATFORM_FEE_BPS,
        "fee_basis": "commission",
    }


def settlement_rows(
    operator_id: str, machine_ids: list[str], count: int
) -> list[dict[str, Any]]:
    """``count`` settlements of the operator's machines, in turn, spread over
    the past year."""
    rng = random.Random(6)  # noqa: S311 (benchmark data)
    now = int(time.time())
    fee_snapshot, split_snapshot = _snapshots(operator_id, now)
    rows = []
    span = 365 * 86400
    for n in range(count):
        created = now - span + n * span // count
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "operator_id": operator_id,
                "machine_id": machine_ids[n % len(machine_ids)],
                **_settlement(rng),
                "fee_snapshot": fee_snapshot,
                "split_snapshot": split_snapshot,
                "note": None,
                "created_by": "bench",
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def _check_schema(columns: dict[str, bool], row: dict[str, Any]) -> None:
    """``columns``: name → required (NOT NULL without a default)."""
    unknown = set(row) - set(columns)
    missing = {name for name, required in columns.items() if required} - set(row)
    if unknown or missing:
        raise RuntimeError(
            f"settlements schema changed: unknown {sorted(unknown)}, "
            f"missing {sorted(missing)}"
        )


def insert_sqlite(folder: Path, rows: list[dict[str, Any]]) -> None:
    path = folder / f"ext_{harness.EXT_ID}.sqlite3"
    conn = sqlite3.connect(path, timeout=60)
    try:
        info = conn.execute("PRAGMA table_info(settlements)").fetchall()
        _check_schema(
            {
                name: bool(notnull) and default is None
                for _, name, _, notnull, default, _ in info
            },
            rows[0],
        )
        names = list(rows[0])
        sql = (
            f"INSERT INTO settlements ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with conn:
            conn.executemany(sql, [tuple(row[name] for name in names) for row in rows])
    finally:
        conn.close()


async def insert_postgres(database_url: str, rows: list[dict[str, Any]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        info = await conn.fetch(
            "SELECT column_name, is_nullable, column_default "
            "FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'settlements'",
            harness.EXT_ID,
        )
        _check_schema(
            {
                r["column_name"]: r["is_nullable"] == "NO"
                and r["column_default"] is None
                for r in info
            },
            rows[0],
        )
        names = list(rows[0])
        await conn.copy_records_to_table(
            "settlements",
            schema_name=harness.EXT_ID,
            columns=names,
            records=[tuple(row[name] for name in names) for row in rows],
        )
        # What autovacuum does within a minute of such a load (PostgreSQL 13+ also
        # vacuums after inserts): the statistics, and the visibility map that lets
        # an index-only scan skip the table. A table that grew to this size over
        # months has both; one only COPYed into has neither, and its COUNT(*) is a
        # sequential scan (the README gives both figures).
        await conn.execute(f"VACUUM ANALYZE {harness.EXT_ID}.settlements")
    finally:
        await conn.close()


async def _stored(
    instance: Instance, database_url: str | None, sizes: Sizes
) -> tuple[str, list[dict[str, Any]], str, float]:
    """An operator whose machines have ``stored_settlements`` settlements: its
    token, the rows, the first machine's id and the seconds the insert took."""
    operator = await make_operator(instance, lps=0)
    machine_ids = []
    for n in range(sizes.list_machines):
        machine = await add_machine(
            instance.http,
            operator.account,
            {"name": f"Stored {n}", "fiat_code": "GTQ"},
        )
        machine_ids.append(machine["id"])
    rows = settlement_rows(operator.account.id, machine_ids, sizes.stored_settlements)
    t0 = time.perf_counter()
    if database_url:
        await insert_postgres(database_url, rows)
    else:
        await asyncio.to_thread(insert_sqlite, instance.server.sqlite_folder, rows)
    insert_s = time.perf_counter() - t0
    return operator.account.token, rows, machine_ids[0], insert_s


async def _checked_total(
    instance: Instance,
    token: str,
    base: str,
    rows: list[dict[str, Any]],
    machine_id: str,
) -> int:
    """The list's total, checked against the rows stored."""
    first = await call(instance.http, "GET", base, token=token)
    total = int(first["total"])
    expected = sum(
        1
        for r in rows
        if r["machine_id"] == machine_id and r["direction"] == "cash_out"
    )
    if total != expected or len(first["data"]) != 50:
        raise RuntimeError(f"the list says {total} settlements, expected {expected}")
    return total


async def _timed_pages(
    instance: Instance, token: str, base: str, total: int, sizes: Sizes
) -> tuple[list[float], list[float], list[float]]:
    """Pages at random offsets, pages at offset 0, and the platform fee (a
    baseline of the API's own cost)."""

    def get(path: str) -> Any:
        return call(instance.http, "GET", path, token=token)

    rng = random.Random(60)  # noqa: S311 (benchmark data)
    offsets = [rng.randrange(0, max(1, total - 50)) for _ in range(sizes.list_requests)]
    for offset in offsets[:5]:  # warm-up
        await get(f"{base}&offset={offset}")
    pages = iter(offsets)
    seconds = await timed(lambda: get(f"{base}&offset={next(pages)}"), len(offsets))
    few = min(15, sizes.list_requests)
    first_pages = await timed(lambda: get(f"{base}&offset=0"), few)
    baseline = await timed(lambda: get(f"{API}/platform-fee"), few)
    return seconds, first_pages, baseline


async def bench_list(
    instance: Instance, database_url: str | None, sizes: Sizes, report: Report
) -> None:
    token, rows, machine_id, insert_s = await _stored(instance, database_url, sizes)
    base = f"{API}/settlements?machine_id={machine_id}&direction=cash_out&limit=50"
    total = await _checked_total(instance, token, base, rows, machine_id)
    seconds, first_pages, baseline = await _timed_pages(
        instance, token, base, total, sizes
    )
    summary = latency_summary(seconds)
    first_summary = latency_summary(first_pages)
    report.add(
        Row(
            "6",
            f"list of {sizes.stored_settlements:,}: machine+cash_out, 50 at "
            f"offset < {total:,}",
            instance.db,
            fmt_ms(summary),
            "p95 < 50 ms",
            "PASS" if summary["p95_ms"] < 50 else "FAIL",
            {
                **summary,
                "matching": total,
                "insert_s": insert_s,
                "first_page": first_summary,
            },
        )
    )
    report.latency("6", "  the same at offset 0", instance.db, first_summary)
    baseline_summary = latency_summary(baseline)
    report.latency("6", "  baseline: GET /platform-fee", instance.db, baseline_summary)
