"""Landing a settlement: one atomic write of the sale and every leg it owes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from .. import audit, calculations, crud, fiat
from ..database import transaction
from ..errors import Conflict, InvalidInput
from ..helpers import new_id, now
from ..models import (
    Direction,
    LegKind,
    ManualSettlementCreate,
    Settlement,
    SuperConfig,
)
from . import payouts
from .config import get_super_config
from .machines import operator_machine
from .settlements import get_settlement
from .splits import LegDraft, fee_legs, split_rule


@dataclass(frozen=True)
class NewSettlement:
    """A customer transaction as it lands, whatever path it came by."""

    operator_id: str
    machine: dict
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

    @property
    def gross_sats(self) -> int:
        if self.direction == Direction.cash_out:
            return self.principal_sats + self.fee_sats + self.undispensed_sats
        return self.principal_sats

    def same_transaction_as(self, row: dict) -> bool:
        return (
            row["direction"] == self.direction.value
            and row["principal_sats"] == self.principal_sats
            and row["commission_sats"] == self.fee_sats
            and row["fiat_amount_minor"] == self.fiat_minor
            and row["fiat_code"] == self.fiat_code
            and row["exchange_rate"] == self.exchange_rate
        )


def _lp_legs(
    new: NewSettlement, enrolments: list[dict]
) -> tuple[calculations.LpDistribution, list[LegDraft]]:
    funded = [row for row in enrolments if row["balance_minor"] > 0]
    distribution = calculations.distribute_principal(
        principal_sats=new.principal_sats,
        fiat_minor=new.fiat_minor,
        balances_minor=[row["balance_minor"] for row in funded],
    )
    legs = [
        LegDraft(
            kind=LegKind.lp_distribution,
            label=f"Liquidity provider {row['lp_id'][:8]}",
            target=row["id"],
            wallet_id=row["wallet_id"],
            lp_enrolment_id=row["id"],
            sats=sats,
            fiat_minor=fiat_minor,
        )
        for row, sats, fiat_minor in zip(
            funded, distribution.sats, distribution.fiat_minor, strict=True
        )
        if sats or fiat_minor
    ]
    return distribution, legs


async def land_settlement(new: NewSettlement) -> tuple[Settlement, bool]:
    """Lands one customer transaction with its legs, atomically and once.

    Returns the settlement and whether this call created it. A repeat of the same
    transaction returns the stored one; the same tx_id or payment hash with other
    amounts is a conflict. The database's unique keys decide, not a prior read.
    """
    settlement_id = new_id()
    timestamp = now()
    try:
        async with transaction() as conn:
            await crud.lock_operator_allocations(operator_id=new.operator_id, conn=conn)
            config = await get_super_config(conn=conn)
            rules = [
                split_rule(row)
                for row in await crud.get_split_rules(
                    operator_id=new.operator_id, conn=conn
                )
            ]
            split, legs = fee_legs(
                config=config,
                direction=new.direction,
                commission_sats=new.fee_sats,
                principal_sats=new.principal_sats,
                rules=rules,
                machine_wallet_id=new.machine["wallet_id"],
            )
            allocated = unallocated = 0
            if new.direction == Direction.cash_out:
                enrolments = await crud.list_enrolments(
                    operator_id=new.operator_id, fiat_code=new.fiat_code, conn=conn
                )
                distribution, lp_legs = _lp_legs(new, enrolments)
                legs += lp_legs
                allocated = distribution.allocated_sats
                unallocated = distribution.unallocated_sats
            fee_bps, basis = config.fee_for(new.direction)
            leg_rows = [
                {
                    "id": new_id(),
                    "settlement_id": settlement_id,
                    "operator_id": new.operator_id,
                    "position": position,
                    "kind": leg.kind.value,
                    "label": leg.label,
                    "target": leg.target,
                    "wallet_id": leg.wallet_id,
                    "ln_address": leg.ln_address,
                    "lp_enrolment_id": leg.lp_enrolment_id,
                    "sats": leg.sats,
                    "fiat_minor": leg.fiat_minor,
                    "status": _initial_leg_status(leg, new.machine["wallet_id"]),
                    "source_wallet_id": new.machine["wallet_id"],
                    "created_at": timestamp,
                    "updated_at": timestamp,
                }
                for position, leg in enumerate(legs)
                if leg.sats > 0 or leg.fiat_minor
            ]
            await crud.insert_settlement(
                row={
                    "id": settlement_id,
                    "operator_id": new.operator_id,
                    "machine_id": new.machine["id"],
                    "direction": new.direction.value,
                    "status": "settled"
                    if all(row["status"] in payouts.DONE for row in leg_rows)
                    else "pending",
                    "source": new.source,
                    "tx_id": new.tx_id,
                    "payment_hash": new.payment_hash,
                    "gross_sats": new.gross_sats,
                    "principal_sats": new.principal_sats,
                    "commission_sats": new.fee_sats,
                    "platform_fee_sats": split.platform_fee_sats,
                    "operator_fee_sats": split.operator_fee_sats,
                    "discount_sats": 0,
                    "lp_allocated_sats": allocated,
                    "unallocated_sats": unallocated,
                    "undispensed_sats": new.undispensed_sats,
                    "fiat_amount_minor": new.fiat_minor,
                    "fiat_code": new.fiat_code,
                    "exchange_rate": new.exchange_rate,
                    "fee_bps": fee_bps,
                    "fee_basis": basis.value,
                    "fee_snapshot": json.dumps(
                        {
                            "cash_in_fee_bps": config.cash_in_fee_bps,
                            "cash_out_fee_bps": config.cash_out_fee_bps,
                            "cash_in_fee_basis": config.cash_in_fee_basis.value,
                            "cash_out_fee_basis": config.cash_out_fee_basis.value,
                            "super_wallet_id": config.super_wallet_id,
                        }
                    ),
                    "split_snapshot": json.dumps([rule.dict() for rule in rules]),
                    "note": new.note,
                    "created_by": new.actor,
                    "created_at": timestamp,
                    "updated_at": timestamp,
                },
                conn=conn,
            )
            await crud.insert_legs(rows=leg_rows, conn=conn)
            await audit.record(
                conn,
                actor=new.actor,
                operator_id=new.operator_id,
                action="settlement.land",
                object_type="settlement",
                object_id=settlement_id,
                detail={"source": new.source, "tx_id": new.tx_id},
            )
    except IntegrityError as exc:
        existing = await crud.get_settlement_by_tx(
            machine_id=new.machine["id"], tx_id=new.tx_id
        )
        if existing is None and new.payment_hash:
            existing = await crud.get_settlement_by_payment_hash(
                payment_hash=new.payment_hash
            )
        if existing is None:
            raise
        if not new.same_transaction_as(existing):
            raise Conflict(
                f"tx_id '{new.tx_id}' was already recorded on this machine with "
                "different amounts"
            ) from exc
        return await get_settlement(new.operator_id, existing["id"]), False
    payouts.wake()
    return await get_settlement(new.operator_id, settlement_id), True


def _initial_leg_status(leg: LegDraft, machine_wallet_id: str) -> str:
    # Sats the machine wallet would pay to itself never move, and a leg of 0 sats
    # (an LP's fiat share too small to be worth a sat) moves none: nothing to pay.
    if leg.sats == 0 or leg.wallet_id == machine_wallet_id:
        return "retained"
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
    return calculations.principal_matches_fiat(
        principal_sats=principal_sats,
        fiat_minor=fiat_minor,
        fiat_exponent=fiat.exponent(fiat_code),
        rate_numerator=numerator,
        rate_denominator=denominator,
        tolerance_bps=tolerance_bps,
    )


def _check_amounts(
    data: ManualSettlementCreate, machine: dict, config: SuperConfig
) -> tuple[int, str]:
    if machine["fiat_code"] and data.fiat_code != machine["fiat_code"]:
        raise InvalidInput(
            f"fiat code mismatch: machine '{machine['name']}' works in "
            f"{machine['fiat_code']}, not {data.fiat_code}"
        )
    try:
        fiat_minor = fiat.to_minor(data.fiat_amount, data.fiat_code)
        rate = fiat.parse_exchange_rate(data.exchange_rate)
        if data.direction == Direction.cash_in:
            calculations.check_cash_in_amounts(
                principal_sats=data.principal_sats, fee_sats=data.fee_sats
            )
        else:
            calculations.check_cash_out_amounts(
                gross_sats=data.principal_sats + data.fee_sats,
                principal_sats=data.principal_sats,
                fee_sats=data.fee_sats,
            )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if data.principal_sats + data.fee_sats < 1:
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
    fiat_minor, rate = _check_amounts(data, machine, config)
    if not machine["fiat_code"]:
        await crud.update_machine(
            machine_id=machine["id"],
            operator_id=operator_id,
            fields={"fiat_code": data.fiat_code, "updated_at": now()},
        )
        machine = {**machine, "fiat_code": data.fiat_code}
    return await land_settlement(
        NewSettlement(
            operator_id=operator_id,
            machine=machine,
            direction=data.direction,
            source="manual",
            tx_id=data.tx_id or f"manual-{new_id()}",
            principal_sats=data.principal_sats,
            fee_sats=data.fee_sats,
            fiat_minor=fiat_minor,
            fiat_code=data.fiat_code,
            exchange_rate=rate,
            actor=operator_id,
            note=data.note,
        )
    )
