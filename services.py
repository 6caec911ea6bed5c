"""Orchestration: the rules of the business, between the API and the database.

The money arithmetic itself is in ``calculations`` (pure); persistence is in
``crud``. Functions here decide what may happen, read what the arithmetic needs,
and write its results atomically.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from lnbits.core.crud import delete_wallet, get_account, get_wallet, get_wallets
from lnbits.core.crud.wallets import create_wallet
from lnbits.core.services.payments import check_wallet_daily_withdraw_limit
from lnbits.db import Connection
from lnbits.settings import settings
from lnbits.utils.exchange_rates import get_fiat_rate_and_price_satoshis
from loguru import logger
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from . import audit, beacons, calculations, crud, fiat, payouts
from .database import transaction
from .errors import Conflict, InvalidInput, NotFound
from .models import (
    BPS_MAX,
    IDEMPOTENCY_KEY,
    LP_CODE_ALPHABET,
    MAX_SATS,
    AtmTransaction,
    BalanceSettle,
    BalanceSettlement,
    CurrencyTotals,
    DailyMachineStats,
    Deposit,
    DepositCreate,
    Direction,
    Forward,
    ForwardingSettings,
    Leg,
    LegKind,
    LpBalance,
    LpBalanceSettlement,
    LpCode,
    LpCodeCreate,
    LpDistribution,
    LpEnrol,
    LpEnrolment,
    LpProfile,
    LpSummary,
    Machine,
    MachineCreate,
    MachineUpdate,
    ManualSettlementCreate,
    OperatorTotals,
    PlatformFee,
    Settlement,
    SettlementLeg,
    SettlementPage,
    SettlementTotals,
    SplitPreview,
    SplitPreviewRequest,
    SplitRule,
    SplitRuleIn,
    SplitsUpdate,
    SuperConfig,
    SuperConfigUpdate,
)
from .nostr.keys import KeyPair
from .nostr.nip19 import npub_encode

M = TypeVar("M", bound=BaseModel)
DEFAULT_RELAYS = ("ws://127.0.0.1:7777",)
SYSTEM_ACTOR = "system"


def _model(model: type[M], row: dict[str, Any], **derived: Any) -> M:
    """Builds an API model from a row: its own columns plus the derived fields."""
    fields = {k: v for k, v in row.items() if k in model.__fields__}
    return model(**{**fields, **derived})


def now() -> int:
    return int(time.time())


def new_id() -> str:
    return uuid.uuid4().hex


async def _existing_wallet(wallet_id: str, what: str):
    wallet = await get_wallet(wallet_id)
    if wallet is None or wallet.deleted:
        raise InvalidInput(f"{what}: no LNbits wallet with id '{wallet_id}'")
    return wallet


async def person_name(user_id: str, chosen: str | None = None) -> str:
    """How one person appears to another: the name they chose, else their LNbits
    username, else a label derived from (not revealing) their user id. A user id
    is a login credential under LNbits' user-id-only method: never show it."""
    if chosen:
        return chosen
    account = await get_account(user_id)
    if account is not None and account.username:
        return account.username
    return f"user {hashlib.sha256(user_id.encode()).hexdigest()[:6]}"


# --- super config ------------------------------------------------------------------


def _super_config(row: dict) -> SuperConfig:
    return _model(
        SuperConfig,
        row,
        relays=json.loads(row["relays"]),
        server_npub=npub_encode(row["server_pubkey"]),
    )


async def get_super_config(*, conn: Connection | None = None) -> SuperConfig:
    row = await crud.get_super_config(conn=conn)
    if row is None:
        keys = KeyPair.generate()
        await crud.create_super_config_if_missing(
            server_private_key=keys.private_key_hex,
            server_pubkey=keys.public_key_hex,
            relays=DEFAULT_RELAYS,
            now=now(),
            conn=conn,
        )
        row = await crud.get_super_config(conn=conn)
        assert row is not None
    return _super_config(row)


async def update_super_config(
    update: SuperConfigUpdate, *, actor_id: str
) -> SuperConfig:
    current = await get_super_config()
    changes = update.dict(exclude_unset=True)
    both = changes.pop("fee_basis", None)
    if both is not None:
        changes["cash_in_fee_basis"] = changes["cash_out_fee_basis"] = both
    if changes.get("super_wallet_id"):
        await _existing_wallet(changes["super_wallet_id"], "super_wallet_id")
    merged = {**current.dict(), **changes}
    if (merged["cash_in_fee_bps"] or merged["cash_out_fee_bps"]) and not merged[
        "super_wallet_id"
    ]:
        raise InvalidInput(
            "set super_wallet_id before charging a platform fee: the fee has to be "
            "paid into a wallet"
        )
    if not changes:
        return current
    stored = {
        key: (json.dumps(value) if key == "relays" else getattr(value, "value", value))
        for key, value in changes.items()
    }
    async with transaction() as conn:
        await crud.update_super_config(
            fields=stored, updated_by=actor_id, now=now(), conn=conn
        )
        await audit.record(
            conn,
            actor=actor_id,
            operator_id=None,
            action="super_config.update",
            object_type="super_config",
            object_id="global",
            detail={
                key: {"from": current.dict()[key], "to": value}
                for key, value in changes.items()
            },
        )
    return await get_super_config()


async def rotate_server_key(*, actor_id: str) -> SuperConfig:
    """A new Nostr identity for the server; machines must be told the new npub."""
    old = await get_super_config()
    keys = KeyPair.generate()
    async with transaction() as conn:
        await crud.update_super_config(
            fields={
                "server_private_key": keys.private_key_hex,
                "server_pubkey": keys.public_key_hex,
            },
            updated_by=actor_id,
            now=now(),
            conn=conn,
        )
        await audit.record(
            conn,
            actor=actor_id,
            operator_id=None,
            action="super_config.rotate_key",
            object_type="super_config",
            object_id="global",
            detail={"from": old.server_pubkey, "to": keys.public_key_hex},
        )
    return await get_super_config()


async def get_platform_fee() -> PlatformFee:
    config = await get_super_config()
    return PlatformFee(**config.public_dict())


async def super_overview() -> list[OperatorTotals]:
    return [OperatorTotals(**row) for row in await crud.operator_totals()]


