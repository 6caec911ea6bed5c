"""Fee schedules (contract §9.2): the operator's default and per-machine
overrides, each machine's effective schedule and its versions.

A machine's effective schedule is its override, else its operator's default,
with the commission raised to the platform fee where that is taken on the
principal. Every change to it, whoever caused it, is a new version (stored as
published, so that a request naming a version just replaced is priced with
exactly what the machine was sent); recomputing an unchanged schedule makes no
new version. Every machine has a schedule: until its operator sets one, the
built-in default (no commission, no fixed fee, no limits; the platform's floor
still applies), so no machine's fee goes unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lnbits.db import Connection
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import audit, crud, fiat
from ..crud.sql import connection
from ..errors import Conflict, InvalidInput, NotFound
from ..fees import effective_commission_bps, schedule_fee_sats
from ..helpers import now
from ..models import (
    Direction,
    DirectionFees,
    FeeMismatch,
    FeeScheduleRow,
    FeeScheduleUpdate,
    FeeSource,
    FeeVersionRow,
    MachineFees,
    MachineRow,
    OperatorFees,
    SuperConfig,
)
from .accounts import operator_names
from .config import get_super_config

SCHEMA_VERSION = 1
DEFAULT = crud.DEFAULT_SCOPE
# What a machine charges until its operator sets a schedule: nothing of its own.
_NOTHING = DirectionFees(
    commission_bps=0, fixed_fee_sats=0, min_fiat=None, max_fiat=None
)
BUILTIN_DEFAULT = FeeScheduleUpdate(cash_out=_NOTHING, cash_in=_NOTHING)

FeeListener = Callable[[str], Awaitable[object]]
_listeners: list[FeeListener] = []


def on_new_fee_version(listener: FeeListener) -> None:
    """``listener(machine_id)`` runs after each new version (publication)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_fee_listener(listener: FeeListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _schedule_of(rows: list[FeeScheduleRow], scope: str) -> FeeScheduleUpdate | None:
    found = {row.direction: row for row in rows if row.machine_id == scope}
    if set(found) != {d.value for d in Direction}:
        return None
    return FeeScheduleUpdate(
        **{
            direction: DirectionFees(
                commission_bps=row.commission_bps,
                fixed_fee_sats=row.fixed_fee_sats,
                min_fiat=row.min_fiat,
                max_fiat=row.max_fiat,
            )
            for direction, row in found.items()
        }
    )


def _limit(value: str | None, fiat_code: str | None) -> str | None:
    """A limit as the machine is sent it: in its currency's decimals when it has
    one (a limit with more decimals than that is sent as set)."""
    if value is None or fiat_code is None:
        return value
    try:
        return fiat.to_decimal_string(fiat.to_minor(value, fiat_code), fiat_code)
    except ValueError:
        return value


def _direction_document(
    fees: DirectionFees, direction: Direction, config: SuperConfig, code: str | None
) -> dict[str, Any]:
    platform_bps, basis = config.fee_for(direction)
    return {
        "commission_bps": effective_commission_bps(
            commission_bps=fees.commission_bps,
            platform_fee_bps=platform_bps,
            platform_fee_basis=basis.value,
        ),
        "fixed_fee_sats": fees.fixed_fee_sats,
        "min_fiat": _limit(fees.min_fiat, code),
        "max_fiat": _limit(fees.max_fiat, code),
    }


def effective_document(
    machine: MachineRow, rows: list[FeeScheduleRow], config: SuperConfig
) -> dict[str, Any]:
    """The machine's schedule without its version and issue time: its override,
    else its operator's default, else the built-in default."""
    schedule = (
        _schedule_of(rows, machine.id) or _schedule_of(rows, DEFAULT) or BUILTIN_DEFAULT
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "machine_id": machine.id,
        "fiat_code": machine.fiat_code,
        **{
            d.value: _direction_document(
                schedule.for_direction(d), d, config, machine.fiat_code
            )
            for d in (Direction.cash_out, Direction.cash_in)
        },
    }


def _unversioned(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("version", "issued_at")}


async def sync_machine_fees(
    machine_id: str, *, actor: str, conn: Connection | None = None
) -> FeeVersionRow | None:
    """The machine's current version, after making a new one if its effective
    schedule changed; None if the machine is gone."""
    machine = await crud.get_machine(machine_id=machine_id, conn=conn)
    if machine is None:
        return None
    rows = await crud.list_fee_schedules(operator_id=machine.operator_id, conn=conn)
    document = effective_document(machine, rows, await get_super_config(conn=conn))
    for _ in range(3):  # a concurrent change may take the version number first
        current = await crud.current_fee_version(machine_id=machine_id, conn=conn)
        if (
            current is not None
            and _unversioned(json.loads(current.schedule)) == document
        ):
            return current
        try:
            row = await _new_version(machine, document, current, actor, conn)
        except IntegrityError:
            continue
        await _tell_listeners(machine_id)
        return row
    raise Conflict("the fee schedule is being changed by someone else; try again")


async def _tell_listeners(machine_id: str) -> None:
    for listener in list(_listeners):
        try:
            await listener(machine_id)
        except Exception:  # publishing is best effort: get_fees always answers
            logger.exception(f"satmachineadmin: fee schedule of {machine_id}")


async def _new_version(
    machine: MachineRow,
    document: dict[str, Any],
    current: FeeVersionRow | None,
    actor: str,
    conn: Connection | None,
) -> FeeVersionRow:
    # The version, the mark on the one it replaces and the audit row: together.
    async with connection(conn) as c:
        return await _write_version(machine, document, current, actor, c)


async def _write_version(
    machine: MachineRow,
    document: dict[str, Any],
    current: FeeVersionRow | None,
    actor: str,
    conn: Connection,
) -> FeeVersionRow:
    version = 1 if current is None else current.version + 1
    issued_at = now()
    published = {**document, "version": version, "issued_at": issued_at}
    row = FeeVersionRow(
        machine_id=machine.id,
        version=version,
        schedule=json.dumps(published, separators=(",", ":")),
        issued_at=issued_at,
        replaced_at=None,
        fetched_at=None,
    )
    await crud.insert_fee_version(
        row=row, replaces=None if current is None else current.version, conn=conn
    )
    await audit.record(
        conn,
        actor=actor,
        operator_id=machine.operator_id,
        action="fee_schedule.version",
        object_type="machine",
        object_id=machine.id,
        detail={
            "version": version,
            "from": None if current is None else json.loads(current.schedule),
            "to": published,
        },
    )
    return row


async def sync_operator_fees(operator_id: str, *, actor: str) -> None:
    for machine in await crud.list_machines(operator_id=operator_id):
        await sync_machine_fees(machine.id, actor=actor)


async def sync_all_fees(*, actor: str) -> None:
    """After a change of the platform fee: every machine (those whose floor did
    not move keep their version)."""
    for machine_id in await crud.list_machine_ids():
        await sync_machine_fees(machine_id, actor=actor)


async def _own_machine(operator_id: str, machine_id: str) -> MachineRow:
    row = await crud.get_machine(machine_id=machine_id, operator_id=operator_id)
    if row is None:
        raise NotFound(f"no machine '{machine_id}' in your account")
    return row


def _check_schedule(
    data: FeeScheduleUpdate, config: SuperConfig, currencies: set[str]
) -> None:
    """The super user's cap, and limits in the decimals of every currency the
    schedule will price."""
    for direction in Direction:
        fees = data.for_direction(direction)
        cap = config.max_commission_for(direction)
        if fees.commission_bps > cap:
            raise InvalidInput(
                f"the {direction.value.replace('_', '-')} commission of "
                f"{fees.commission_bps} bps is above the platform's maximum of "
                f"{cap} bps"
            )
        for limit in (fees.min_fiat, fees.max_fiat):
            for code in sorted(currencies):
                if limit is None:
                    continue
                try:
                    fiat.to_minor(limit, code)
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from exc


def _rows(
    operator_id: str, scope: str, data: FeeScheduleUpdate, actor: str
) -> list[FeeScheduleRow]:
    timestamp = now()
    return [
        FeeScheduleRow(
            operator_id=operator_id,
            machine_id=scope,
            direction=direction.value,
            **data.for_direction(direction).dict(),
            updated_at=timestamp,
            updated_by=actor,
        )
        for direction in Direction
    ]


async def _save(
    operator_id: str, scope: str, data: FeeScheduleUpdate | None, actor: str
) -> None:
    rows = await crud.list_fee_schedules(operator_id=operator_id)
    old = _schedule_of(rows, scope)
    if data is None:
        await crud.delete_fee_schedule(operator_id=operator_id, machine_id=scope)
    else:
        await crud.replace_fee_schedule(rows=_rows(operator_id, scope, data, actor))
    await audit.record(
        None,
        actor=actor,
        operator_id=operator_id,
        action="fee_schedule.set" if data else "fee_schedule.clear",
        object_type="fee_schedule",
        object_id=scope or "default",
        detail={
            "from": old.dict() if old else None,
            "to": data.dict() if data else None,
        },
    )


async def get_operator_fees(operator_id: str) -> OperatorFees:
    rows = await crud.list_fee_schedules(operator_id=operator_id)
    default = _schedule_of(rows, DEFAULT)
    return OperatorFees(default=default or BUILTIN_DEFAULT, is_set=default is not None)


async def set_default_fees(operator_id: str, data: FeeScheduleUpdate) -> OperatorFees:
    rows = await crud.list_fee_schedules(operator_id=operator_id)
    overridden = {row.machine_id for row in rows}
    machines = await crud.list_machines(operator_id=operator_id)
    currencies = {
        m.fiat_code for m in machines if m.fiat_code and m.id not in overridden
    }
    _check_schedule(data, await get_super_config(), currencies)
    await crud.ensure_operator(user_id=operator_id, now=now())
    await _save(operator_id, DEFAULT, data, operator_id)
    await sync_operator_fees(operator_id, actor=operator_id)
    return await get_operator_fees(operator_id)


async def set_machine_fees(
    operator_id: str, machine_id: str, data: FeeScheduleUpdate
) -> MachineFees:
    machine = await _own_machine(operator_id, machine_id)
    currencies = {machine.fiat_code} if machine.fiat_code else set()
    _check_schedule(data, await get_super_config(), currencies)
    await _save(operator_id, machine_id, data, operator_id)
    await sync_machine_fees(machine_id, actor=operator_id)
    return await machine_fees(operator_id, machine_id)


async def clear_machine_fees(operator_id: str, machine_id: str) -> MachineFees:
    await _own_machine(operator_id, machine_id)
    rows = await crud.list_fee_schedules(operator_id=operator_id)
    if _schedule_of(rows, machine_id) is None:
        raise NotFound("this machine has no schedule of its own")
    await _save(operator_id, machine_id, None, operator_id)
    await sync_machine_fees(machine_id, actor=operator_id)
    return await machine_fees(operator_id, machine_id)


async def machine_fees(operator_id: str, machine_id: str) -> MachineFees:
    machine = await _own_machine(operator_id, machine_id)
    rows = await crud.list_fee_schedules(operator_id=operator_id)
    override = _schedule_of(rows, machine_id)
    has_default = _schedule_of(rows, DEFAULT) is not None
    source: FeeSource = (
        "machine" if override else "default" if has_default else "builtin"
    )
    current = await _current_version(machine)
    return MachineFees(
        machine_id=machine.id,
        source=source,
        override=override,
        version=current.version,
        issued_at=current.issued_at,
        fetched=current.fetched_at is not None,
        fetched_at=current.fetched_at,
        schedule=json.loads(current.schedule),
    )


async def _current_version(machine: MachineRow) -> FeeVersionRow:
    """The machine's current version, made now for a machine from before fee
    schedules (or one whose schedule changed while it was being read)."""
    current = await sync_machine_fees(machine.id, actor=machine.operator_id)
    if current is None:
        raise NotFound(f"no machine '{machine.id}'")
    return current


async def machine_schedule(machine: MachineRow) -> FeeVersionRow:
    """The version a transaction is priced with: one read in the steady state."""
    current = await crud.current_fee_version(machine_id=machine.id)
    return current if current is not None else await _current_version(machine)


@dataclass(frozen=True)
class ManualFee:
    """The fee of a transaction the operator records by hand."""

    fee_sats: int
    fee_version: int
    fee_mismatch_sats: int


async def manual_fee(
    machine: MachineRow,
    direction: Direction,
    *,
    principal_sats: int,
    fee_sats: int | None,
    reason: str | None,
) -> ManualFee:
    """The machine's schedule prices it by default; another fee needs a reason."""
    current = await machine_schedule(machine)
    fees = json.loads(current.schedule)[direction.value]
    expected = schedule_fee_sats(
        principal_sats=principal_sats,
        commission_bps=fees["commission_bps"],
        fixed_fee_sats=fees["fixed_fee_sats"],
    )
    if fee_sats is None or fee_sats == expected:
        return ManualFee(expected, current.version, 0)
    if not (reason or "").strip():
        raise InvalidInput(
            f"the machine's fee schedule (version {current.version}) makes the fee "
            f"{expected} sats: give fee_override_reason to record {fee_sats}"
        )
    return ManualFee(fee_sats, current.version, fee_sats - expected)


async def fee_mismatches(*, limit: int) -> list[FeeMismatch]:
    """Settlements of every operator whose fee was not their schedule's, with
    each operator shown by name."""
    rows = await crud.list_fee_mismatches(limit=limit)
    names = await operator_names(rows)
    return [row.copy(update={"operator_name": names[row.operator_id]}) for row in rows]
