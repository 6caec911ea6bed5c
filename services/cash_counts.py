"""The cash in a machine: its counts (the machine's ``report_cash``, the
operator's refills and cassette changes), the server's estimate between them,
their reconciliation, the cashbox batches, and the dashboard.

Every count is a row holding the count per position from then on, the
server's estimate at that moment, and the difference between the two for the
positions someone actually counted. The bills each dispense report names since
the last count lower the estimate (``cash.estimate_counts``); a count marks
them as counted. Arithmetic is in ``cash`` (pure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lnbits.db import Connection

from .. import cash, crud, fiat
from ..errors import Conflict
from ..helpers import new_id, now
from ..models import (
    CashBatchRow,
    CashCountRow,
    DispensedBillsRow,
    MachineRow,
)

SHOWN_COUNTS = 20
SHOWN_BATCHES = 10
# Counts read to measure the cashbox's pace over the rate window.
WINDOW_COUNTS = 1000


@dataclass(frozen=True)
class CountInput:
    kind: str  # "report", "refill" or "cassettes"
    positions: dict[str, int]
    cassettes: list[cash.Cassette]
    cashbox_count: int | None
    cashbox_fiat_minor: int | None
    actor: str
    found: dict[str, int] | None  # what was counted, reconciled
    report_id: str | None = None
    removed_count: int | None = None
    removed_fiat_minor: int | None = None


def cassettes_of(
    positions: dict[str, dict[str, Any]], code: str
) -> list[cash.Cassette]:
    return [
        cash.Cassette(
            position=position,
            denomination_minor=fiat.to_minor(spec["denomination"], code),
            capacity=spec["capacity"],
        )
        for position, spec in positions.items()
    ]


async def latest_count(
    machine_id: str, conn: Connection | None = None
) -> CashCountRow | None:
    rows = await crud.list_cash_counts(machine_id=machine_id, limit=1, conn=conn)
    return rows[0] if rows else None


def _dispensed(bills: list[DispensedBillsRow]) -> dict[int, int]:
    return cash.total_by_denomination((b.denomination_minor, b.count) for b in bills)


async def _estimate(
    machine_id: str, cassettes: list[cash.Cassette], conn: Connection | None
) -> tuple[dict[str, int], list[DispensedBillsRow], CashCountRow | None]:
    last = await latest_count(machine_id, conn)
    bills = await crud.list_uncounted_bills(machine_id=machine_id, conn=conn)
    counted = json.loads(last.positions) if last else {}
    return cash.estimate_counts(cassettes, counted, _dispensed(bills)), bills, last


async def estimate_now(
    machine: MachineRow, document: dict[str, Any] | None
) -> dict[str, int]:
    """Each position's estimated count now; {} without cassettes."""
    if document is None or machine.fiat_code is None:
        return {}
    cassettes = cassettes_of(document["positions"], machine.fiat_code)
    estimate, _, _ = await _estimate(machine.id, cassettes, None)
    return estimate


def _bills_against_settlements(bills: list[DispensedBillsRow]) -> dict[str, int]:
    """What the bills add up to, against the fiat the same dispenses reported."""
    settled = {bill.tx_id: bill.dispensed_minor for bill in bills}
    return {
        "bills_minor": sum(b.denomination_minor * b.count for b in bills),
        "settled_minor": sum(settled.values()),
    }


async def _batch(machine_id: str, conn: Connection) -> CashBatchRow:
    """The open cashbox batch; the first one opens with the first count."""
    batch = await crud.open_cash_batch(machine_id=machine_id, conn=conn)
    if batch is None:
        batch = CashBatchRow(
            machine_id=machine_id,
            batch=1,
            opened_at=now(),
            closed_at=None,
            removed_count=None,
            removed_fiat_minor=None,
        )
        await crud.insert_cash_batch(row=batch, conn=conn)
    return batch


async def _next_batch(
    batch: CashBatchRow, count: CountInput, last: CashCountRow | None, conn: Connection
) -> CashBatchRow:
    """A refill empties the cashbox: its batch closes with what came out (as
    the operator counted it, else as last reported) and the next one opens."""
    removed_count = count.removed_count
    removed_fiat = count.removed_fiat_minor
    if removed_count is None and removed_fiat is None and last is not None:
        removed_count, removed_fiat = last.cashbox_count, last.cashbox_fiat_minor
    closed = await crud.close_cash_batch(
        machine_id=batch.machine_id,
        batch=batch.batch,
        now=now(),
        removed_count=removed_count,
        removed_fiat_minor=removed_fiat,
        conn=conn,
    )
    if not closed:
        raise Conflict("the cashbox was just emptied by another refill; try again")
    following = CashBatchRow(
        machine_id=batch.machine_id,
        batch=batch.batch + 1,
        opened_at=now(),
        closed_at=None,
        removed_count=None,
        removed_fiat_minor=None,
    )
    await crud.insert_cash_batch(row=following, conn=conn)
    return following


async def write_count(
    machine: MachineRow, count: CountInput, *, conn: Connection
) -> CashCountRow:
    """Records a count in the caller's transaction. Raises IntegrityError for
    a report_id the machine used before."""
    estimated, bills, last = await _estimate(machine.id, count.cassettes, conn)
    differences = cash.reconcile(count.found, estimated) if count.found else {}
    batch = await _batch(machine.id, conn)
    if count.kind == "refill":
        batch = await _next_batch(batch, count, last, conn)
    cashbox_count, cashbox_fiat = count.cashbox_count, count.cashbox_fiat_minor
    if cashbox_count is None and last is not None:  # not counted: as it was
        cashbox_count, cashbox_fiat = last.cashbox_count, last.cashbox_fiat_minor
    row = CashCountRow(
        id=new_id(),
        machine_id=machine.id,
        seq=1 if last is None else last.seq + 1,
        kind=count.kind,
        report_id=count.report_id,
        batch=batch.batch,
        positions=json.dumps(count.positions, sort_keys=True),
        cashbox_count=cashbox_count,
        cashbox_fiat_minor=cashbox_fiat,
        estimated=json.dumps(estimated, sort_keys=True),
        differences=json.dumps(
            {"positions": differences, **_bills_against_settlements(bills)},
            sort_keys=True,
        ),
        created_at=now(),
        created_by=count.actor,
    )
    await crud.insert_cash_count(row=row, conn=conn)
    return row
