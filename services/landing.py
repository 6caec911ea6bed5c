"""Landing a settlement: one atomic write of the sale and every leg it owes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from lnbits.db import Connection
from sqlalchemy.exc import IntegrityError

from .. import audit, calculations, conversions, crud, fiat
from ..database import transaction
from ..errors import Conflict, InvalidInput
from ..helpers import new_id, now
from ..models import (
    Direction,
    EnrolmentRow,
    LegKind,
    MachineRow,
    ManualSettlementCreate,
    NewLegRow,
    NewSettlementRow,
    Settlement,
    SettlementRow,
    SplitRule,
    SuperConfig,
)
from . import payouts, push
from .config import get_super_config
from .fees import manual_fee, sync_machine_fees
from .machines import operator_machine
from .settlements import get_settlement
from .splits import LegDraft, fee_legs, split_rule


@dataclass(frozen=True)
class NewSettlement:
    """A customer transaction as it lands, whatever path it came by."""

    operator_id: str
    machine: MachineRow
    direction: Direction
    source: str
    tx_id: str
    principal_sats: int
    fee_sats: int
    fiat_minor: int
    fiat_code: str
    exchange_rate: str
    actor: str
    payment_hash: str | None = None
    note: str | None = None
    # Sats the customer paid for cash the machine did not dispense (partial
    # dispense): they stay in the machine wallet for the operator to refund.
    undispensed_sats: int = 0
    # What the customer's payment carried, where the caller knows it (a cash-out's
    # invoice): landing refuses a settlement whose amounts do not add up to it.
    paid_sats: int | None = None
    # The fee schedule version it was priced with, and fee_sats minus that
    # schedule's fee (None: not priced, e.g. a payment landed from its metadata).
    fee_version: int | None = None
    fee_mismatch_sats: int | None = None

    @property
    def gross_sats(self) -> int:
        return _gross_sats(self.direction, self.principal_sats, self.fee_sats) + (
            self.undispensed_sats if self.direction == Direction.cash_out else 0
        )

    def same_transaction_as(self, row: SettlementRow) -> bool:
        return (
            row.direction == self.direction.value
            and row.principal_sats == self.principal_sats
            and row.commission_sats == self.fee_sats
            and row.fiat_amount_minor == self.fiat_minor
            and row.fiat_code == self.fiat_code
            and row.exchange_rate == self.exchange_rate
        )


def _gross_sats(direction: Direction, principal_sats: int, fee_sats: int) -> int:
    """A settlement's gross: what a cash-out customer pays (principal + fee), or a
    cash-in's principal (the customer receives it less the fee)."""
    if direction == Direction.cash_out:
        return calculations.customer_sats(
            direction=direction.value, principal_sats=principal_sats, fee_sats=fee_sats
        )
    return principal_sats


def _check_paid_amount(new: NewSettlement) -> None:
    """A cash-out's principal and fee (as dispensed) must add up to what the
    customer paid, less what was not dispensed: sats are neither lost nor made."""
    if new.paid_sats is None or new.direction != Direction.cash_out:
        return
    try:
        calculations.check_cash_out_amounts(
            gross_sats=new.paid_sats - new.undispensed_sats,
            principal_sats=new.principal_sats,
            fee_sats=new.fee_sats,
        )
    except ValueError as exc:
        raise InvalidInput(
            f"transaction '{new.tx_id}' was paid {new.paid_sats} sats, not the "
            f"{new.gross_sats} sats its principal, fee and undispensed cash add up to"
        ) from exc


def _lp_legs(
    new: NewSettlement, enrolments: list[EnrolmentRow]
) -> tuple[calculations.LpDistribution, list[LegDraft]]:
    funded = [row for row in enrolments if row.balance_minor > 0]
    distribution = calculations.distribute_principal(
        principal_sats=new.principal_sats,
        fiat_minor=new.fiat_minor,
        balances_minor=[row.balance_minor for row in funded],
    )
    legs = [
        LegDraft(
            kind=LegKind.lp_distribution,
            label=f"Liquidity provider {row.lp_id[:8]}",
            target=row.id,
            wallet_id=row.wallet_id,
            lp_enrolment_id=row.id,
            sats=sats,
            fiat_minor=fiat_minor,
        )
        for row, sats, fiat_minor in zip(
            funded, distribution.sats, distribution.fiat_minor, strict=True
        )
        if sats or fiat_minor
    ]
    return distribution, legs


