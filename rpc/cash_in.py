"""The cash-in method ``pay_invoice`` (contract §5), and what ``lookup_invoice``
says of a cash-in."""

from __future__ import annotations

from decimal import Decimal

from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment, get_wallet
from lnbits.core.models import Payment
from lnbits.exceptions import PaymentError
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import crud, helpers, services
from ..models import AtmTransactionRow, Direction, MachineRow, SuperConfig
from ..services import TxStatus, sending
from .errors import RpcError
from .fees import Priced, price
from .idempotency import once
from .params import PayInvoiceParams, parse_params
from .shared import (
    bitspire_extra,
    customer_sats_of,
    fiat_and_rate,
    non_negative_sats,
    own_transaction,
)


async def pay_invoice_method(machine: MachineRow, params: dict) -> dict:
    p = parse_params(PayInvoiceParams, params)
    non_negative_sats(principal_sats=p.principal_sats, fee_sats=p.fee_sats)
    try:
        invoice = decode_bolt11(p.bolt11)
    except Exception as exc:
        raise RpcError("bad_request", "bolt11 is not a valid invoice") from exc
    if (
        p.fee_sats > p.principal_sats
        or invoice.amount_msat is None
        or invoice.amount_msat != customer_sats_of(Direction.cash_in, p) * 1000
    ):
        raise RpcError(
            "inconsistent_amounts",
            "the invoice amount must equal principal_sats - fee_sats, and "
            "fee_sats may not exceed principal_sats",
        )
    machine, fiat_minor, rate, config = await fiat_and_rate(
        machine,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fiat_code=p.fiat_code,
        rate=p.exchange_rate,
    )

    async def effect() -> dict:
        return await _pay_cash_in(
            machine, p, invoice.payment_hash, fiat_minor, rate, config
        )

    return await once(
        machine,
        "pay_invoice",
        p.tx_id,
        params,
        effect,
        is_final=lambda result: result["status"] != "pending",
    )


async def _pay_cash_in(
    machine: MachineRow,
    p: PayInvoiceParams,
    payment_hash: str,
    fiat_minor: int,
    rate: Decimal,
    config: SuperConfig,
) -> dict:
    tx = await crud.get_atm_transaction(machine_id=machine.id, tx_id=p.tx_id)
    if tx is not None and (
        tx.direction != Direction.cash_in
        or tx.payment_hash != payment_hash
        or (tx.principal_sats, tx.fee_sats, tx.fiat_amount_minor)
        != (p.principal_sats, p.fee_sats, fiat_minor)
    ):
        # The claim of a payment still in flight is released (so that the retry
        # can look again): the transaction row is what pins its parameters.
        raise RpcError("conflict", f"tx_id {p.tx_id} was used with other parameters")
    # Priced once, when the transaction is new: a retry keeps its price.
    priced = None if tx is not None else await _price(machine, p, config)
    # Resuming after a crash: a payment already made is looked up, never repeated.
    payment = await get_standalone_payment(
        payment_hash, incoming=False, wallet_id=machine.wallet_id
    )
    if payment is None:
        wallet = await get_wallet(machine.wallet_id)
        owed_msat = customer_sats_of(Direction.cash_in, p) * 1000
        if wallet is None or wallet.balance_msat < owed_msat:
            raise RpcError(
                "insufficient_balance", "the machine's wallet cannot pay this invoice"
            )
        tx = await _start_cash_in(
            machine, p, tx, payment_hash, fiat_minor, rate, priced
        )
        payment = await _pay_customer(machine, p, tx)
        if payment is None:
            return {
                "payment_hash": payment_hash,
                "status": "failed",
                "fee_paid_sats": 0,
            }
    if tx is None:
        raise RpcError(
            "conflict", "that invoice was already paid by another transaction"
        )
    status = await _sync_cash_in(tx, machine, payment)
    fee_paid = abs(payment.fee) // 1000
    return {"payment_hash": payment_hash, "status": status, "fee_paid_sats": fee_paid}


async def _price(
    machine: MachineRow, p: PayInvoiceParams, config: SuperConfig | None = None
) -> Priced:
    return await price(
        machine,
        Direction.cash_in,
        principal_sats=p.principal_sats,
        fee_sats=p.fee_sats,
        fiat_amount=p.fiat_amount,
        fee_version=p.fee_version,
        config=config,
    )


async def _pay_customer(
    machine: MachineRow, p: PayInvoiceParams, tx: AtmTransactionRow
) -> Payment | None:
    """The payment to the customer; None if it failed (the cash-in too)."""
    try:
        return await sending.pay_in_one_turn(
            wallet_id=machine.wallet_id,
            payment_request=p.bolt11,
            extra=bitspire_extra(Direction.cash_in, machine, p.tx_id, p),
        )
    except PaymentError as exc:
        logger.warning(f"cash-in {p.tx_id} payment failed: {exc.message}")
        if exc.status != "failed":
            raise RpcError("internal", f"payment state unknown: {exc.message}") from exc
        await services.cash_in_failed(tx, note=exc.message[:500])
        return None


async def _start_cash_in(
    machine: MachineRow,
    p: PayInvoiceParams,
    tx: AtmTransactionRow | None,
    payment_hash: str,
    fiat_minor: int,
    rate: Decimal,
    priced: Priced | None,
) -> AtmTransactionRow:
    """The transaction row, in state ``paying``, written before the payment."""
    if tx is not None:
        await services.retry_cash_in(tx)
        return tx
    if priced is None:  # priced above whenever the transaction is new
        priced = await _price(machine, p)
    try:
        return await services.new_atm_transaction(
            machine,
            direction=Direction.cash_in,
            tx_id=p.tx_id,
            payment_hash=payment_hash,
            bolt11=p.bolt11,
            principal_sats=p.principal_sats,
            fee_sats=p.fee_sats,
            fiat_minor=fiat_minor,
            exchange_rate=str(rate),
            fee_version=priced.fee_version,
            fee_mismatch_sats=priced.fee_mismatch_sats,
        )
    except IntegrityError as exc:
        raise RpcError(
            "conflict", "that invoice belongs to another transaction"
        ) from exc


async def _sync_cash_in(
    tx: AtmTransactionRow, machine: MachineRow, payment: Payment
) -> str:
    """Moves a cash-in on with its payment: paid (and landed), failed (to the
    abandoned queue), or still pending."""
    if payment.success:
        await services.cash_in_paid(tx, machine)
        return "paid"
    if payment.failed:
        await services.cash_in_failed(tx, updated_at=helpers.now())
        return "failed"
    return "pending"


async def lookup_cash_in(tx: AtmTransactionRow, machine: MachineRow) -> dict:
    """A cash-in's payment to the customer: ``paid``, ``pending`` or ``failed``."""
    status = {TxStatus.paid: "paid", TxStatus.paying: "pending"}.get(
        TxStatus(tx.status), "failed"
    )
    if status == "pending":
        payment = await get_standalone_payment(
            tx.payment_hash or "", incoming=False, wallet_id=machine.wallet_id
        )
        if payment is not None:
            status = await _sync_cash_in(tx, machine, payment)
            tx = await own_transaction(machine, tx_id=tx.tx_id)
    return {"status": status, "amount_sats": tx.amount_sats, "paid_at": tx.paid_at}