# --- machines ------------------------------------------------------------------------


async def _operator_machine(
    machine_id: str, operator_id: str, conn: Connection | None = None
) -> dict:
    row = await crud.get_machine(
        machine_id=machine_id, operator_id=operator_id, conn=conn
    )
    if row is None:
        raise NotFound(f"no machine '{machine_id}' in your account")
    return row


async def create_machine(operator_id: str, data: MachineCreate) -> Machine:
    config = await get_super_config()
    if data.npub == config.server_pubkey:
        raise InvalidInput("that is this server's own key, not a machine's")
    await crud.ensure_operator(user_id=operator_id, now=now())
    npub = npub_encode(data.npub)
    wallet = await create_wallet(
        user_id=operator_id, wallet_name=f"{data.name} ({npub})"
    )
    timestamp = now()
    machine_id = new_id()
    row = {
        "id": machine_id,
        "operator_id": operator_id,
        "pubkey": data.npub,
        "wallet_id": wallet.id,
        "name": data.name,
        "location": data.location,
        "fiat_code": data.fiat_code,
        "status": "active",
        "dispense_confirmation": data.dispense_confirmation.value,
        "created_at": timestamp,
        "updated_at": timestamp,
    }
    try:
        async with transaction() as conn:
            await crud.insert_machine(row=row, conn=conn)
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="machine.create",
                object_type="machine",
                object_id=machine_id,
                detail={"pubkey": data.npub, "wallet_id": wallet.id, "name": data.name},
            )
    except IntegrityError as exc:
        # The wallet was made for a machine that cannot exist; it holds nothing.
        await delete_wallet(user_id=operator_id, wallet_id=wallet.id)
        raise Conflict(f"machine {npub} is already registered") from exc
    return (await _with_beacons([row]))[0]


async def _with_beacons(rows: list[dict]) -> list[Machine]:
    config = await get_super_config()
    stored = await crud.latest_beacons(machine_ids=[row["id"] for row in rows])
    by_machine: dict[str, list[dict]] = {}
    for beacon in stored:
        by_machine.setdefault(beacon["machine_id"], []).append(beacon)
    timestamp = now()
    # One query per operator (the page polls this), not one per machine; a deleted
    # wallet is absent and shows as None.
    balances = {
        wallet.id: wallet.balance
        for operator_id in {row["operator_id"] for row in rows}
        for wallet in await get_wallets(operator_id)
    }
    return [
        _model(
            Machine,
            row,
            npub=npub_encode(row["pubkey"]),
            balance_sats=balances.get(row["wallet_id"]),
            **beacons.beacon_status(
                by_machine.get(row["id"], []),
                offline_after_s=config.beacon_offline_s,
                now=timestamp,
            ),
        )
        for row in rows
    ]


async def list_machines(operator_id: str) -> list[Machine]:
    return await _with_beacons(await crud.list_machines(operator_id=operator_id))


async def get_machine(operator_id: str, machine_id: str) -> Machine:
    return (await _with_beacons([await _operator_machine(machine_id, operator_id)]))[0]


async def update_machine(
    operator_id: str, machine_id: str, data: MachineUpdate
) -> Machine:
    current = await _operator_machine(machine_id, operator_id)
    changes = {
        key: getattr(value, "value", value)
        for key, value in data.dict(exclude_unset=True).items()
    }
    if "name" in changes:
        if not changes["name"] or not changes["name"].strip():
            raise InvalidInput("name must not be blank")
        changes["name"] = changes["name"].strip()
    if changes.get("fiat_code") is None:
        changes.pop("fiat_code", None)
    elif changes["fiat_code"] != current[
        "fiat_code"
    ] and await crud.machine_has_settlements(machine_id=machine_id):
        raise Conflict(
            "the fiat currency of a machine with settlements cannot change: "
            "its LP balances and history are in the old currency"
        )
    for key in ("status", "dispense_confirmation"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} must not be null")
    if not changes:
        return (await _with_beacons([current]))[0]
    changes["updated_at"] = now()
    async with transaction() as conn:
        await crud.update_machine(
            machine_id=machine_id, operator_id=operator_id, fields=changes, conn=conn
        )
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="machine.update",
            object_type="machine",
            object_id=machine_id,
            detail={k: {"from": current.get(k), "to": v} for k, v in changes.items()},
        )
    return (await _with_beacons([{**current, **changes}]))[0]


async def delete_machine(operator_id: str, machine_id: str) -> dict:
    current = await _operator_machine(machine_id, operator_id)
    async with transaction() as conn:
        deleted = await crud.delete_machine_without_settlements(
            machine_id=machine_id, operator_id=operator_id, conn=conn
        )
        if deleted:
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="machine.delete",
                object_type="machine",
                object_id=machine_id,
                detail={"pubkey": current["pubkey"]},
            )
    if not deleted:
        raise Conflict(
            "this machine has settlements and cannot be removed; disable it instead"
        )
    return {
        "deleted": machine_id,
        "wallet_id": current["wallet_id"],
        "message": "the machine's wallet, and any balance in it, stays in your account",
    }


async def machine_telemetry(
    operator_id: str, machine_id: str, limit: int
) -> list[dict]:
    await _operator_machine(machine_id, operator_id)
    rows = await crud.list_telemetry(machine_id=machine_id, limit=limit)
    for row in rows:
        with contextlib.suppress(ValueError):  # unparseable content is shown raw
            row["content"] = json.loads(row["content"])
    return rows


# --- splits ---------------------------------------------------------------------------


def _split_rule(row: dict) -> SplitRule:
    return _model(SplitRule, row)


async def get_splits(operator_id: str) -> list[SplitRule]:
    return [
        _split_rule(row) for row in await crud.get_split_rules(operator_id=operator_id)
    ]


async def set_splits(operator_id: str, data: SplitsUpdate) -> list[SplitRule]:
    for rule in data.rules:
        if rule.wallet_id:
            await _existing_wallet(rule.wallet_id, f"rule '{rule.label}'")
    rows = [
        {
            "id": new_id(),
            "operator_id": operator_id,
            "position": position,
            "label": rule.label,
            "wallet_id": rule.wallet_id,
            "ln_address": rule.ln_address,
            "weight_bps": rule.weight_bps,
            "created_at": now(),
        }
        for position, rule in enumerate(data.rules)
    ]
    await crud.ensure_operator(user_id=operator_id, now=now())
    async with transaction() as conn:
        await crud.replace_split_rules(operator_id=operator_id, rows=rows, conn=conn)
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="splits.replace",
            object_type="splits",
            object_id=operator_id,
            detail={"rules": [rule.dict() for rule in data.rules]},
        )
    return [_split_rule(row) for row in rows]


