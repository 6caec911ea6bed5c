"""LP balance settlements: paying an LP's remaining balance out in sats."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from lnbits.core.crud import get_wallet
from lnbits.core.services.payments import check_wallet_daily_withdraw_limit
from lnbits.db import Connection
from lnbits.settings import settings
from lnbits.utils.exchange_rates import get_fiat_rate_and_price_satoshis
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import audit, conversions, crud, fiat
from ..database import transaction
from ..errors import Conflict, InvalidInput, NotFound
from ..helpers import bps_percent, new_id, now
from ..models import (
    BPS_MAX,
    IDEMPOTENCY_KEY,
    MAX_SATS,
    BalanceSettle,
    BalanceSettlement,
    BalanceSettlementRow,
    EnrolmentRow,
    LegKind,
    LpBalanceSettlement,
    LpBalanceSettlementRow,
    NewBalanceSettlementRow,
)
from . import payouts
from .accounts import operator_names, to_model
from .config import get_super_config
from .lps import operator_enrolment
from .splits import LegDraft


def _balance_settlement(row: BalanceSettlementRow) -> BalanceSettlement:
    return to_model(
        BalanceSettlement,
        row,
        fiat_amount=fiat.to_decimal_string(row.fiat_minor, row.fiat_code),
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


async def _settlement_rate(code: str, data: BalanceSettle) -> SettlementRate:
    """The rate a balance settlement pays at: LNbits', or the operator's if it is
    within the super user's tolerance of LNbits'. Without an LNbits rate to check
    it against, the operator's is taken only when they confirm it explicitly: a
    mistyped rate pays the LP almost nothing for their whole balance."""
    if data.exchange_rate is None:
        current = await _market_rate(code)
        return SettlementRate(current, RATE_LNBITS, current)
    try:
        rate = fiat.parse_exchange_rate(data.exchange_rate)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    market = await _lnbits_rate(code)
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
            f"the rate {rate:f} {code}/BTC is {bps_percent(off.quantize(Decimal(1)))} "
            f"away from LNbits' current {market:f}; the platform allows at most "
            f"{bps_percent(tolerance)}"
        )
    return SettlementRate(rate, RATE_OPERATOR, market)


def _idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "the Idempotency-Key must be 1 to 64 letters, digits or . _ : -"
        )
    return key


@dataclass(frozen=True)
class SettleRequest:
    """A request to settle, as its Idempotency-Key (if the client sent one) and a
    digest of what it asked for recognise it when it comes again."""

    key: str | None
    digest: str


def _request_digest(enrolment_id: str, data: BalanceSettle) -> str:
    request = {"enrolment_id": enrolment_id, **data.dict()}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _replayed(row: BalanceSettlementRow, digest: str) -> BalanceSettlement:
    """The first answer to a repeated request; a key reused for another request
    is refused rather than guessed at."""
    if row.request_digest != digest:
        raise Conflict(
            "this Idempotency-Key was already used for a different settlement"
        )
    return _balance_settlement(row)


async def _seen_before(
    operator_id: str, request: SettleRequest, conn: Connection | None = None
) -> BalanceSettlement | None:
    """The answer already given to this request, if its key was used before."""
    if request.key is None:
        return None
    seen = await crud.get_balance_settlement_by_key(
        operator_id=operator_id, idempotency_key=request.key, conn=conn
    )
    return None if seen is None else _replayed(seen, request.digest)


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
            f"the paying wallet holds {held:,} sats, less than the {sats:,} sats "
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


def _requested_minor(data: BalanceSettle, code: str) -> int | None:
    """The fiat amount asked for, in minor units; None: the whole balance."""
    try:
        return (
            None if data.fiat_amount is None else fiat.to_minor(data.fiat_amount, code)
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


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
    enrolment = await operator_enrolment(operator_id, enrolment_id)
    if data.wallet_id not in user_wallet_ids:
        raise InvalidInput("pay from one of your own wallets")
    request = SettleRequest(
        _idempotency_key(idempotency_key), _request_digest(enrolment_id, data)
    )
    seen = await _seen_before(operator_id, request)
    if seen is not None:
        return seen, False
    rate = await _settlement_rate(enrolment.fiat_code, data)
    requested = _requested_minor(data, enrolment.fiat_code)
    settlement_id = new_id()
    try:
        async with transaction() as conn:
            await crud.lock_operator_allocations(operator_id=operator_id, conn=conn)
            # A concurrent double submit, now serialized.
            seen = await _seen_before(operator_id, request, conn)
            if seen is not None:
                return seen, False
            await _record_balance_settlement(
                conn,
                settlement_id=settlement_id,
                enrolment=enrolment,
                amount=await _amount_to_settle(conn, enrolment, requested, rate),
                data=data,
                request=request,
            )
    except IntegrityError:
        # The unique key refused a second row that raced past the lookup.
        seen = await _seen_before(operator_id, request)
        if seen is None:
            raise
        return seen, False
    await payouts.process_settlement(settlement_id)
    return await _get_balance_settlement(operator_id, settlement_id), True


@dataclass(frozen=True)
class SettledAmount:
    fiat_minor: int
    sats: int
    rate: SettlementRate


async def _amount_to_settle(
    conn: Connection,
    enrolment: EnrolmentRow,
    requested: int | None,
    rate: SettlementRate,
) -> SettledAmount:
    """The fiat to settle and its sats, against the balance read under the lock."""
    code = enrolment.fiat_code
    current = await crud.get_enrolment(
        enrolment_id=enrolment.id, operator_id=enrolment.operator_id, conn=conn
    )
    assert current is not None
    balance = current.balance_minor
    fiat_minor = balance if requested is None else requested
    if balance <= 0:
        raise InvalidInput("this liquidity provider has no balance to settle")
    if not 0 < fiat_minor <= balance:
        raise InvalidInput(
            f"settle between 0 and the remaining balance "
            f"({fiat.to_decimal_string(balance, code)} {code})"
        )
    numerator, denominator = fiat.rate_fraction(rate.rate)
    sats = conversions.fiat_to_sats(
        fiat_minor=fiat_minor,
        fiat_exponent=fiat.exponent(code),
        rate_numerator=numerator,
        rate_denominator=denominator,
    )
    if sats < 1:
        raise InvalidInput("that amount is worth less than one sat")
    if sats > MAX_SATS:
        raise InvalidInput("at that rate the amount is more than 21 million BTC")
    return SettledAmount(fiat_minor, sats, rate)


async def _record_balance_settlement(
    conn: Connection,
    *,
    settlement_id: str,
    enrolment: EnrolmentRow,
    amount: SettledAmount,
    data: BalanceSettle,
    request: SettleRequest,
) -> None:
    """The settlement and its leg, held from the balance as the leg is written."""
    await _check_payable(data.wallet_id, enrolment.wallet_id, amount.sats)
    timestamp = now()
    row = NewBalanceSettlementRow(
        id=settlement_id,
        operator_id=enrolment.operator_id,
        enrolment_id=enrolment.id,
        fiat_minor=amount.fiat_minor,
        fiat_code=enrolment.fiat_code,
        exchange_rate=str(amount.rate.rate),
        rate_source=amount.rate.source,
        sats=amount.sats,
        source_wallet_id=data.wallet_id,
        note=data.note,
        created_by=enrolment.operator_id,
        created_at=timestamp,
        idempotency_key=request.key,
        request_digest=request.digest,
    )
    await crud.insert_balance_settlement(row=row, conn=conn)
    leg = LegDraft(
        kind=LegKind.lp_balance_settlement,
        label="Balance settlement",
        target=enrolment.id,
        wallet_id=enrolment.wallet_id,
        lp_enrolment_id=enrolment.id,
        sats=amount.sats,
        fiat_minor=amount.fiat_minor,
    )
    leg_row = leg.row(
        settlement_id=settlement_id,
        operator_id=enrolment.operator_id,
        position=0,
        status="pending",
        source_wallet_id=data.wallet_id,
        timestamp=timestamp,
    )
    await crud.insert_legs(rows=[leg_row], conn=conn)
    await _audit_settled(conn, row, amount.rate)


async def _audit_settled(
    conn: Connection, row: NewBalanceSettlementRow, rate: SettlementRate
) -> None:
    lnbits_rate = None if rate.lnbits_rate is None else str(rate.lnbits_rate)
    await audit.record(
        conn,
        actor=row.operator_id,
        operator_id=row.operator_id,
        action="lp.settle_balance",
        object_type="balance_settlement",
        object_id=row.id,
        detail={
            "enrolment_id": row.enrolment_id,
            "fiat_minor": row.fiat_minor,
            "rate": str(rate.rate),
            "rate_source": rate.source,
            "lnbits_rate": lnbits_rate,
            "confirmed_without_market_rate": rate.source == RATE_UNVERIFIED,
            "sats": row.sats,
            "idempotency_key": row.idempotency_key,
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
        # The payout engine reads legs as dicts.
        if await payouts.payment_made_or_in_flight(leg.dict()):
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
                "enrolment_id": leg.lp_enrolment_id,
                "fiat_minor": leg.fiat_minor,
                "sats": leg.sats,
                "last_error": leg.last_error,
            },
        )
    return await _get_balance_settlement(operator_id, settlement_id)


def _lp_balance_settlement(
    row: LpBalanceSettlementRow, operator: str
) -> LpBalanceSettlement:
    state = {"paid": "paid", "void": "voided"}.get(row.status, "held")
    return to_model(
        LpBalanceSettlement,
        row,
        operator=operator,
        fiat_amount=fiat.to_decimal_string(row.fiat_minor, row.fiat_code),
        state=state,
    )


async def lp_balance_settlements(user_id: str) -> list[LpBalanceSettlement]:
    lp = await crud.get_lp_by_user(user_id=user_id)
    if lp is None:
        return []
    rows = await crud.list_lp_balance_settlements(lp_id=lp.id)
    names = await operator_names(rows)
    return [_lp_balance_settlement(row, names[row.operator_id]) for row in rows]
