"""Liquidity providers: codes, enrolment, deposits, statements and forwarding."""

from __future__ import annotations

import hashlib
import secrets
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from .. import audit, conversions, crud, fiat
from ..database import transaction
from ..errors import Conflict, InvalidInput, NotFound
from ..helpers import new_id, now
from ..models import (
    LP_CODE_ALPHABET,
    BalanceSums,
    Deposit,
    DepositCreate,
    DepositRow,
    EnrolmentRow,
    Forward,
    ForwardingSettings,
    LpBalance,
    LpCode,
    LpCodeCreate,
    LpCodeRow,
    LpDistribution,
    LpDistributionRow,
    LpEnrol,
    LpEnrolment,
    LpProfile,
    LpRow,
    LpSummary,
)
from . import push
from .accounts import enrolment_name, operator_names, person_name, to_model
from .settlements import csv_text, export_row


def _balances(sums: BalanceSums) -> dict[str, Any]:
    code = sums.fiat_code
    return {
        "deposited": fiat.to_decimal_string(sums.deposited_minor, code),
        "pending_deposits": fiat.to_decimal_string(sums.pending_minor, code),
        "distributed": fiat.to_decimal_string(sums.distributed_minor, code),
        "held": fiat.to_decimal_string(sums.held_minor, code),
        "voided": fiat.to_decimal_string(sums.voided_minor, code),
        "balance": fiat.to_decimal_string(sums.balance_minor, code),
        "distributed_sats": sums.distributed_sats,
        "held_sats": sums.held_sats,
    }


async def _enrolment(row: EnrolmentRow) -> LpEnrolment:
    name = await enrolment_name(row)
    return to_model(LpEnrolment, row, name=name, **_balances(row))


async def operator_enrolment(operator_id: str, enrolment_id: str) -> EnrolmentRow:
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
    if data.display_name:
        await crud.set_lp_display_name(lp_id=lp.id, display_name=data.display_name)
    code, timestamp = _new_lp_code(), now()
    row = LpCodeRow(
        user_id=user_id,
        lp_id=lp.id,
        wallet_id=wallet_id,
        code_hash=_code_hash(code),
        expires_at=timestamp + LP_CODE_TTL_S,
        used_at=None,
        created_at=timestamp,
    )
    await crud.replace_lp_code(row=row)
    grouped = "-".join(code[i : i + 4] for i in range(0, LP_CODE_LENGTH, 4))
    return to_model(LpCode, row, code=grouped)


async def get_lp_code(user_id: str) -> LpCode | None:
    row = await crud.get_lp_code(user_id=user_id)
    return None if row is None else to_model(LpCode, row)


async def get_lp_profile(user_id: str) -> LpProfile:
    lp = await crud.get_lp_by_user(user_id=user_id)
    return LpProfile(display_name=lp.display_name if lp else None)


async def set_lp_profile(user_id: str, data: LpProfile) -> LpProfile:
    lp = await crud.ensure_lp(lp_id=new_id(), user_id=user_id, now=now())
    await crud.set_lp_display_name(lp_id=lp.id, display_name=data.display_name)
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
                    "lp_id": code.lp_id,
                    "wallet_id": code.wallet_id,
                    "fiat_code": data.fiat_code,
                    "display_name": data.display_name,
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
                detail={"lp_id": code.lp_id, "fiat_code": data.fiat_code},
            )
    except IntegrityError as exc:
        raise Conflict(
            f"that liquidity provider is already enrolled with you in {data.fiat_code}"
        ) from exc
    enrolment = await operator_enrolment(operator_id, enrolment_id)
    push.notify_lps(operator_id, [enrolment.lp_id])
    return await _enrolment(enrolment)


async def list_lps(operator_id: str) -> list[LpEnrolment]:
    return [
        await _enrolment(row)
        for row in await crud.list_enrolments(operator_id=operator_id)
    ]


def _deposit(row: DepositRow) -> Deposit:
    return to_model(
        Deposit,
        row,
        fiat_amount=fiat.to_decimal_string(row.fiat_amount_minor, row.fiat_code),
    )


