"""Cash-in by LNURL-withdraw (contract §9.3): the link a machine shows, the
callback that pays it exactly once, and what becomes of a link nobody claimed.

Exactly once rests on the same three things as ``sending``:

1. a claim: the guarded UPDATE ``pending and not expired → claimed`` that one
   callback wins, in this process or another one on the same database;
2. the claimed invoice is recorded on the link *by that same UPDATE*, before any
   sat moves (and an invoice's payment hash is unique across links);
3. a claim left behind (a crash, or a payment LNbits still has in flight) is
   resolved by asking LNbits whether the recorded payment hash was paid from the
   machine's wallet: paid lands it, failed sends it to the operator, in flight
   leaves it alone, and no payment at all (the claimant died before paying)
   reopens the link for the customer's wallet to claim again. Nothing here pays
   to find out.

The ATM transaction (``atm_transactions``) is the customer's transaction: it is
``offered`` while the link is out, ``paying`` once claimed, and moves on as a
``pay_invoice`` cash-in does; a link that expired unclaimed puts it in the
operator's abandoned queue (the customer's cash is in the machine).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import lnurl
from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment, get_wallet
from lnbits.core.models import Payment
from lnbits.exceptions import PaymentError
from lnbits.settings import settings
from loguru import logger
from sqlalchemy.exc import IntegrityError

from .. import audit, crud, fiat, helpers
from ..helpers import EXT_TAG
from ..models import (
    AtmTransactionRow,
    Direction,
    LinkStatus,
    MachineRow,
    MachineStatus,
    WithdrawLink,
    WithdrawLinkRow,
)
from . import atm_transactions as txs
from . import sending

# A claim this old whose payment LNbits does not know belonged to a callback
# that died before paying: the link is reopened (see the module docstring).
STALE_CLAIM_S = 60
EXPIRED_NOTE = "the withdraw link expired unclaimed: the customer was not paid"
# The settlement source of a cash-in paid through a link (the dashboard's own).
LNURL_SOURCE = "lnurl"


class Refusal(Exception):
    """The callback's ``{"status": "ERROR", "reason": ...}``: nothing was paid."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- the link's URLs -----------------------------------------------------------------


def _base_url() -> str:
    # The link is created over Nostr, with no HTTP request to take a host from:
    # the instance's public address is LNbits' own setting (LNBITS_BASEURL).
    return settings.lnbits_baseurl.rstrip("/") + f"/{EXT_TAG}/lnurl"


def request_url(k1: str) -> str:
    return f"{_base_url()}/w/{k1}"


def callback_url() -> str:
    return f"{_base_url()}/cb"


def link_of(link: WithdrawLinkRow) -> WithdrawLink:
    url = request_url(link.k1)
    return WithdrawLink(
        lnurl=str(lnurl.encode(url).bech32),
        url=url,
        amount_sats=link.amount_sats,
        expires_at=link.expires_at,
    )


def new_k1() -> str:
    return secrets.token_hex(32)


# --- creating a link -----------------------------------------------------------------


async def offer_link(
    tx: AtmTransactionRow, *, expiry_s: int, fee_version: int | None
) -> WithdrawLinkRow:
    """The link of a new cash-in transaction (``offered``)."""
    now = helpers.now()
    row = WithdrawLinkRow(
        id=helpers.new_id(),
        operator_id=tx.operator_id,
        machine_id=tx.machine_id,
        tx_id=tx.tx_id,
        k1=new_k1(),
        amount_sats=tx.amount_sats,
        fee_sats=tx.fee_sats,
        fee_version=fee_version,
        expires_at=now + expiry_s,
        status=LinkStatus.pending,
        created_at=now,
        updated_at=now,
    )
    await crud.insert_withdraw_link(row=row)
    return row


async def withdraw_request(k1: str) -> dict:
    """LUD-03's first answer: what the customer's wallet may withdraw."""
    link = await _open_link(k1)
    machine = await _machine_in_service(link)
    return {
        "tag": "withdrawRequest",
        "callback": callback_url(),
        "k1": link.k1,
        "minWithdrawable": link.amount_sats * 1000,
        "maxWithdrawable": link.amount_sats * 1000,
        "defaultDescription": f"{machine.name} cash-in",
    }