# --- legs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LegDraft:
    kind: LegKind
    label: str
    target: str
    sats: int
    wallet_id: str | None = None
    ln_address: str | None = None
    lp_enrolment_id: str | None = None
    fiat_minor: int | None = None


RETAINED_LABEL = "Retained in the machine wallet (no split rules)"


def _rules_or_retained(
    rules: list[SplitRuleIn] | list[SplitRule], machine_wallet_id: str | None
) -> list[tuple[str, str | None, str | None, int]]:
    """(label, wallet_id, ln_address, weight) per rule; with no rules the
    operator's share stays in the machine wallet, which is the operator's."""
    if not rules:
        return [(RETAINED_LABEL, machine_wallet_id, None, BPS_MAX)]
    return [(r.label, r.wallet_id, r.ln_address, r.weight_bps) for r in rules]


def fee_legs(
    *,
    config: SuperConfig,
    direction: Direction,
    commission_sats: int,
    principal_sats: int,
    rules: list[SplitRuleIn] | list[SplitRule],
    machine_wallet_id: str | None,
) -> tuple[calculations.CommissionSplit, list[LegDraft]]:
    fee_bps, basis = config.fee_for(direction)
    targets = _rules_or_retained(rules, machine_wallet_id)
    split = calculations.split_commission(
        commission_sats=commission_sats,
        principal_sats=principal_sats,
        fee_bps=fee_bps,
        fee_basis=basis.value,
        rule_weights_bps=[weight for *_, weight in targets],
    )
    legs = [
        LegDraft(
            kind=LegKind.platform_fee,
            label="Platform fee",
            target=config.super_wallet_id or "",
            wallet_id=config.super_wallet_id,
            sats=split.platform_fee_sats,
        )
    ]
    for (label, wallet_id, ln_address, _), sats in zip(
        targets, split.operator_legs_sats, strict=True
    ):
        legs.append(
            LegDraft(
                kind=LegKind.operator_split,
                label=label,
                target=wallet_id or ln_address or "",
                wallet_id=wallet_id,
                ln_address=ln_address,
                sats=sats,
            )
        )
    return split, legs


async def preview_split(operator_id: str, data: SplitPreviewRequest) -> SplitPreview:
    config = await get_super_config()
    fee_bps, basis = config.fee_for(data.direction)
    if basis.value == "principal" and data.principal_sats is None:
        raise InvalidInput(
            "principal_sats is needed: the platform fee for this direction is "
            "charged on the principal"
        )
    rules = data.rules if data.rules is not None else await get_splits(operator_id)
    split, legs = fee_legs(
        config=config,
        direction=data.direction,
        commission_sats=data.commission_sats,
        principal_sats=data.principal_sats or 0,
        rules=rules,
        machine_wallet_id=None,
    )
    return SplitPreview(
        direction=data.direction,
        commission_sats=split.commission_sats,
        principal_sats=data.principal_sats or 0,
        fee_bps=fee_bps,
        fee_basis=basis,
        platform_fee_sats=split.platform_fee_sats,
        operator_fee_sats=split.operator_fee_sats,
        legs=[
            Leg(
                kind=leg.kind,
                label=leg.label,
                wallet_id=_shown_wallet_id(leg.kind, leg.wallet_id),
                ln_address=leg.ln_address,
                sats=leg.sats,
                status="preview",
            )
            for leg in legs
        ],
    )


# --- settlements ----------------------------------------------------------------------


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
                _split_rule(row)
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
    machine = await _operator_machine(data.machine_id, operator_id)
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


# Legs that pay someone else's wallet: the super user's (platform fee) or an LP's.
# The operator sees the label and the enrolment, never that wallet's id.
_OTHER_PEOPLES_LEGS = frozenset(
    (LegKind.platform_fee, LegKind.lp_distribution, LegKind.lp_balance_settlement)
)


def _shown_wallet_id(kind: LegKind | str, wallet_id: str | None) -> str | None:
    return None if LegKind(kind) in _OTHER_PEOPLES_LEGS else wallet_id


def _shown_fee_snapshot(stored: str) -> dict:
    snapshot = json.loads(stored)
    snapshot.pop("super_wallet_id", None)
    return snapshot


def _leg(row: dict, fiat_code: str) -> SettlementLeg:
    fiat_minor = row["fiat_minor"]
    return _model(
        SettlementLeg,
        row,
        wallet_id=_shown_wallet_id(row["kind"], row["wallet_id"]),
        fiat_amount=None
        if fiat_minor is None
        else fiat.to_decimal_string(fiat_minor, fiat_code),
    )


def _settlement(row: dict, legs: list[dict] | None = None) -> Settlement:
    return _model(
        Settlement,
        row,
        fiat_amount=fiat.to_decimal_string(row["fiat_amount_minor"], row["fiat_code"]),
        fee_snapshot=_shown_fee_snapshot(row["fee_snapshot"]),
        split_snapshot=json.loads(row["split_snapshot"]),
        legs=None if legs is None else [_leg(leg, row["fiat_code"]) for leg in legs],
    )


async def get_settlement(operator_id: str, settlement_id: str) -> Settlement:
    row = await crud.get_settlement(
        settlement_id=settlement_id, operator_id=operator_id
    )
    if row is None:
        raise NotFound(f"no settlement '{settlement_id}' in your account")
    legs = await crud.get_legs(settlement_ids=[settlement_id])
    return _settlement(row, legs)


@dataclass(frozen=True)
class SettlementFilter:
    machine_id: str | None = None
    status: str | None = None
    direction: Direction | None = None
    since: int | None = None
    until: int | None = None

    def query(self, operator_id: str) -> dict[str, Any]:
        """The keyword arguments of crud's settlement queries."""
        return {
            "operator_id": operator_id,
            "machine_id": self.machine_id,
            "status": self.status,
            "direction": self.direction.value if self.direction else None,
            "since": self.since,
            "until": self.until,
        }


