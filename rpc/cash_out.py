"""The cash-out methods: ``make_invoice``, ``report_dispense`` and
``cancel_transaction`` (contract §4)."""

from __future__ import annotations

from decimal import Decimal

from lnbits.core.services import create_invoice
from lnbits.exceptions import InvoiceError
from lnbits.settings import settings

from .. import crud, fiat, helpers, services
from ..models import AtmTransactionRow, Direction, MachineRow
from ..services import TxStatus
from .cash import bills_by_denomination
from .errors import RpcError
from .fees import Priced, price
from .idempotency import once
from .params import (
    CancelTransactionParams,
    MakeInvoiceParams,
    ReportDispenseParams,
    parse_params,
)
from .shared import (
    bitspire_extra,
    customer_sats_of,
    fiat_and_rate,
    non_negative_sats,
    own_transaction,
)
from .withdraw import cancel_withdraw, withdraw_link_of

DEFAULT_INVOICE_EXPIRY_S = 600


async def make_invoice(machine: MachineRow, params: dict) -> dict:
    p = parse_params(MakeInvoiceParams, params)
    non_negative_sats(
        amount_sats=p.amount_sats, principal_sats=p.principal_sats, fee_sats=p.fee_sats
    )
    if p.amount_sats != customer_sats_of(Direction.cash_out, p) or p.amount_sats < 1:
        raise RpcError(
            "inconsistent_amounts",
            "amount_sats must equal principal_sats + fee_sats and be at least 1",
        )
    expiry = DEFAULT_INVOICE_EXPIRY_S if p.expiry_s is None else p.expiry_s
    if not 60 <= expiry <= 86400:
        raise RpcError("bad_request", "expiry_s must be 60..86400")
    if p.amount_sats > settings.lnbits_max_incoming_payment_amount_sats:
        raise RpcError(
            "limit_exceeded",
            f"amount_sats is above this server's invoice limit of "
            f"{settings.lnbits_max_incoming_payment_amount_sats} sats",
        )
    machine, fiat_minor, rate, config = await fiat_and_rate(
        machine,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fiat_code=p.fiat_code,
        rate=p.exchange_rate,
    )

    async def effect() -> dict:
        existing = await crud.get_atm_transaction(machine_id=machine.id, tx_id=p.tx_id)
        if existing is None:
            priced = await price(
                machine,
                Direction.cash_out,
                principal_sats=p.principal_sats,
                fee_sats=p.fee_sats,
                fiat_amount=p.fiat_amount,
                fee_version=p.fee_version,
                config=config,
            )
            existing = await _create_cash_out(
                machine, p, fiat_minor, rate, expiry, priced
            )
        elif existing.direction != Direction.cash_out:
            raise RpcError(
                "conflict", f"tx_id {p.tx_id} is a {existing.direction.value}"
            )
        return {
            "payment_hash": existing.payment_hash,
            "bolt11": existing.bolt11,
            "expires_at": existing.expires_at,
        }

    return await once(machine, "make_invoice", p.tx_id, params, effect)


async def _create_cash_out(
    machine: MachineRow,
    p: MakeInvoiceParams,
    fiat_minor: int,
    rate: Decimal,
    expiry: int,
    priced: Priced,
) -> AtmTransactionRow:
    try:
        payment = await create_invoice(
            wallet_id=machine.wallet_id,
            amount=p.amount_sats,
            memo=p.memo or f"{machine.name} cash-out",
            expiry=expiry,
            extra=bitspire_extra(Direction.cash_out, machine, p.tx_id, p),
        )
    except InvoiceError as exc:
        raise RpcError(
            "internal", f"could not create the invoice: {exc.message}"
        ) from exc
    return await services.new_atm_transaction(
        machine,
        direction=Direction.cash_out,
        tx_id=p.tx_id,
        payment_hash=payment.payment_hash,
        bolt11=payment.bolt11,
        principal_sats=p.principal_sats,
        fee_sats=p.fee_sats,
        fiat_minor=fiat_minor,
        exchange_rate=str(rate),
        expires_at=helpers.now() + expiry,
        fee_version=priced.fee_version,
        fee_mismatch_sats=priced.fee_mismatch_sats,
    )


async def report_dispense(machine: MachineRow, params: dict) -> dict:
    p = parse_params(ReportDispenseParams, params)
    tx = await own_transaction(machine, tx_id=p.tx_id)
    if tx.direction != Direction.cash_out:
        raise RpcError("bad_request", "report_dispense is for cash-out transactions")
    try:
        dispensed = fiat.to_minor(p.dispensed_fiat, tx.fiat_code)
    except ValueError as exc:
        raise RpcError("bad_request", f"dispensed_fiat: {exc}") from exc
    if dispensed > tx.fiat_amount_minor:
        raise RpcError(
            "inconsistent_amounts", "dispensed_fiat is more than the transaction's fiat"
        )
    bills = bills_by_denomination(p.bills, tx.fiat_code)

    async def effect() -> dict:
        current = await services.refresh_cash_out(
            await own_transaction(machine, tx_id=p.tx_id), machine
        )
        if current.status == TxStatus.paid:
            current = await services.land_cash_out(
                current, machine, dispensed_minor=dispensed
            )
        if current.status != TxStatus.dispensed or current.settlement_id is None:
            raise RpcError(
                "bad_request",
                f"the transaction is {current.status}: only a paid cash-out "
                "can be dispensed",
            )
        settlement = await crud.get_settlement(
            settlement_id=current.settlement_id, operator_id=machine.operator_id
        )
        assert settlement is not None  # landed above, never deleted
        await services.record_dispensed_bills(
            machine, tx_id=p.tx_id, dispensed_minor=dispensed, bills=bills
        )
        return {"settlement_id": settlement.id, "status": settlement.status}

    return await once(machine, "report_dispense", p.tx_id, params, effect)


async def cancel_transaction(machine: MachineRow, params: dict) -> dict:
    p = parse_params(CancelTransactionParams, params)
    await own_transaction(machine, tx_id=p.tx_id)

    async def effect() -> dict:
        tx = await own_transaction(machine, tx_id=p.tx_id)
        link = await withdraw_link_of(tx)
        if link is not None:  # an unclaimed LNURL-withdraw is voided
            tx = await cancel_withdraw(link, tx, reason=p.reason)
            return {"status": tx.status}
        if tx.direction != Direction.cash_out:
            # A cash-in is decided by its payment, not by the machine: nothing
            # to cancel (a failed one is already in the operator's queue).
            return {"status": tx.status}
        tx = await services.cancel_cash_out(tx, machine, reason=p.reason)
        return {"status": tx.status}

    return await once(machine, "cancel_transaction", p.tx_id, params, effect)
