"""The operator's fresh LNURL-withdraw link for a cash-in that paid the customer
nothing: its link expired unclaimed with the cash in the machine, or LNbits
failed its payment (``pay_invoice`` cash-ins that failed too). The customer is
shown the new link as a QR code; the old ``k1`` is dead."""

from __future__ import annotations

from lnbits.core.crud import get_standalone_payment
from sqlalchemy.exc import IntegrityError

from .. import audit, crud, helpers
from ..errors import Conflict, NotFound
from ..models import (
    AtmTransactionRow,
    Direction,
    LinkStatus,
    MachineRow,
    WithdrawLink,
    WithdrawLinkRow,
)
from . import atm_transactions as txs
from .withdraw import link_of, new_k1, offer_link

# The transaction states a fresh link may be issued from.
REISSUABLE = (txs.TxStatus.abandoned, txs.TxStatus.failed)


async def reissue_link(
    operator_id: str, transaction_id: str, *, expiry_s: int
) -> WithdrawLink:
    """The operator's fresh link for a cash-in that paid the customer nothing (an
    expired link, or a failed payment), to show the customer as a QR code."""
    tx = await crud.get_atm_transaction_for_operator(
        transaction_id=transaction_id, operator_id=operator_id
    )
    if tx is None:
        raise NotFound(f"no transaction '{transaction_id}' in your account")
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