async def list_settlements(
    operator_id: str, filters: SettlementFilter, *, limit: int, offset: int
) -> SettlementPage:
    rows, total = await crud.list_settlements(
        **filters.query(operator_id),
        limit=limit,
        offset=offset,
    )
    return SettlementPage(
        data=[_settlement(row) for row in rows], total=total, limit=limit, offset=offset
    )


_SAT_TOTALS = (
    "settlements",
    "gross_sats",
    "commission_sats",
    "platform_fee_sats",
    "operator_fee_sats",
    "lp_allocated_sats",
)


async def settlement_totals(
    operator_id: str, filters: SettlementFilter
) -> SettlementTotals:
    rows = await crud.settlement_totals(
        **filters.query(operator_id),
    )
    by_currency = [
        CurrencyTotals(
            fiat_amount=fiat.to_decimal_string(
                row["fiat_amount_minor"], row["fiat_code"]
            ),
            **{key: row[key] for key in ("fiat_code", *_SAT_TOTALS)},
        )
        for row in rows
    ]
    return SettlementTotals(
        by_currency=by_currency,
        **{key: sum(row[key] for row in rows) for key in _SAT_TOTALS},
    )


async def daily_stats(operator_id: str, *, days: int) -> list[DailyMachineStats]:
    """The last ``days`` UTC days, today included."""
    until = (now() // 86400 + 1) * 86400
    rows = await crud.daily_settlement_stats(
        operator_id=operator_id, since=until - days * 86400, until=until
    )
    return [
        DailyMachineStats(
            day=datetime.fromtimestamp(row["day"] * 86400, tz=timezone.utc)
            .date()
            .isoformat(),
            machine_id=row["machine_id"],
            settlements=row["settlements"],
            gross_sats=row["gross_sats"],
            commission_sats=row["commission_sats"],
        )
        for row in rows
    ]


CSV_COLUMNS = (
    "id",
    "created_at",
    "machine_id",
    "direction",
    "status",
    "source",
    "tx_id",
    "payment_hash",
    "gross_sats",
    "principal_sats",
    "commission_sats",
    "platform_fee_sats",
    "operator_fee_sats",
    "lp_allocated_sats",
    "unallocated_sats",
    "fiat_amount",
    "fiat_code",
    "exchange_rate",
    "note",
)


_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula runs as one in a spreadsheet, also after
    # leading blanks, which some spreadsheets skip.
    lead = text.lstrip(" ")[:1]
    return f"'{text}" if lead and lead in _FORMULA_LEADS else text


def _csv_text(columns: tuple[str, ...], rows: Iterable[dict]) -> str:
    out = io.StringIO()
    # The csv module quotes a cell holding a character of the line terminator:
    # with "\r\n" (RFC 4180) every cell with a CR or an LF is quoted, so a bare
    # CR cannot end a row and start a new cell in a spreadsheet that reads it so.
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_csv_cell(row[column]) for column in columns)
    return out.getvalue()


async def settlements_csv(operator_id: str, filters: SettlementFilter) -> str:
    rows, _ = await crud.list_settlements(**filters.query(operator_id))
    return _csv_text(CSV_COLUMNS, (_settlement(row).dict() for row in rows))


# --- liquidity providers --------------------------------------------------------------


def _balances(row: dict) -> dict[str, Any]:
    code = row["fiat_code"]
    return {
        "deposited": fiat.to_decimal_string(row["deposited_minor"], code),
        "pending_deposits": fiat.to_decimal_string(row["pending_minor"], code),
        "distributed": fiat.to_decimal_string(row["distributed_minor"], code),
        "held": fiat.to_decimal_string(row["held_minor"], code),
        "voided": fiat.to_decimal_string(row["voided_minor"], code),
        "balance": fiat.to_decimal_string(row["balance_minor"], code),
        "distributed_sats": row["distributed_sats"],
        "held_sats": row["held_sats"],
    }


async def _enrolment(row: dict) -> LpEnrolment:
    name = await person_name(row["user_id"], row.get("display_name"))
    return _model(LpEnrolment, row, name=name, **_balances(row))


async def _operator_enrolment(operator_id: str, enrolment_id: str) -> dict:
    row = await crud.get_enrolment(enrolment_id=enrolment_id, operator_id=operator_id)
    if row is None:
        raise NotFound(f"no liquidity provider enrolment '{enrolment_id}'")
    return row


LP_CODE_TTL_S = 900
LP_CODE_LENGTH = 12  # 31 symbols: about 59 bits, for 15 minutes, used once


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _new_lp_code() -> str:
    return "".join(secrets.choice(LP_CODE_ALPHABET) for _ in range(LP_CODE_LENGTH))


async def create_lp_code(
    user_id: str, data: LpCodeCreate, *, user_wallet_ids: list[str]
) -> LpCode:
    """The LP's consent to be enrolled: a one-time code they give one operator.
    It names the LP's wallet that will receive the sats; a new code replaces the
    previous one."""
    if not user_wallet_ids:
        raise InvalidInput("you need a wallet to receive distributions")
    wallet_id = data.wallet_id or user_wallet_ids[0]
    if wallet_id not in user_wallet_ids:
        raise InvalidInput("choose one of your own wallets")
    lp = await crud.ensure_lp(lp_id=new_id(), user_id=user_id, now=now())
    code, timestamp = _new_lp_code(), now()
    row = {
        "user_id": user_id,
        "lp_id": lp["id"],
        "wallet_id": wallet_id,
        "code_hash": _code_hash(code),
        "expires_at": timestamp + LP_CODE_TTL_S,
        "created_at": timestamp,
    }
    await crud.replace_lp_code(row=row)
    grouped = "-".join(code[i : i + 4] for i in range(0, LP_CODE_LENGTH, 4))
    return LpCode(
        code=grouped, wallet_id=wallet_id, expires_at=row["expires_at"], used_at=None
    )


async def get_lp_code(user_id: str) -> LpCode | None:
    row = await crud.get_lp_code(user_id=user_id)
    return None if row is None else _model(LpCode, row)