@dataclass(frozen=True)
class OwedLegs:
    """What one settlement owes: the commission split, the legs, and how much of
    the principal the LPs' balances took."""

    split: calculations.CommissionSplit
    legs: list[LegDraft]
    lp_allocated_sats: int = 0
    unallocated_sats: int = 0
    # Enrolments whose LP is paid on a schedule: their legs accrue, not pay.
    accruing: frozenset[str] = frozenset()


async def _owed_legs(
    conn: Connection, new: NewSettlement, config: SuperConfig, rules: list[SplitRule]
) -> OwedLegs:
    split, legs = fee_legs(
        config=config,
        direction=new.direction,
        commission_sats=new.fee_sats,
        principal_sats=new.principal_sats,
        rules=rules,
        machine_wallet_id=new.machine.wallet_id,
    )
    if new.direction != Direction.cash_out:
        return OwedLegs(split, legs)
    enrolments = await crud.list_enrolments(
        operator_id=new.operator_id, fiat_code=new.fiat_code, conn=conn
    )
    distribution, lp_legs = _lp_legs(new, enrolments)
    return OwedLegs(
        split,
        legs + lp_legs,
        distribution.allocated_sats,
        distribution.unallocated_sats,
        frozenset(row.id for row in enrolments if row.pays_on_schedule),
    )


def _leg_rows(
    new: NewSettlement, settlement_id: str, owed: OwedLegs, timestamp: int
) -> list[NewLegRow]:
    """The legs worth storing: a leg of nothing owes nothing."""
    wallet_id = new.machine.wallet_id
    return [
        leg.row(
            settlement_id=settlement_id,
            operator_id=new.operator_id,
            position=position,
            status=_initial_leg_status(leg, wallet_id, owed.accruing),
            source_wallet_id=wallet_id,
            timestamp=timestamp,
        )
        for position, leg in enumerate(owed.legs)
        if leg.sats > 0 or leg.fiat_minor
    ]


def _fee_snapshot(config: SuperConfig) -> str:
    return json.dumps(
        {
            "cash_in_fee_bps": config.cash_in_fee_bps,
            "cash_out_fee_bps": config.cash_out_fee_bps,
            "cash_in_fee_basis": config.cash_in_fee_basis.value,
            "cash_out_fee_basis": config.cash_out_fee_basis.value,
            "super_wallet_id": config.super_wallet_id,
        }
    )


def _settlement_row(
    new: NewSettlement,
    settlement_id: str,
    *,
    config: SuperConfig,
    rules: list[SplitRule],
    owed: OwedLegs,
    settled: bool,
    timestamp: int,
) -> NewSettlementRow:
    fee_bps, basis = config.fee_for(new.direction)
    return NewSettlementRow(
        id=settlement_id,
        operator_id=new.operator_id,
        machine_id=new.machine.id,
        direction=new.direction.value,
        status="settled" if settled else "pending",
        source=new.source,
        tx_id=new.tx_id,
        payment_hash=new.payment_hash,
        gross_sats=new.gross_sats,
        principal_sats=new.principal_sats,
        commission_sats=new.fee_sats,
        platform_fee_sats=owed.split.platform_fee_sats,
        operator_fee_sats=owed.split.operator_fee_sats,
        discount_sats=0,
        lp_allocated_sats=owed.lp_allocated_sats,
        unallocated_sats=owed.unallocated_sats,
        undispensed_sats=new.undispensed_sats,
        fiat_amount_minor=new.fiat_minor,
        fiat_code=new.fiat_code,
        exchange_rate=new.exchange_rate,
        fee_bps=fee_bps,
        fee_basis=basis.value,
        fee_snapshot=_fee_snapshot(config),
        split_snapshot=json.dumps([rule.dict() for rule in rules]),
        note=new.note,
        created_by=new.actor,
        created_at=timestamp,
        updated_at=timestamp,
        fee_version=new.fee_version,
        fee_mismatch_sats=new.fee_mismatch_sats,
    )


