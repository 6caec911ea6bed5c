"""A machine's cassettes (contract §9.4): the operator sets them and records
refills; each change is a new version of the document the machine is sent.

The document holds, per position, the denomination (in the machine's currency
decimals), the capacity and the count as of that version: what was loaded at a
refill, or, when the cassettes are set again, the estimate of a position that
kept its denomination (0 for one that changed). A machine's own counts
(``report_cash``) make no new version: they are what the machine told us.
Every version is written with a count row (``cash_counts``), so that the
estimate always starts from the latest count.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lnbits.db import Connection
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import audit, crud, fiat
from ..crud.sql import connection
from ..errors import Conflict, InvalidInput, NotFound
from ..helpers import now
from ..models import (
    CassettesUpdate,
    CassetteVersionRow,
    DispensedBillsRow,
    MachineRow,
    RefillCreate,
)
from .cash_counts import (
    CountInput,
    cassettes_of,
    estimate_now,
    latest_count,
    write_count,
)
from .machines import operator_machine

SCHEMA_VERSION = 1

CassetteListener = Callable[[str], Awaitable[object]]
_listeners: list[CassetteListener] = []


def on_new_cassette_version(listener: CassetteListener) -> None:
    """``listener(machine_id)`` runs after each new version (publication)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_cassette_listener(listener: CassetteListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


async def _tell_listeners(machine_id: str) -> None:
    for listener in list(_listeners):
        try:
            await listener(machine_id)
        except Exception:  # publishing is best effort: get_cassettes answers
            logger.exception(f"satmachineadmin: cassettes of {machine_id}")


def _currency(machine: MachineRow) -> str:
    if machine.fiat_code is None:
        raise InvalidInput("set the machine's currency before its cassettes")
    return machine.fiat_code


def _denomination(value: str, code: str) -> str:
    try:
        minor = fiat.to_minor(value, code)
    except ValueError as exc:
        raise InvalidInput(f"denomination: {exc}") from exc
    if minor <= 0:
        raise InvalidInput("a denomination must be more than zero")
    return fiat.to_decimal_string(minor, code)


def document_positions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return document["positions"]


async def current_document(
    machine_id: str, conn: Connection | None = None
) -> tuple[CassetteVersionRow, dict[str, Any]] | None:
    row = await crud.current_cassette_version(machine_id=machine_id, conn=conn)
    return None if row is None else (row, json.loads(row.document))


async def _new_version(
    machine: MachineRow,
    positions: dict[str, dict[str, Any]],
    cashbox_capacity: int | None,
    count: CountInput,
    actor: str,
) -> CassetteVersionRow:
    """The version, its count row and the audit entry, together."""
    async with connection(None) as conn:
        current = await crud.current_cassette_version(machine_id=machine.id, conn=conn)
        version = 1 if current is None else current.version + 1
        issued_at = now()
        document = {
            "schema_version": SCHEMA_VERSION,
            "version": version,
            "issued_at": issued_at,
            "positions": positions,
        }
        row = CassetteVersionRow(
            machine_id=machine.id,
            version=version,
            document=json.dumps(document, separators=(",", ":")),
            cashbox_capacity=cashbox_capacity,
            issued_at=issued_at,
            issued_by=actor,
        )
        try:
            await crud.insert_cassette_version(row=row, conn=conn)
        except IntegrityError as exc:
            raise Conflict(
                "the cassettes are being changed by someone else; try again"
            ) from exc
        await write_count(machine, count, conn=conn)
        await audit.record(
            conn,
            actor=actor,
            operator_id=machine.operator_id,
            action=f"cassettes.{count.kind}",
            object_type="machine",
            object_id=machine.id,
            detail={"version": version, "document": document},
        )
    await _tell_listeners(machine.id)
    return row


async def set_cassettes(
    operator_id: str, machine_id: str, data: CassettesUpdate
) -> CassetteVersionRow:
    machine = await operator_machine(machine_id, operator_id)
    code = _currency(machine)
    current = await current_document(machine.id)
    before = document_positions(current[1]) if current else {}
    estimate = await estimate_now(machine, current[1] if current else None)
    positions: dict[str, dict[str, Any]] = {}
    for spec in sorted(data.cassettes, key=lambda c: int(c.position)):
        denomination = _denomination(spec.denomination, code)
        kept = before.get(spec.position, {}).get("denomination") == denomination
        count = min(estimate.get(spec.position, 0), spec.capacity) if kept else 0
        positions[spec.position] = {
            "denomination": denomination,
            "count": count,
            "capacity": spec.capacity,
        }
    last = await latest_count(machine.id)
    count_input = CountInput(
        kind="cassettes",
        positions={p: v["count"] for p, v in positions.items()},
        cassettes=cassettes_of(positions, code),
        cashbox_count=last.cashbox_count if last else 0,
        cashbox_fiat_minor=last.cashbox_fiat_minor if last else 0,
        actor=operator_id,
        found=None,
    )
    return await _new_version(
        machine, positions, data.cashbox_capacity, count_input, operator_id
    )


def _check_refill(data: RefillCreate, positions: dict[str, dict[str, Any]]) -> None:
    if set(data.loaded) != set(positions):
        raise InvalidInput(
            "give the count loaded in every cassette: positions "
            + ", ".join(sorted(positions, key=int))
        )
    unknown = set(data.found) - set(positions)
    if unknown:
        raise InvalidInput(f"no cassette at position {sorted(unknown)[0]}")
    for position, loaded in data.loaded.items():
        capacity = positions[position]["capacity"]
        if loaded > capacity:
            raise InvalidInput(
                f"cassette {position} holds at most {capacity} bills, not {loaded}"
            )


async def record_refill(
    operator_id: str, machine_id: str, data: RefillCreate
) -> CassetteVersionRow:
    """The counts loaded; what was found is reconciled against the estimate;
    the cashbox is emptied (its batch closes and a new one opens)."""
    machine = await operator_machine(machine_id, operator_id)
    code = _currency(machine)
    current = await current_document(machine.id)
    if current is None:
        raise InvalidInput("set the machine's cassettes before recording a refill")
    version_row, document = current
    old = document_positions(document)
    _check_refill(data, old)
    removed_fiat = None
    if data.cashbox_fiat is not None:
        try:
            removed_fiat = fiat.to_minor(data.cashbox_fiat, code)
        except ValueError as exc:
            raise InvalidInput(f"cashbox_fiat: {exc}") from exc
    positions = {
        position: {**spec, "count": data.loaded[position]}
        for position, spec in old.items()
    }
    count_input = CountInput(
        kind="refill",
        positions=dict(data.loaded),
        cassettes=cassettes_of(positions, code),
        cashbox_count=0,
        cashbox_fiat_minor=0,
        actor=operator_id,
        found=dict(data.found),
        removed_count=data.cashbox_count,
        removed_fiat_minor=removed_fiat,
    )
    return await _new_version(
        machine, positions, version_row.cashbox_capacity, count_input, operator_id
    )


async def record_report(
    machine: MachineRow,
    *,
    report_id: str,
    counts: dict[str, int],
    cashbox_count: int | None,
    cashbox_fiat_minor: int | None,
) -> None:
    """A machine's own count (``report_cash``), reconciled against the estimate;
    positions it did not count keep their estimate. Once per ``report_id``: a
    replay records nothing more."""
    current = await current_document(machine.id)
    if current is None or machine.fiat_code is None:
        raise NotFound("the operator has set no cassettes for this machine")
    cassettes = cassettes_of(document_positions(current[1]), machine.fiat_code)
    for _ in range(3):  # a count made at the same moment may take its place
        if await crud.get_cash_count_by_report(
            machine_id=machine.id, report_id=report_id
        ):
            return
        estimate = await estimate_now(machine, current[1])
        count = CountInput(
            kind="report",
            positions={**estimate, **counts},
            cassettes=cassettes,
            cashbox_count=cashbox_count,
            cashbox_fiat_minor=cashbox_fiat_minor,
            actor=f"machine:{machine.id}",
            found=counts,
            report_id=report_id,
        )
        try:
            async with connection(None) as conn:
                await write_count(machine, count, conn=conn)
            return
        except IntegrityError:
            continue
    raise Conflict("the machine's cash is being counted by someone else; try again")


async def record_dispensed_bills(
    machine: MachineRow, *, tx_id: str, dispensed_minor: int, bills: dict[int, int]
) -> None:
    """The bills of one dispense (denomination in minor units → count); they
    lower the estimate until the next count. Once per transaction."""
    timestamp = now()
    rows = [
        DispensedBillsRow(
            machine_id=machine.id,
            tx_id=tx_id,
            denomination_minor=denomination,
            count=count,
            dispensed_minor=dispensed_minor,
            created_at=timestamp,
            counted_in=None,
        )
        for denomination, count in sorted(bills.items())
        if count > 0
    ]
    if not rows:
        return
    try:
        await crud.insert_dispensed_bills(rows=rows)
    except IntegrityError:  # recorded before: a resumed report
        logger.info(f"satmachineadmin: bills of {tx_id} were already recorded")
