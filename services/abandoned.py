"""The operator's abandoned queue: ATM transactions that paid nothing out by
themselves and wait for the operator's decision.

A cash-out whose machine reported no dispense in time (or that was paid after the
machine cancelled) is settled as dispensed, in full or in part, or voided. A
cash-in by LNURL-withdraw whose link expired unclaimed with the customer's cash in
the machine, or whose payment failed, is voided (the operator refunds the cash) or
given a fresh link: the customer is shown it as a QR code, the old ``k1`` is dead.
"""

from __future__ import annotations

from lnbits.core.crud import get_standalone_payment
from sqlalchemy.exc import IntegrityError

from .. import audit, crud, fiat, helpers
from ..errors import Conflict, InvalidInput, NotFound
from ..models import (
    AbandonedResolve,
    AtmTransaction,
    AtmTransactionRow,
    Direction,
    LinkStatus,
    MachineRow,
    Resolution,
    WithdrawLink,
    WithdrawLinkRow,
)
from . import atm_transactions as txs
from .accounts import to_model
from .withdraw import link_of, new_k1, offer_link

# What only the operator can move on: every state the operator's void leaves.
AWAITING_DECISION: tuple[txs.TxStatus, ...] = tuple(
    dict.fromkeys(
        source
        for (_, event), moves in txs.TRANSITIONS.items()
        if event == txs.TxEvent.resolved_void
        for source in moves
    )
)

# The transaction states a fresh link may be issued from.
REISSUABLE = (txs.TxStatus.abandoned, txs.TxStatus.failed)


def atm_transaction(row: AtmTransactionRow) -> AtmTransaction:
    return to_model(
        AtmTransaction,
        row.dict(),
        fiat_amount=fiat.to_decimal_string(row.fiat_amount_minor, row.fiat_code),
    )


async def list_abandoned(operator_id: str) -> list[AtmTransaction]:
    return [
        atm_transaction(row)
        for row in await crud.list_atm_transactions_in(
            operator_id=operator_id, statuses=[s.value for s in AWAITING_DECISION]
        )
    ]


async def _operators_transaction(
    operator_id: str, transaction_id: str
) -> AtmTransactionRow:
    tx = await crud.get_atm_transaction_for_operator(
        transaction_id=transaction_id, operator_id=operator_id
    )
    if tx is None:
        raise NotFound(f"no transaction '{transaction_id}' in your account")
    return tx


# --- settled as dispensed, or void ---------------------------------------------------


async def resolve_abandoned(
    operator_id: str, transaction_id: str, data: AbandonedResolve
) -> AtmTransactionRow:
    """The operator's decision on a transaction that paid nothing out by itself."""
    tx = await _operators_transaction(operator_id, transaction_id)
    if tx.status not in AWAITING_DECISION:
        raise Conflict(f"the transaction is {tx.status}, not waiting for a decision")
    if data.resolution == Resolution.void:
        await txs.transition(
            tx,
            txs.TxEvent.resolved_void,
            from_=[tx.status],
            note=data.note,
            updated_at=helpers.now(),
        )
    else:
        await _resolve_as_dispensed(tx, data)
    await audit.record(
        None,
        actor=operator_id,
        operator_id=operator_id,
        action="abandoned.resolve",
        object_type="atm_transaction",
        object_id=tx.id,
        detail={
            "resolution": data.resolution.value,
            "dispensed_fiat": data.dispensed_fiat,
            "note": data.note,
        },
    )
    return await txs.reloaded(tx)