async def get_lp_profile(user_id: str) -> LpProfile:
    lp = await crud.get_lp_by_user(user_id=user_id)
    return LpProfile(display_name=lp["display_name"] if lp else None)


async def set_lp_profile(user_id: str, data: LpProfile) -> LpProfile:
    lp = await crud.ensure_lp(lp_id=new_id(), user_id=user_id, now=now())
    await crud.set_lp_display_name(lp_id=lp["id"], display_name=data.display_name)
    return await get_lp_profile(user_id)


async def enrol_lp(operator_id: str, data: LpEnrol) -> LpEnrolment:
    """Enrols the LP who gave the operator ``data.code``. A wrong, used or expired
    code gets one answer, and a refused enrolment leaves the code usable."""
    await crud.ensure_operator(user_id=operator_id, now=now())
    enrolment_id = new_id()
    try:
        async with transaction() as conn:
            code = await crud.claim_lp_code(
                code_hash=_code_hash(data.code), now=now(), conn=conn
            )
            if code is None:
                raise InvalidInput(
                    "that code is not valid (codes work once, for 15 minutes): "
                    "ask the liquidity provider for a new one"
                )
            await crud.insert_enrolment(
                row={
                    "id": enrolment_id,
                    "operator_id": operator_id,
                    "lp_id": code["lp_id"],
                    "wallet_id": code["wallet_id"],
                    "fiat_code": data.fiat_code,
                    "created_at": now(),
                },
                conn=conn,
            )
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="lp.enrol",
                object_type="lp_enrolment",
                object_id=enrolment_id,
                detail={"lp_id": code["lp_id"], "fiat_code": data.fiat_code},
            )
    except IntegrityError as exc:
        raise Conflict(
            f"that liquidity provider is already enrolled with you in {data.fiat_code}"
        ) from exc
    return await _enrolment(await _operator_enrolment(operator_id, enrolment_id))


async def list_lps(operator_id: str) -> list[LpEnrolment]:
    return [
        await _enrolment(row)
        for row in await crud.list_enrolments(operator_id=operator_id)
    ]


def _deposit(row: dict) -> Deposit:
    return _model(
        Deposit,
        row,
        fiat_amount=fiat.to_decimal_string(row["fiat_amount_minor"], row["fiat_code"]),
    )


async def add_deposit(
    operator_id: str, enrolment_id: str, data: DepositCreate
) -> Deposit:
    enrolment = await _operator_enrolment(operator_id, enrolment_id)
    try:
        minor = fiat.to_minor(data.fiat_amount, enrolment["fiat_code"])
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if minor <= 0:
        raise InvalidInput("a deposit must be greater than zero")
    row = {
        "id": new_id(),
        "enrolment_id": enrolment_id,
        "operator_id": operator_id,
        "lp_id": enrolment["lp_id"],
        "fiat_code": enrolment["fiat_code"],
        "fiat_amount_minor": minor,
        "status": "pending",
        "note": data.note,
        "created_by": operator_id,
        "created_at": now(),
    }
    async with transaction() as conn:
        await crud.insert_deposit(row=row, conn=conn)
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="deposit.record",
            object_type="deposit",
            object_id=row["id"],
            detail={"enrolment_id": enrolment_id, "fiat_amount": data.fiat_amount},
        )
    return _deposit({**row, "confirmed_by": None, "confirmed_at": None})


async def confirm_deposit(operator_id: str, deposit_id: str) -> Deposit:
    async with transaction() as conn:
        confirmed = await crud.confirm_deposit(
            deposit_id=deposit_id,
            operator_id=operator_id,
            confirmed_by=operator_id,
            now=now(),
            conn=conn,
        )
        if confirmed:
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="deposit.confirm",
                object_type="deposit",
                object_id=deposit_id,
                detail={},
            )
    row = await crud.get_deposit(deposit_id=deposit_id, operator_id=operator_id)
    if row is None:
        raise NotFound(f"no deposit '{deposit_id}' in your account")
    return _deposit(row)


async def list_deposits(
    operator_id: str, enrolment_id: str | None, status: str | None
) -> list[Deposit]:
    rows = await crud.list_deposits(
        operator_id=operator_id, enrolment_id=enrolment_id, status=status
    )
    return [_deposit(row) for row in rows]


async def lp_summary(user_id: str) -> LpSummary:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return LpSummary(lp_id=None, balances=[], totals=[])
    rows = await crud.list_enrolments(lp_id=lp["id"])
    balances = [
        LpBalance(
            enrolment_id=row["id"],
            operator=await person_name(row["operator_id"]),
            fiat_code=row["fiat_code"],
            wallet_id=row["wallet_id"],
            **_balances(row),
        )
        for row in rows
    ]
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        total = totals.setdefault(
            row["fiat_code"], dict.fromkeys((*crud.BALANCE_SUMS, "balance_minor"), 0)
        )
        for key in total:
            total[key] += row[key]
    return LpSummary(
        lp_id=lp["id"],
        balances=balances,
        totals=[
            {"fiat_code": code, **_balances({"fiat_code": code, **total})}
            for code, total in sorted(totals.items())
        ],
    )