async def _write_settlement(
    conn: Connection, new: NewSettlement, settlement_id: str
) -> list[str]:
    """The settlement, its legs and the audit entry, under the operator's lock
    (the LP balances the legs draw on are read under it). Returns the enrolments
    of the LPs with a leg in it."""
    await crud.lock_operator_allocations(operator_id=new.operator_id, conn=conn)
    config = await get_super_config(conn=conn)
    rules = [
        split_rule(row)
        for row in await crud.get_split_rules(operator_id=new.operator_id, conn=conn)
    ]
    owed = await _owed_legs(conn, new, config, rules)
    timestamp = now()
    legs = _leg_rows(new, settlement_id, owed, timestamp)
    settled = all(leg.status in payouts.DONE for leg in legs)
    row = _settlement_row(
        new,
        settlement_id,
        config=config,
        rules=rules,
        owed=owed,
        settled=settled,
        timestamp=timestamp,
    )
    await crud.insert_settlement(row=row, conn=conn)
    await crud.insert_legs(rows=legs, conn=conn)
    await audit.record(
        conn,
        actor=new.actor,
        operator_id=new.operator_id,
        action="settlement.land",
        object_type="settlement",
        object_id=settlement_id,
        detail={"source": new.source, "tx_id": new.tx_id},
    )
    return [leg.lp_enrolment_id for leg in legs if leg.lp_enrolment_id]


async def _stored_as(new: NewSettlement) -> SettlementRow | None:
    """The settlement already stored under this transaction's tx_id or payment."""
    existing = await crud.get_settlement_by_tx(
        machine_id=new.machine.id, tx_id=new.tx_id
    )
    if existing is None and new.payment_hash:
        existing = await crud.get_settlement_by_payment_hash(
            payment_hash=new.payment_hash
        )
    return existing


async def land_settlement(new: NewSettlement) -> tuple[str, bool]:
    """Lands one customer transaction with its legs, atomically and once.

    Returns the settlement's id and whether this call created it. A repeat of the
    same transaction returns the stored one; the same tx_id or payment hash with
    other amounts is a conflict. The database's unique keys decide, not a prior
    read. (Callers that show the settlement read it with ``get_settlement``: the
    machines' paths only need its id, and naming its legs takes a turn on LNbits'
    database for each wallet.)
    """
    _check_paid_amount(new)
    settlement_id = new_id()
    try:
        async with transaction() as conn:
            enrolment_ids = await _write_settlement(conn, new, settlement_id)
    except IntegrityError as exc:
        existing = await _stored_as(new)
        if existing is None:
            raise
        if not new.same_transaction_as(existing):
            raise Conflict(
                f"tx_id '{new.tx_id}' was already recorded on this machine with "
                "different amounts"
            ) from exc
        return existing.id, False
    payouts.wake()
    push.notify_settlement(new.operator_id, enrolment_ids)
    return settlement_id, True


def _initial_leg_status(
    leg: LegDraft, machine_wallet_id: str, accruing: frozenset[str]
) -> str:
    # Sats the machine wallet would pay to itself never move, and a leg of 0 sats
    # (an LP's fiat share too small to be worth a sat) moves none: nothing to pay.
    if leg.sats == 0 or leg.wallet_id == machine_wallet_id:
        return "retained"
    # An LP paid on a schedule: the leg waits for the LP's next payout.
    if leg.kind == LegKind.lp_distribution and leg.lp_enrolment_id in accruing:
        return "accrued"
    return "pending"