async def _resolve_as_dispensed(tx: AtmTransactionRow, data: AbandonedResolve) -> None:
    if tx.direction != Direction.cash_out or tx.paid_at is None:
        raise Conflict(
            "only a paid cash-out can be settled as dispensed; an unpaid cash-in "
            "can be voided (refund the customer's cash) or given a fresh link"
        )
    dispensed = tx.fiat_amount_minor
    if data.resolution == Resolution.partial:
        assert data.dispensed_fiat is not None
        try:
            dispensed = fiat.to_minor(data.dispensed_fiat, tx.fiat_code)
        except ValueError as exc:
            raise InvalidInput(f"dispensed_fiat: {exc}") from exc
        if dispensed > tx.fiat_amount_minor:
            raise InvalidInput(
                "dispensed_fiat is more than the transaction's fiat amount"
            )
    machine = await crud.get_machine(machine_id=tx.machine_id)
    assert machine is not None
    landed = await txs.land_cash_out(
        tx,
        machine,
        dispensed_minor=dispensed,
        event=txs.TxEvent.resolved_dispensed,
    )
    if landed.status != txs.TxStatus.dispensed:
        raise Conflict("the transaction changed meanwhile; reload and retry")
    if data.note:
        await crud.update_atm_transaction(
            transaction_id=tx.id, fields={"note": data.note}
        )


# --- a fresh LNURL-withdraw link -----------------------------------------------------


async def reissue_link(
    operator_id: str, transaction_id: str, *, expiry_s: int
) -> WithdrawLink:
    """The operator's fresh link for a cash-in that paid the customer nothing (an
    expired link, or a failed payment; ``pay_invoice`` cash-ins that failed too),
    to show the customer as a QR code."""
    tx = await _operators_transaction(operator_id, transaction_id)
    if tx.direction != Direction.cash_in or tx.status not in REISSUABLE:
        raise Conflict(
            f"the transaction is a {tx.status} {tx.direction.value}: only an "
            "unpaid cash-in waiting for a decision can get a fresh link"
        )
    machine = await crud.get_machine(machine_id=tx.machine_id)
    if machine is None:
        raise NotFound("the transaction's machine is gone")
    await _check_nothing_paid(tx, machine)
    link = await _reopened(tx, expiry_s=expiry_s)
    moved = await txs.transition(
        tx,
        txs.TxEvent.link_reissued,
        from_=[tx.status],
        payment_hash=None,
        bolt11=None,
        expires_at=link.expires_at,
        updated_at=helpers.now(),
    )
    if moved is None:
        raise Conflict("the transaction changed meanwhile; reload and retry")
    await audit.record(
        None,
        actor=operator_id,
        operator_id=operator_id,
        action="abandoned.reissue_link",
        object_type="atm_transaction",
        object_id=tx.id,
        detail={"tx_id": tx.tx_id, "expires_at": link.expires_at},
    )
    return link_of(link)


async def _check_nothing_paid(tx: AtmTransactionRow, machine: MachineRow) -> None:
    """A failed payment must be failed for LNbits too before another is made."""
    if not tx.payment_hash:
        return
    payment = await get_standalone_payment(
        tx.payment_hash, incoming=False, wallet_id=machine.wallet_id
    )
    if payment is not None and payment.amount < 0 and not payment.failed:
        raise Conflict(
            "LNbits shows this transaction's payment as sent or in flight: "
            "check the customer's wallet before issuing another link"
        )


async def _reopened(tx: AtmTransactionRow, *, expiry_s: int) -> WithdrawLinkRow:
    """The transaction's link with a new k1 and expiry (a cash-in that was paid
    by ``pay_invoice`` gets its first link)."""
    link = await crud.get_withdraw_link(machine_id=tx.machine_id, tx_id=tx.tx_id)
    if link is None:
        try:
            return await offer_link(tx, expiry_s=expiry_s, fee_version=tx.fee_version)
        except IntegrityError as exc:
            raise Conflict("the transaction changed meanwhile; reload") from exc
    now, k1 = helpers.now(), new_k1()
    fields = {
        "k1": k1,
        "status": LinkStatus.pending,
        "expires_at": now + expiry_s,
        "bolt11": None,
        "payment_hash": None,
        "claimed_at": None,
        "last_error": None,
        "updated_at": now,
    }
    if not await crud.move_withdraw_link(
        link_id=link.id,
        from_=[LinkStatus.expired, LinkStatus.failed],
        fields=fields,
    ):
        raise Conflict("the transaction's link changed meanwhile; reload and retry")
    fresh = await crud.get_withdraw_link(k1=k1)
    assert fresh is not None
    return fresh