async def _open_link(k1: str) -> WithdrawLinkRow:
    """The link, if it can still be claimed; else the reason it cannot."""
    link = await crud.get_withdraw_link(k1=k1)
    if link is None:
        raise Refusal("unknown withdraw link")
    link = await refresh_link(link)
    if link.status != LinkStatus.pending:
        raise Refusal(_CLOSED[link.status])
    return link


async def _machine_in_service(link: WithdrawLinkRow) -> MachineRow:
    machine = await crud.get_machine(machine_id=link.machine_id)
    if machine is None or machine.status != MachineStatus.active.value:
        raise Refusal("this machine is out of service")
    return machine


_CLOSED = {
    LinkStatus.claimed: "this withdraw link was already used",
    LinkStatus.paid: "this withdraw link was already used",
    LinkStatus.failed: "this withdraw link's payment failed: ask the operator",
    LinkStatus.expired: "this withdraw link has expired",
    LinkStatus.cancelled: "this withdraw link was cancelled",
}


# --- the callback --------------------------------------------------------------------


@dataclass(frozen=True)
class _Invoice:
    bolt11: str
    payment_hash: str


async def claim_and_pay(k1: str, bolt11: str) -> None:
    """Pays the invoice of the one callback that wins the link's claim; raises
    ``Refusal`` (nothing paid) for any other."""
    link = await _open_link(k1)
    machine = await _machine_in_service(link)
    invoice = _checked_invoice(bolt11, link.amount_sats)
    await _refuse_unpayable(invoice, machine)
    wallet = await get_wallet(machine.wallet_id)
    if wallet is None or wallet.balance_msat < link.amount_sats * 1000:
        raise Refusal("the machine cannot pay this now: its balance is too low")
    claimed = await _claim(link, invoice)
    tx = await _start_paying(claimed, machine)
    await _pay(claimed, machine, tx)


def _checked_invoice(bolt11: str, amount_sats: int) -> _Invoice:
    try:
        decoded = decode_bolt11(bolt11)
    except Exception as exc:
        raise Refusal("pr is not a valid Lightning invoice") from exc
    if decoded.amount_msat != amount_sats * 1000:
        raise Refusal(f"the invoice must be for exactly {amount_sats} sats")
    return _Invoice(bolt11=bolt11, payment_hash=decoded.payment_hash)


async def _refuse_unpayable(invoice: _Invoice, machine: MachineRow) -> None:
    """An invoice that is paid already, or that this LNbits issued to a machine
    wallet (the machine's own, or an ATM's cash-out invoice), is refused: paying
    it would move the machine's sats in a loop and land a cash-in for nothing."""
    incoming = await get_standalone_payment(invoice.payment_hash, incoming=True)
    if incoming is not None and (
        incoming.wallet_id == machine.wallet_id
        or await crud.get_machine_by_wallet(wallet_id=incoming.wallet_id)
    ):
        raise Refusal("an invoice of this server's own ATMs cannot be paid")
    if incoming is not None and incoming.success:
        raise Refusal("this invoice is already paid")
    outgoing = await get_standalone_payment(invoice.payment_hash, incoming=None)
    if outgoing is not None and outgoing.amount < 0 and not outgoing.failed:
        raise Refusal("this invoice is already paid")
    if await crud.get_atm_transaction_by_hash(payment_hash=invoice.payment_hash):
        raise Refusal("this invoice belongs to another transaction")


async def _claim(link: WithdrawLinkRow, invoice: _Invoice) -> WithdrawLinkRow:
    try:
        claimed = await crud.claim_withdraw_link(
            k1=link.k1,
            bolt11=invoice.bolt11,
            payment_hash=invoice.payment_hash,
            now=helpers.now(),
        )
    except IntegrityError as exc:
        raise Refusal("this invoice is claimed by another withdraw link") from exc
    if claimed is None:  # another callback won, or it expired meanwhile
        await _open_link(link.k1)
        raise Refusal(_CLOSED[LinkStatus.claimed])
    return claimed


