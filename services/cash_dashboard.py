"""What the operator sees of a machine's cash: per cassette the last count the
machine reported, the estimate now and the fiat held; the cashbox's fill; the
days until a cassette is empty or the cashbox full, at the pace of the rate
window (``cash.rate_window_s``); the counts with their reconciliation, and the
cashbox batches."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .. import cash, crud, fiat
from ..helpers import now
from ..models import (
    CashBatch,
    CashBatchRow,
    CashboxCash,
    CashCount,
    CashCountRow,
    CassetteCash,
    MachineCash,
    MachineRow,
)
from .cash_counts import (
    SHOWN_BATCHES,
    SHOWN_COUNTS,
    WINDOW_COUNTS,
    cassettes_of,
    estimate_now,
)
from .cassettes import current_document
from .machines import operator_machine


def _money(minor: int | None, code: str | None) -> str | None:
    if minor is None or code is None:
        return None
    return fiat.to_decimal_string(minor, code)


def _count(row: CashCountRow, code: str | None) -> CashCount:
    differences = json.loads(row.differences)
    estimated = json.loads(row.estimated)
    return CashCount(
        id=row.id,
        kind=row.kind,
        report_id=row.report_id,
        created_at=row.created_at,
        batch=row.batch,
        positions=json.loads(row.positions),
        estimated=estimated,
        counted={
            position: estimated.get(position, 0) + difference
            for position, difference in differences["positions"].items()
        },
        differences=differences["positions"],
        bills_fiat=_money(differences["bills_minor"], code) or "0",
        settled_fiat=_money(differences["settled_minor"], code) or "0",
        cashbox_count=row.cashbox_count,
        cashbox_fiat=_money(row.cashbox_fiat_minor, code),
    )


def _batch(row: CashBatchRow, code: str | None) -> CashBatch:
    return CashBatch(
        batch=row.batch,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        removed_count=row.removed_count,
        removed_fiat=_money(row.removed_fiat_minor, code),
    )


async def _window(machine_id: str) -> tuple[int, int]:
    """(start, length) of the window the rates are measured over."""
    timestamp = now()
    first = await crud.first_cash_count_at(machine_id=machine_id)
    length = cash.rate_window_s(timestamp, first)
    return timestamp - length, length


def _cassettes(
    document: dict[str, Any],
    code: str,
    estimate: dict[str, int],
    last_report: CashCountRow | None,
    dispensed: dict[int, int],
    window_s: int,
) -> list[CassetteCash]:
    reported = json.loads(last_report.positions) if last_report else {}
    cassettes = cassettes_of(document["positions"], code)
    left_by_denomination: dict[int, int] = {}
    for c in cassettes:
        left = estimate.get(c.position, 0)
        left_by_denomination[c.denomination_minor] = (
            left_by_denomination.get(c.denomination_minor, 0) + left
        )
    return [
        CassetteCash(
            position=c.position,
            denomination=fiat.to_decimal_string(c.denomination_minor, code),
            capacity=c.capacity,
            last_count=reported.get(c.position),
            counted_at=last_report.created_at if last_report else None,
            estimated_count=estimate.get(c.position, 0),
            fiat_held=fiat.to_decimal_string(
                c.denomination_minor * estimate.get(c.position, 0), code
            ),
            fill_percent=cash.fill_percent(estimate.get(c.position, 0), c.capacity)
            or 0,
            days_until_empty=cash.days_until(
                left_by_denomination[c.denomination_minor],
                dispensed.get(c.denomination_minor, 0),
                window_s,
            ),
        )
        for c in cassettes
    ]


def _cashbox(
    counts: list[CashCountRow],
    capacity: int | None,
    code: str | None,
    window: tuple[int, int],
    open_batch: CashBatchRow | None,
) -> CashboxCash:
    latest = counts[0] if counts else None
    counted = [
        row.cashbox_count
        for row in reversed(counts)
        if row.created_at >= window[0] and row.cashbox_count is not None
    ]
    count = latest.cashbox_count if latest else None
    days = None
    if count is not None and capacity is not None:
        days = cash.days_until(
            max(0, capacity - count), cash.bills_added(counted), window[1]
        )
    return CashboxCash(
        count=count,
        fiat=_money(latest.cashbox_fiat_minor, code) if latest else None,
        capacity=capacity,
        fill_percent=None if count is None else cash.fill_percent(count, capacity),
        days_until_full=days,
        counted_at=latest.created_at if latest else None,
        batch=open_batch.batch if open_batch else None,
        batch_opened_at=open_batch.opened_at if open_batch else None,
    )


async def machine_cash(operator_id: str, machine_id: str) -> MachineCash:
    machine = await operator_machine(machine_id, operator_id)
    return await cash_of(machine)


async def cash_of(machine: MachineRow) -> MachineCash:
    code = machine.fiat_code
    current = await current_document(machine.id)
    window = await _window(machine.id)
    counts = await crud.list_cash_counts(machine_id=machine.id, limit=WINDOW_COUNTS)
    batches = await crud.list_cash_batches(machine_id=machine.id, limit=SHOWN_BATCHES)
    open_batch = next((b for b in batches if b.closed_at is None), None)
    cassettes: list[CassetteCash] = []
    if current is not None and code is not None:
        estimate = await estimate_now(machine, current[1])
        bills = await crud.list_bills_since(machine_id=machine.id, since=window[0])
        dispensed = cash.total_by_denomination(
            (b.denomination_minor, b.count) for b in bills
        )
        last_report = next((row for row in counts if row.kind == "report"), None)
        cassettes = _cassettes(
            current[1], code, estimate, last_report, dispensed, window[1]
        )
    days = [c.days_until_empty for c in cassettes if c.days_until_empty is not None]
    held = sum(fiat.to_minor(c.fiat_held, code) for c in cassettes) if code else 0
    return MachineCash(
        machine_id=machine.id,
        fiat_code=code,
        version=current[0].version if current else None,
        issued_at=current[0].issued_at if current else None,
        document=current[1] if current else None,
        cassettes=cassettes,
        fiat_held=_money(held, code) if cassettes else None,
        days_until_empty=min(days, key=Decimal) if days else None,
        cashbox=_cashbox(
            counts,
            current[0].cashbox_capacity if current else None,
            code,
            window,
            open_batch,
        ),
        counts=[_count(row, code) for row in counts[:SHOWN_COUNTS]],
        batches=[_batch(row, code) for row in batches],
    )