async def add_deposit(
    operator_id: str, enrolment_id: str, data: DepositCreate
) -> Deposit:
    enrolment = await operator_enrolment(operator_id, enrolment_id)
    try:
        minor = fiat.to_minor(data.fiat_amount, enrolment.fiat_code)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if minor <= 0:
        raise InvalidInput("a deposit must be greater than zero")
    row = DepositRow(
        id=new_id(),
        enrolment_id=enrolment_id,
        operator_id=operator_id,
        lp_id=enrolment.lp_id,
        fiat_code=enrolment.fiat_code,
        fiat_amount_minor=minor,
        status="pending",
        note=data.note,
        created_by=operator_id,
        created_at=now(),
    )
    async with transaction() as conn:
        await crud.insert_deposit(row=row, conn=conn)
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="deposit.record",
            object_type="deposit",
            object_id=row.id,
            detail={"enrolment_id": enrolment_id, "fiat_amount": data.fiat_amount},
        )
    push.notify_lps(operator_id, [row.lp_id])
    return _deposit(row)


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
    if confirmed:
        push.notify_lps(operator_id, [row.lp_id])
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
    rows = await crud.list_enrolments(lp_id=lp.id)
    balances = [
        LpBalance(
            enrolment_id=row.id,
            operator=await person_name(row.operator_id),
            fiat_code=row.fiat_code,
            wallet_id=row.wallet_id,
            **_balances(row),
        )
        for row in rows
    ]
    return LpSummary(
        lp_id=lp.id,
        balances=balances,
        totals=[
            {"fiat_code": total.fiat_code, **_balances(total)}
            for total in _totals_per_currency(rows)
        ],
    )


def _totals_per_currency(rows: list[EnrolmentRow]) -> list[BalanceSums]:
    codes = sorted({row.fiat_code for row in rows})
    return [
        BalanceSums(
            fiat_code=code,
            **{
                key: sum(getattr(row, key) for row in rows if row.fiat_code == code)
                for key in crud.BALANCE_SUMS
            },
        )
        for code in codes
    ]


def cost_basis(
    fiat_minor: int, sats: int, fiat_code: str
) -> tuple[str | None, str | None]:
    """An LP distribution's price: (fiat per BTC, sats per fiat unit), rounded half
    up to the currency's minor unit and to 0.01 sat; None where it divides by 0."""
    amount = Decimal(fiat_minor).scaleb(-fiat.exponent(fiat_code))
    per_btc = per_unit = None
    if sats > 0:
        per_btc = str(
            (amount * conversions.SATS_PER_BTC / sats).quantize(
                Decimal(1).scaleb(-fiat.exponent(fiat_code)), rounding=ROUND_HALF_UP
            )
        )
    if amount > 0:
        per_unit = str((sats / amount).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return per_btc, per_unit


def _distribution(row: LpDistributionRow, operator: str) -> LpDistribution:
    code = row.fiat_code
    minor = row.fiat_minor or 0
    per_btc, per_unit = cost_basis(minor, row.sats, code)
    return to_model(
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
    rows = await crud.list_lp_distributions(lp_id=lp.id)
    names = await operator_names(rows)
    return [_distribution(row, names[row.operator_id]) for row in rows]


LP_CSV_COLUMNS = (
    "created_at",
    "settlement_id",
    "leg_id",
    "operator",
    "machine",
    "direction",
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
    """The LP's distributions, newest first, in the operator's export's words."""
    rows = [
        export_row(distribution.dict())
        for distribution in await lp_distributions(user_id)
    ]
    return csv_text(LP_CSV_COLUMNS, rows)


async def _own_lp(user_id: str) -> LpRow:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        raise NotFound("you are not a liquidity provider of any operator")
    return lp


async def get_forwarding(user_id: str) -> ForwardingSettings:
    lp = await _own_lp(user_id)
    return ForwardingSettings(
        ln_address=lp.ln_address, fee_reserve_bps=lp.forward_fee_reserve_bps
    )


async def set_forwarding(user_id: str, data: ForwardingSettings) -> ForwardingSettings:
    lp = await _own_lp(user_id)
    async with transaction() as conn:
        await crud.update_lp_forwarding(
            lp_id=lp.id,
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
            object_id=lp.id,
            detail=data.dict(),
        )
    return data


async def list_forwards(user_id: str) -> list[Forward]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    return [
        to_model(Forward, row.dict()) for row in await crud.list_forwards(lp_id=lp.id)
    ]