async def _transaction(link: WithdrawLinkRow) -> AtmTransactionRow:
    tx = await crud.get_atm_transaction(machine_id=link.machine_id, tx_id=link.tx_id)
    if tx is None:  # written before the link, in the same request
        raise RuntimeError(f"withdraw link {link.id} has no transaction")
    return tx


async def _start_paying(
    link: WithdrawLinkRow, machine: MachineRow
) -> AtmTransactionRow:
    """The transaction moves to ``paying`` with the claimed invoice; a transaction
    the operator moved meanwhile releases the claim."""
    tx = await _transaction(link)
    try:
        await txs.transition(
            tx,
            txs.TxEvent.link_claimed,
            payment_hash=link.payment_hash,
            bolt11=link.bolt11,
            updated_at=helpers.now(),
        )
    except IntegrityError as exc:
        await _release(link, tx)
        raise Refusal("this invoice belongs to another transaction") from exc
    tx = await _transaction(link)
    if tx.status != txs.TxStatus.paying or tx.payment_hash != link.payment_hash:
        await _release(link, tx)
        raise Refusal("this withdraw link is no longer valid")
    return tx


async def _pay(
    link: WithdrawLinkRow, machine: MachineRow, tx: AtmTransactionRow
) -> None:
    try:
        payment = await sending.pay_in_one_turn(
            wallet_id=machine.wallet_id,
            payment_request=link.bolt11 or "",
            extra=_payment_extra(machine, tx),
            description=f"{machine.name} cash-in",
        )
    except PaymentError as exc:
        logger.warning(f"satmachineadmin: withdraw {tx.tx_id} payment: {exc.message}")
        if exc.status == "pending":
            return  # in flight: the sweep lands it when LNbits settles it
        await _settle(link, machine, tx, error=exc.message)
        if exc.status == "failed":
            raise Refusal(f"the payment failed: {exc.message}") from exc
        return
    await _settle(link, machine, tx, payment=payment)


def _payment_extra(machine: MachineRow, tx: AtmTransactionRow) -> dict:
    return {
        "tag": EXT_TAG,
        "source": "bitspire",
        "type": Direction.cash_in.value,
        "machine_id": machine.id,
        "tx_id": tx.tx_id,
        "principal_sats": tx.principal_sats,
        "fee_sats": tx.fee_sats,
        "fiat_amount": fiat.to_decimal_string(tx.fiat_amount_minor, tx.fiat_code),
        "fiat_code": tx.fiat_code,
        "exchange_rate": tx.exchange_rate,
        "withdraw": True,
    }


# --- what became of a claim ----------------------------------------------------------


async def _settle(
    link: WithdrawLinkRow,
    machine: MachineRow,
    tx: AtmTransactionRow,
    *,
    payment: Payment | None = None,
    error: str | None = None,
) -> None:
    """Moves a claimed link on with what LNbits knows of its payment: paid,
    failed (to the operator), still in flight (left claimed), or never made
    (the claim is released, and the link is open again)."""
    if payment is None:
        payment = await get_standalone_payment(
            link.payment_hash or "", incoming=False, wallet_id=machine.wallet_id
        )
    if payment is None or payment.amount > 0:
        await _release(link, tx)
    elif payment.success:
        # The customer's wallet may be one of this LNbits (LNbits' own internal
        # payment, which a crash can leave half done): it is credited too.
        await sending.payee_credited(
            payment.payment_hash, wallet_id=None, paid_for=f"withdraw link {link.id}"
        )
        await txs.cash_in_paid(tx, machine, source=LNURL_SOURCE)
        await crud.move_withdraw_link(
            link_id=link.id,
            from_=[LinkStatus.claimed],
            fields={"status": LinkStatus.paid, "paid_at": helpers.now()},
            claimed_at=link.claimed_at,
        )
    elif payment.failed:
        await txs.cash_in_failed(tx, note=(error or "payment failed")[:500])
        await crud.move_withdraw_link(
            link_id=link.id,
            from_=[LinkStatus.claimed],
            fields={
                "status": LinkStatus.failed,
                "last_error": (error or "payment failed")[:500],
                "updated_at": helpers.now(),
            },
            claimed_at=link.claimed_at,
        )