def principal_agrees_with_fiat(
    *,
    principal_sats: int,
    fiat_minor: int,
    fiat_code: str,
    rate: Decimal,
    tolerance_bps: int,
) -> bool:
    numerator, denominator = fiat.rate_fraction(rate)
    return conversions.principal_matches_fiat(
        principal_sats=principal_sats,
        fiat_minor=fiat_minor,
        fiat_exponent=fiat.exponent(fiat_code),
        rate_numerator=numerator,
        rate_denominator=denominator,
        tolerance_bps=tolerance_bps,
    )


def _check_amounts(
    data: ManualSettlementCreate,
    machine: MachineRow,
    config: SuperConfig,
    fee_sats: int,
) -> tuple[int, str]:
    """The operator types the principal and the fee; no payment of the customer's
    is known to check them against (landing checks one where there is)."""
    if machine.fiat_code and data.fiat_code != machine.fiat_code:
        raise InvalidInput(
            f"fiat code mismatch: machine '{machine.name}' works in "
            f"{machine.fiat_code}, not {data.fiat_code}"
        )
    try:
        fiat_minor = fiat.to_minor(data.fiat_amount, data.fiat_code)
        rate = fiat.parse_exchange_rate(data.exchange_rate)
        if data.direction == Direction.cash_in:
            calculations.check_cash_in_amounts(
                principal_sats=data.principal_sats, fee_sats=fee_sats
            )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if _gross_sats(data.direction, data.principal_sats, fee_sats) < 1:
        raise InvalidInput("a transaction moves at least 1 sat")
    if not principal_agrees_with_fiat(
        principal_sats=data.principal_sats,
        fiat_minor=fiat_minor,
        fiat_code=data.fiat_code,
        rate=rate,
        tolerance_bps=config.amount_tolerance_bps,
    ):
        raise InvalidInput(
            f"inconsistent amounts: {data.principal_sats} sats is not "
            f"{data.fiat_amount} {data.fiat_code} at {data.exchange_rate} "
            f"{data.fiat_code}/BTC (tolerance {config.amount_tolerance_bps} bps)"
        )
    return fiat_minor, str(rate)


async def record_manual_settlement(
    operator_id: str, data: ManualSettlementCreate
) -> tuple[Settlement, bool]:
    machine = await operator_machine(data.machine_id, operator_id)
    config = await get_super_config()
    priced = await manual_fee(
        machine,
        data.direction,
        principal_sats=data.principal_sats,
        fee_sats=data.fee_sats,
        reason=data.fee_override_reason,
    )
    fiat_minor, rate = _check_amounts(data, machine, config, priced.fee_sats)
    if not machine.fiat_code:
        await crud.update_machine(
            machine_id=machine.id,
            operator_id=operator_id,
            fields={"fiat_code": data.fiat_code, "updated_at": now()},
        )
        machine = machine.copy(update={"fiat_code": data.fiat_code})
        await sync_machine_fees(machine.id, actor=operator_id)  # names the currency
    settlement_id, created = await land_settlement(
        NewSettlement(
            operator_id=operator_id,
            machine=machine,
            direction=data.direction,
            source="manual",
            tx_id=data.tx_id or f"manual-{new_id()}",
            principal_sats=data.principal_sats,
            fee_sats=priced.fee_sats,
            fiat_minor=fiat_minor,
            fiat_code=data.fiat_code,
            exchange_rate=rate,
            actor=operator_id,
            note=data.note,
            fee_version=priced.fee_version,
            fee_mismatch_sats=priced.fee_mismatch_sats,
        )
    )
    if created and priced.fee_mismatch_sats:
        await audit.record(
            None,
            actor=operator_id,
            operator_id=operator_id,
            action="settlement.fee_override",
            object_type="settlement",
            object_id=settlement_id,
            detail={
                "reason": data.fee_override_reason,
                "fee_sats": priced.fee_sats,
                "fee_version": priced.fee_version,
                "fee_mismatch_sats": priced.fee_mismatch_sats,
            },
        )
    return await get_settlement(operator_id, settlement_id), created
