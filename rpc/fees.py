"""The fee schedule on the wire (contract §9.2): ``get_fees``, the version
``get_info`` names, and the price check of ``make_invoice`` and ``pay_invoice``.

A request is priced with the machine's current schedule, or with the one its
``fee_version`` names if that was replaced less than ``fee_grace_s`` ago (a
machine that fetched the old schedule just before a change). Every machine has
a schedule (its operator's, or the built-in default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import crud, fiat, helpers, services
from ..fees import fiat_within_limits, schedule_fee_sats
from ..models import Direction, FeeEnforcement, FeeVersionRow, MachineRow, SuperConfig
from .errors import RpcError


@dataclass(frozen=True)
class Priced:
    """What a new transaction records of its pricing."""

    fee_version: int
    fee_mismatch_sats: int


async def get_fees(machine: MachineRow, params: dict) -> dict:
    current = await services.machine_schedule(machine)
    await crud.mark_fee_version_fetched(
        machine_id=machine.id, version=current.version, now=helpers.now()
    )
    return json.loads(current.schedule)


def _direction(row: FeeVersionRow, direction: Direction) -> dict[str, Any]:
    return json.loads(row.schedule)[direction.value]


def _fee(fees: dict[str, Any], principal_sats: int) -> int:
    return schedule_fee_sats(
        principal_sats=principal_sats,
        commission_bps=fees["commission_bps"],
        fixed_fee_sats=fees["fixed_fee_sats"],
    )


def _check_limits(fees: dict[str, Any], fiat_amount: str) -> None:
    low, high = fees["min_fiat"], fees["max_fiat"]
    if not fiat_within_limits(
        fiat.parse_amount(fiat_amount),
        min_fiat=None if low is None else Decimal(low),
        max_fiat=None if high is None else Decimal(high),
    ):
        raise RpcError(
            "limit_exceeded",
            f"fiat_amount {fiat_amount} is outside this machine's limits "
            f"({low or 'no minimum'} to {high or 'no maximum'})",
            data={"min_fiat": low, "max_fiat": high},
        )


async def _named_in_grace(
    machine: MachineRow, fee_version: int | None, current: FeeVersionRow, grace_s: int
) -> FeeVersionRow | None:
    """The version the request names, if it was replaced less than ``grace_s``
    ago; the current one is not "named in grace", it is simply current."""
    if fee_version is None or fee_version == current.version:
        return None
    named = await crud.get_fee_version(machine_id=machine.id, version=fee_version)
    if named is None or named.replaced_at is None:
        return None
    return named if helpers.now() - named.replaced_at < grace_s else None


async def price(
    machine: MachineRow,
    direction: Direction,
    *,
    principal_sats: int,
    fee_sats: int,
    fiat_amount: str,
    fee_version: int | None,
    config: SuperConfig | None = None,
) -> Priced:
    """Checks a new transaction's fee and fiat against the accepted schedule:
    ``limit_exceeded`` outside its limits; a fee that is not its rule's is
    ``fee_mismatch`` (``refuse``) or recorded as the difference (``record``).
    ``config``: the super user's settings when the caller has read them."""
    current = await services.machine_schedule(machine)
    config = config or await services.get_super_config()
    named = await _named_in_grace(machine, fee_version, current, config.fee_grace_s)
    accepted = [row for row in (named, current) if row is not None]
    for row in accepted:
        fees = _direction(row, direction)
        if _fee(fees, principal_sats) == fee_sats:
            _check_limits(fees, fiat_amount)
            return Priced(fee_version=row.version, fee_mismatch_sats=0)
    priced_with = accepted[0]
    _check_limits(_direction(priced_with, direction), fiat_amount)
    if config.fee_enforcement == FeeEnforcement.refuse:
        expected = _fee(_direction(current, direction), principal_sats)
        raise RpcError(
            "fee_mismatch",
            f"fee_sats {fee_sats} is not this machine's fee: {expected} sats "
            f"under fee schedule version {current.version}",
            data={"expected_fee_sats": expected, "fee_version": current.version},
        )
    expected = _fee(_direction(priced_with, direction), principal_sats)
    return Priced(
        fee_version=priced_with.version, fee_mismatch_sats=fee_sats - expected
    )


async def server_fee(
    machine: MachineRow,
    direction: Direction,
    *,
    principal_sats: int,
    fiat_amount: str,
    fee_version: int | None,
    config: SuperConfig | None = None,
) -> tuple[int, int]:
    """The fee of a request that carries none (``create_withdraw``) and the
    version it comes from: the schedule ``fee_version`` names while in grace,
    else the current one; its limits are checked. ``config`` as for ``price``."""
    current = await services.machine_schedule(machine)
    config = config or await services.get_super_config()
    named = await _named_in_grace(machine, fee_version, current, config.fee_grace_s)
    schedule = named or current
    fees = _direction(schedule, direction)
    _check_limits(fees, fiat_amount)
    return _fee(fees, principal_sats), schedule.version