async def _release(link: WithdrawLinkRow, tx: AtmTransactionRow) -> None:
    """Nothing was paid: the transaction is ``offered`` again, then the link is
    open again (in this order, so that a crash in between leaves a claimed link
    that the sweep releases)."""
    await txs.transition(
        tx,
        txs.TxEvent.link_released,
        payment_hash=None,
        bolt11=None,
        updated_at=helpers.now(),
    )
    await crud.move_withdraw_link(
        link_id=link.id,
        from_=[LinkStatus.claimed],
        fields={
            "status": LinkStatus.pending,
            "bolt11": None,
            "payment_hash": None,
            "claimed_at": None,
            "updated_at": helpers.now(),
        },
        claimed_at=link.claimed_at,
    )


async def refresh_link(link: WithdrawLinkRow) -> WithdrawLinkRow:
    """Brings a link up to date: unclaimed past its expiry it expires (and its
    transaction goes to the abandoned queue); a claim is checked against LNbits
    (a stale claim with no payment at all is released)."""
    now = helpers.now()
    if link.status == LinkStatus.pending and link.expires_at <= now:
        await _expire(link)
    elif link.status == LinkStatus.claimed:
        machine = await crud.get_machine(machine_id=link.machine_id)
        if machine is not None:
            payment = await get_standalone_payment(
                link.payment_hash or "", incoming=False, wallet_id=machine.wallet_id
            )
            stale = (link.claimed_at or 0) < now - STALE_CLAIM_S
            if payment is not None or stale:
                tx = await _transaction(link)
                await _settle(link, machine, tx, payment=payment)
    fresh = await crud.get_withdraw_link(k1=link.k1)
    if fresh is None:  # the operator issued a fresh link meanwhile
        fresh = await crud.get_withdraw_link(
            machine_id=link.machine_id, tx_id=link.tx_id
        )
    assert fresh is not None
    if fresh.status == LinkStatus.pending and fresh.expires_at <= now:
        return await refresh_link(fresh)
    return fresh


async def _expire(link: WithdrawLinkRow) -> None:
    moved = await crud.move_withdraw_link(
        link_id=link.id,
        from_=[LinkStatus.pending],
        fields={"status": LinkStatus.expired, "updated_at": helpers.now()},
    )
    tx = await _transaction(link)
    target = await txs.transition(
        tx, txs.TxEvent.link_expired, note=EXPIRED_NOTE, updated_at=helpers.now()
    )
    if moved and target is not None:
        logger.warning(
            f"satmachineadmin: withdraw link of {tx.tx_id} on machine "
            f"{tx.machine_id} expired unclaimed"
        )
        await audit.record(
            None,
            actor="system:withdraw-expiry",
            operator_id=tx.operator_id,
            action="atm_transaction.abandoned",
            object_type="atm_transaction",
            object_id=tx.id,
            detail={"tx_id": tx.tx_id, "expires_at": link.expires_at},
        )


async def sweep_links() -> int:
    """Expires unclaimed links and resolves stale claims; how many it looked at."""
    now = helpers.now()
    due = await crud.list_withdraw_links_due(now=now, stale_before=now - STALE_CLAIM_S)
    for link in due:
        try:
            await refresh_link(link)
        except Exception:
            logger.exception(f"satmachineadmin: withdraw link {link.id}")
    return len(due)


async def cancel_link(
    link: WithdrawLinkRow, tx: AtmTransactionRow, *, reason: str
) -> None:
    """The machine voids its link: only an unclaimed, unexpired one."""
    link = await refresh_link(link)
    if not await crud.move_withdraw_link(
        link_id=link.id,
        from_=[LinkStatus.pending],
        fields={"status": LinkStatus.cancelled, "updated_at": helpers.now()},
    ):
        return
    await txs.transition(
        tx, txs.TxEvent.cancelled, note=reason or None, updated_at=helpers.now()
    )
    await audit.record(
        None,
        actor=f"machine:{tx.machine_id}",
        operator_id=tx.operator_id,
        action="atm_transaction.cancelled",
        object_type="atm_transaction",
        object_id=tx.id,
        detail={"tx_id": tx.tx_id, "reason": reason},
    )