def cost_basis(
    fiat_minor: int, sats: int, fiat_code: str
) -> tuple[str | None, str | None]:
    """An LP distribution's price: (fiat per BTC, sats per fiat unit), rounded half
    up to the currency's minor unit and to 0.01 sat; None where it divides by 0."""
    amount = Decimal(fiat_minor).scaleb(-fiat.exponent(fiat_code))
    per_btc = per_unit = None
    if sats > 0:
        per_btc = str(
            (amount * fiat.SATS_PER_BTC / sats).quantize(
                Decimal(1).scaleb(-fiat.exponent(fiat_code)), rounding=ROUND_HALF_UP
            )
        )
    if amount > 0:
        per_unit = str((sats / amount).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return per_btc, per_unit


def _distribution(row: dict, operator: str) -> LpDistribution:
    code = row["fiat_code"]
    minor = row["fiat_minor"] or 0
    per_btc, per_unit = cost_basis(minor, row["sats"], code)
    return _model(
        LpDistribution,
        row,
        operator=operator,
        fiat_amount=fiat.to_decimal_string(minor, code),
        cost_basis=per_btc,
        sats_per_fiat_unit=per_unit,
    )


async def lp_distributions(user_id: str) -> list[LpDistribution]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    rows = await crud.list_lp_distributions(lp_id=lp["id"])
    names = {
        operator_id: await person_name(operator_id)
        for operator_id in {row["operator_id"] for row in rows}
    }
    return [_distribution(row, names[row["operator_id"]]) for row in rows]


LP_CSV_COLUMNS = (
    "created_at",
    "settlement_id",
    "leg_id",
    "operator",
    "enrolment_id",
    "fiat_code",
    "fiat_amount",
    "sats",
    "exchange_rate",
    "cost_basis",
    "sats_per_fiat_unit",
    "status",
)


async def lp_distributions_csv(user_id: str) -> str:
    """The LP's distributions, newest first; created_at as ISO 8601 UTC."""
    rows = [
        {
            **distribution.dict(),
            "created_at": datetime.fromtimestamp(
                distribution.created_at, timezone.utc
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for distribution in await lp_distributions(user_id)
    ]
    return _csv_text(LP_CSV_COLUMNS, rows)


async def audit_log(operator_id: str, limit: int) -> list[dict]:
    rows = await crud.list_audit(operator_id=operator_id, limit=limit)
    for row in rows:
        row["detail"] = json.loads(row["detail"])
        if row["action"] == "lp.enrol":
            # Enrolments recorded before consent codes kept the LP's user id.
            row["detail"].pop("user_id", None)
    return rows


# --- payouts: worklist and abandoned transactions ------------------------------


async def worklist(operator_id: str) -> list[Settlement]:
    rows = await crud.list_settlements_with_failed_legs(operator_id=operator_id)
    legs = await crud.get_legs(settlement_ids=[row["id"] for row in rows])
    by_settlement: dict[str, list[dict]] = {}
    for leg in legs:
        by_settlement.setdefault(leg["settlement_id"], []).append(leg)
    return [_settlement(row, by_settlement.get(row["id"], [])) for row in rows]


async def retry_settlement(operator_id: str, settlement_id: str) -> Settlement:
    """Pays the failed legs again, now; legs already paid are never touched."""
    settlement = await get_settlement(operator_id, settlement_id)
    await crud.make_failed_legs_due(settlement_id=settlement_id, now=now())
    await payouts.process_settlement(settlement_id)
    async with transaction() as conn:
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="settlement.retry",
            object_type="settlement",
            object_id=settlement.id,
            detail={},
        )
    return await get_settlement(operator_id, settlement_id)


def atm_transaction(row: dict) -> AtmTransaction:
    return _model(
        AtmTransaction,
        row,
        fiat_amount=fiat.to_decimal_string(row["fiat_amount_minor"], row["fiat_code"]),
    )


async def list_abandoned(operator_id: str) -> list[AtmTransaction]:
    return [
        atm_transaction(row)
        for row in await crud.list_abandoned(operator_id=operator_id)
    ]


# --- LP balance settlements ------------------------------------------------------


def _balance_settlement(row: dict) -> BalanceSettlement:
    return _model(
        BalanceSettlement,
        row,
        fiat_amount=fiat.to_decimal_string(row["fiat_minor"], row["fiat_code"]),
    )


async def _lnbits_rate(fiat_code: str) -> Decimal | None:
    """LNbits' price of a BTC, a float: read as the shortest decimal that is that
    float, checked like an operator's rate, kept to what a person would read (two
    decimals, rounded half up like every other amount here). None when LNbits has
    no usable price (offline, or an unknown currency)."""
    try:
        _, price = await get_fiat_rate_and_price_satoshis(fiat_code)
    except Exception as exc:  # a price provider's failure is "no rate", not a 500
        logger.warning(f"satmachineadmin: no LNbits price for {fiat_code}: {exc}")
        return None
    try:
        return fiat.rate_from_price(price)
    except ValueError:
        return None


async def _market_rate(fiat_code: str) -> Decimal:
    rate = await _lnbits_rate(fiat_code)
    if rate is None:
        raise InvalidInput(
            f"LNbits has no exchange rate for {fiat_code} right now: give one"
        )
    return rate


RATE_LNBITS = "lnbits"
RATE_OPERATOR = "operator"  # within the tolerance of LNbits' rate
RATE_UNVERIFIED = "operator_unverified"  # LNbits had none; the operator confirmed


@dataclass(frozen=True)
class SettlementRate:
    rate: Decimal
    source: str
    lnbits_rate: Decimal | None


def _percent(bps: int | Decimal) -> str:
    return f"{Decimal(bps) / 100:.2f} %"


async def _settlement_rate(code: str, data: BalanceSettle) -> SettlementRate:
    """The rate a balance settlement pays at: LNbits', or the operator's if it is
    within the super user's tolerance of LNbits'. Without an LNbits rate to check
    it against, the operator's is taken only when they confirm it explicitly: a
    mistyped rate pays the LP almost nothing for their whole balance."""
    market = await _lnbits_rate(code)
    if data.exchange_rate is None:
        if market is None:
            raise InvalidInput(
                f"LNbits has no exchange rate for {code} right now: give one"
            )
        return SettlementRate(market, RATE_LNBITS, market)
    try:
        rate = fiat.parse_exchange_rate(data.exchange_rate)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if market is None:
        if not data.confirm_without_market_rate:
            raise InvalidInput(
                f"LNbits has no exchange rate for {code} right now to check "
                f"{rate:f} against: confirm that you want to use it anyway"
            )
        return SettlementRate(rate, RATE_UNVERIFIED, None)
    tolerance = (await get_super_config()).lp_rate_tolerance_bps
    if abs(rate - market) * BPS_MAX > tolerance * market:
        off = abs(rate - market) * BPS_MAX / market
        raise InvalidInput(
            f"the rate {rate:f} {code}/BTC is {_percent(off.quantize(Decimal(1)))} "
            f"away from LNbits' current {market:f}; the platform allows at most "
            f"{_percent(tolerance)}"
        )
    return SettlementRate(rate, RATE_OPERATOR, market)


def _idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "the Idempotency-Key must be 1 to 64 letters, digits or . _ : -"
        )
    return key


def _request_digest(enrolment_id: str, data: BalanceSettle) -> str:
    request = {"enrolment_id": enrolment_id, **data.dict()}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _replayed(row: dict, digest: str) -> BalanceSettlement:
    """The first answer to a repeated request; a key reused for another request
    is refused rather than guessed at."""
    if row["request_digest"] != digest:
        raise Conflict(
            "this Idempotency-Key was already used for a different settlement"
        )
    return _balance_settlement(row)


async def _check_payable(wallet_id: str, target_wallet_id: str, sats: int) -> None:
    """Refuses, before anything is recorded, a payment that cannot go through:
    more than LNbits lets one payment (out of the operator's wallet, into the
    LP's) carry or the paying wallet spend today, more than it holds, or more
    than the LP's wallet may hold."""
    limit = min(
        settings.lnbits_max_outgoing_payment_amount_sats,
        settings.lnbits_max_incoming_payment_amount_sats,
    )
    if sats > limit:
        raise InvalidInput(
            f"{sats} sats is more than LNbits allows in one payment ({limit} "
            "sats): settle a smaller amount at a time"
        )
    try:
        await check_wallet_daily_withdraw_limit(wallet_id, sats * 1000)
    except ValueError as exc:  # LNbits says why: the limit, or no spending at all
        raise InvalidInput(f"LNbits refuses this payment: {exc}") from exc
    wallet = await get_wallet(wallet_id)
    held = 0 if wallet is None else wallet.balance_msat // 1000
    if held < sats:
        raise InvalidInput(
            f"the paying wallet holds {held} sats, less than the {sats} sats "
            "this settlement pays: top it up first"
        )
    target = await get_wallet(target_wallet_id)
    if target is None or target.deleted:
        raise InvalidInput(
            "the LP's wallet no longer exists in LNbits: nothing can be paid into it"
        )
    if settings.is_wallet_max_balance_exceeded(target.balance_msat // 1000 + sats):
        raise InvalidInput(
            f"the LP's wallet may hold at most "
            f"{settings.lnbits_wallet_limit_max_balance} sats in LNbits: settle a "
            "smaller amount"
        )


async def settle_lp_balance(
    operator_id: str,
    enrolment_id: str,
    data: BalanceSettle,
    *,
    user_wallet_ids: set,
    idempotency_key: str | None = None,
) -> tuple[BalanceSettlement, bool]:
    """Pays (part of) an LP's remaining fiat balance in sats at a rate, from one of
    the operator's wallets. Until the payment is made the amount is held (out of
    the balance, still the LP's); only a paid settlement is distributed, so
    settling all of it leaves the balance at exactly zero once paid, and a voided
    one gives it back. Returns the settlement and whether this call created it
    (False: the same Idempotency-Key and request were seen before)."""
    enrolment = await _operator_enrolment(operator_id, enrolment_id)
    if data.wallet_id not in user_wallet_ids:
        raise InvalidInput("pay from one of your own wallets")
    key = _idempotency_key(idempotency_key)
    digest = _request_digest(enrolment_id, data)
    if key is not None:
        seen = await crud.get_balance_settlement_by_key(
            operator_id=operator_id, idempotency_key=key
        )
        if seen is not None:
            return _replayed(seen, digest), False
    code = enrolment["fiat_code"]
    rate = await _settlement_rate(code, data)
    try:
        requested = (
            None if data.fiat_amount is None else fiat.to_minor(data.fiat_amount, code)
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    settlement_id = new_id()
    try:
        async with transaction() as conn:
            await crud.lock_operator_allocations(operator_id=operator_id, conn=conn)
            if key is not None:  # a concurrent double submit, now serialized
                seen = await crud.get_balance_settlement_by_key(
                    operator_id=operator_id, idempotency_key=key, conn=conn
                )
                if seen is not None:
                    return _replayed(seen, digest), False
            await _record_balance_settlement(
                conn,
                settlement_id=settlement_id,
                enrolment=enrolment,
                requested=requested,
                rate=rate,
                data=data,
                key=key,
                digest=digest,
            )
    except IntegrityError:
        # The unique key refused a second row that raced past the lookup.
        if key is None:
            raise
        seen = await crud.get_balance_settlement_by_key(
            operator_id=operator_id, idempotency_key=key
        )
        if seen is None:
            raise
        return _replayed(seen, digest), False
    await payouts.process_settlement(settlement_id)
    return await _get_balance_settlement(operator_id, settlement_id), True


async def _record_balance_settlement(
    conn: Connection,
    *,
    settlement_id: str,
    enrolment: dict,
    requested: int | None,
    rate: SettlementRate,
    data: BalanceSettle,
    key: str | None,
    digest: str,
) -> None:
    """The settlement and its leg, held from the balance read under the lock."""
    operator_id, enrolment_id = enrolment["operator_id"], enrolment["id"]
    code = enrolment["fiat_code"]
    current = await crud.get_enrolment(
        enrolment_id=enrolment_id, operator_id=operator_id, conn=conn
    )
    assert current is not None
    balance = current["balance_minor"]
    fiat_minor = balance if requested is None else requested
    if balance <= 0:
        raise InvalidInput("this liquidity provider has no balance to settle")
    if not 0 < fiat_minor <= balance:
        raise InvalidInput(
            f"settle between 0 and the remaining balance "
            f"({fiat.to_decimal_string(balance, code)} {code})"
        )
    numerator, denominator = fiat.rate_fraction(rate.rate)
    sats = calculations.fiat_to_sats(
        fiat_minor=fiat_minor,
        fiat_exponent=fiat.exponent(code),
        rate_numerator=numerator,
        rate_denominator=denominator,
    )
    if sats < 1:
        raise InvalidInput("that amount is worth less than one sat")
    if sats > MAX_SATS:
        raise InvalidInput("at that rate the amount is more than 21 million BTC")
    await _check_payable(data.wallet_id, enrolment["wallet_id"], sats)
    timestamp = now()
    await crud.insert_balance_settlement(
        row={
            "id": settlement_id,
            "operator_id": operator_id,
            "enrolment_id": enrolment_id,
            "fiat_minor": fiat_minor,
            "fiat_code": code,
            "exchange_rate": str(rate.rate),
            "rate_source": rate.source,
            "sats": sats,
            "source_wallet_id": data.wallet_id,
            "note": data.note,
            "created_by": operator_id,
            "created_at": timestamp,
            "idempotency_key": key,
            "request_digest": digest,
        },
        conn=conn,
    )
    await crud.insert_legs(
        rows=[
            {
                "id": new_id(),
                "settlement_id": settlement_id,
                "operator_id": operator_id,
                "position": 0,
                "kind": LegKind.lp_balance_settlement.value,
                "label": "Balance settlement",
                "target": enrolment_id,
                "wallet_id": enrolment["wallet_id"],
                "lp_enrolment_id": enrolment_id,
                "sats": sats,
                "fiat_minor": fiat_minor,
                "status": "pending",
                "source_wallet_id": data.wallet_id,
                "created_at": timestamp,
                "updated_at": timestamp,
            }
        ],
        conn=conn,
    )
    await audit.record(
        conn,
        actor=operator_id,
        operator_id=operator_id,
        action="lp.settle_balance",
        object_type="balance_settlement",
        object_id=settlement_id,
        detail={
            "enrolment_id": enrolment_id,
            "fiat_minor": fiat_minor,
            "rate": str(rate.rate),
            "rate_source": rate.source,
            "lnbits_rate": None if rate.lnbits_rate is None else str(rate.lnbits_rate),
            "confirmed_without_market_rate": rate.source == RATE_UNVERIFIED,
            "sats": sats,
            "idempotency_key": key,
        },
    )


async def _get_balance_settlement(
    operator_id: str, settlement_id: str, *, conn: Connection | None = None
) -> BalanceSettlement:
    rows = await crud.list_balance_settlements(
        operator_id=operator_id, settlement_id=settlement_id, conn=conn
    )
    if rows:
        return _balance_settlement(rows[0])
    raise NotFound(f"no balance settlement '{settlement_id}'")


async def list_balance_settlements(operator_id: str) -> list[BalanceSettlement]:
    return [
        _balance_settlement(row)
        for row in await crud.list_balance_settlements(operator_id=operator_id)
    ]


async def failed_balance_settlements(operator_id: str) -> list[BalanceSettlement]:
    """The balance settlements of the worklist: failed, held from the LP's
    balance until they are retried and paid, or voided."""
    rows = await crud.list_balance_settlements(operator_id=operator_id, status="failed")
    return [_balance_settlement(row) for row in rows]


async def retry_balance_settlement(
    operator_id: str, settlement_id: str
) -> BalanceSettlement:
    """Pays a failed balance settlement again, now, and records what came of it."""
    before = await _get_balance_settlement(operator_id, settlement_id)
    if before.status != "failed":
        raise Conflict(
            f"only a failed settlement can be retried; this one is {before.status}"
        )
    await crud.make_failed_legs_due(settlement_id=settlement_id, now=now())
    await payouts.process_settlement(settlement_id)
    after = await _get_balance_settlement(operator_id, settlement_id)
    await audit.record(
        None,
        actor=operator_id,
        operator_id=operator_id,
        action="balance_settlement.retry",
        object_type="balance_settlement",
        object_id=settlement_id,
        detail={"status": after.status, "error": after.last_error},
    )
    return after


async def void_balance_settlement(
    operator_id: str, settlement_id: str
) -> BalanceSettlement:
    """Gives up on a failed balance settlement: its amount goes back into the
    LP's balance. Only a failed one (never one being paid or paid) is voided,
    in one guarded statement, and only when LNbits shows no payment of its
    invoice sent or in flight: while the transaction is open the leg cannot be
    claimed for payment."""
    async with transaction() as conn:
        leg = await crud.void_failed_balance_settlement(
            settlement_id=settlement_id,
            operator_id=operator_id,
            now=now(),
            conn=conn,
        )
        if leg is None:
            current = await _get_balance_settlement(
                operator_id, settlement_id, conn=conn
            )
            raise Conflict(
                f"only a failed settlement can be voided; this one is {current.status}"
            )
        if await payouts.payment_made_or_in_flight(leg):
            raise Conflict(
                "LNbits shows this settlement's payment as sent or in flight: it "
                "cannot be voided"
            )
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="balance_settlement.void",
            object_type="balance_settlement",
            object_id=settlement_id,
            detail={
                "enrolment_id": leg["lp_enrolment_id"],
                "fiat_minor": leg["fiat_minor"],
                "sats": leg["sats"],
                "last_error": leg["last_error"],
            },
        )
    return await _get_balance_settlement(operator_id, settlement_id)


def _lp_balance_settlement(row: dict, operator: str) -> LpBalanceSettlement:
    state = {"paid": "paid", "void": "voided"}.get(row["status"], "held")
    return _model(
        LpBalanceSettlement,
        row,
        operator=operator,
        fiat_amount=fiat.to_decimal_string(row["fiat_minor"], row["fiat_code"]),
        state=state,
    )


async def lp_balance_settlements(user_id: str) -> list[LpBalanceSettlement]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    rows = await crud.list_lp_balance_settlements(lp_id=lp["id"])
    names = {
        operator_id: await person_name(operator_id)
        for operator_id in {row["operator_id"] for row in rows}
    }
    return [_lp_balance_settlement(row, names[row["operator_id"]]) for row in rows]


# --- LP auto-forwarding ----------------------------------------------------------


async def _own_lp(user_id: str) -> dict:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        raise NotFound("you are not a liquidity provider of any operator")
    return lp


async def get_forwarding(user_id: str) -> ForwardingSettings:
    lp = await _own_lp(user_id)
    return ForwardingSettings(
        ln_address=lp["ln_address"], fee_reserve_bps=lp["forward_fee_reserve_bps"]
    )


async def set_forwarding(user_id: str, data: ForwardingSettings) -> ForwardingSettings:
    lp = await _own_lp(user_id)
    async with transaction() as conn:
        await crud.update_lp_forwarding(
            lp_id=lp["id"],
            ln_address=data.ln_address,
            fee_reserve_bps=data.fee_reserve_bps,
            conn=conn,
        )
        await audit.record(
            conn,
            actor=user_id,
            operator_id=None,
            action="lp.forwarding",
            object_type="lp",
            object_id=lp["id"],
            detail=data.dict(),
        )
    return data


async def list_forwards(user_id: str) -> list[Forward]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    return [_model(Forward, row) for row in await crud.list_forwards(lp_id=lp["id"])]
