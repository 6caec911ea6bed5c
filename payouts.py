"""Paying a settlement's legs: each exactly once, in order, across crashes.

A leg is paid as an internal LNbits payment from its source wallet (the machine's)
to its target wallet. Exactly-once rests on three things, in this order:

1. a claim: a guarded UPDATE (pending/failed → paying) that one worker wins, in
   this process or another one on the same database;
2. the leg's invoice is created and *recorded on the leg before it is paid*, so
   the payment's identity (its hash) is fixed before any sat moves;
3. a claim left in ``paying`` by a worker that died is taken over only after
   STALE_PAYING_S, and the new worker first asks LNbits whether that invoice was
   already paid from the source wallet; if so it records the payment instead of
   making it again (and LNbits refuses to pay an internal invoice twice anyway),
   and if it is still in flight it leaves it alone.

Legs pay LNbits wallets with internal invoices, or Lightning addresses with an
invoice fetched through LNbits' LNURL client (replaced only after a failure).

Failures are recorded on the leg with the error; the automatic retries back off
exponentially and stop after MAX_AUTO_ATTEMPTS, leaving the settlement in the
operator's worklist.
"""

from __future__ import annotations

import asyncio
import time

from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment, get_wallet, update_payment
from lnbits.core.models import Payment, PaymentState
from lnbits.core.services import create_invoice, pay_invoice
from lnbits.core.services.lnurl import get_pr_from_lnurl
from lnbits.exceptions import InvoiceError, PaymentError
from loguru import logger

from . import audit, crud, forwarding
from .database import transaction
from .helpers import EXT_TAG
from .models import check_ln_address
from .waiting import wait_until_set

STALE_PAYING_S = 60
MAX_AUTO_ATTEMPTS = 5
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600
POLL_EVERY_S = 5.0

DONE = ("paid", "retained", "void")

_wakeup = asyncio.Event()


def wake() -> None:
    """New work: the worker looks now instead of at its next poll."""
    _wakeup.set()


class LegFailure(Exception):
    """A leg that cannot be paid as it stands (the message says why)."""


class ClaimLost(Exception):
    """Another worker took the leg over: this one pays and records nothing."""


def backoff_s(attempts: int) -> int:
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


def settlement_status(legs: list[dict]) -> str:
    statuses = {leg["status"] for leg in legs}
    if statuses <= set(DONE):
        return "settled"
    if statuses & {"pending", "paying"}:
        return "processing"
    return "failed"  # nothing in flight, and not everything paid


async def process_settlement(settlement_id: str) -> str:
    """Pays every leg that is due, in order, and returns the settlement's status."""
    for leg in await crud.legs_of(settlement_id=settlement_id):
        if leg["status"] not in DONE:
            await pay_leg(leg)
    status = await crud.refresh_settlement_status(
        settlement_id=settlement_id, now=int(time.time())
    )
    if status is not None:
        return status
    # A balance settlement has no settlement row: its status is its leg's.
    return settlement_status(await crud.legs_of(settlement_id=settlement_id))


async def pay_leg(leg: dict) -> None:
    now = int(time.time())
    claimed = await crud.claim_leg(
        leg_id=leg["id"], now=now, stale_before=now - STALE_PAYING_S
    )
    if claimed is None:
        return  # paid, retained, in another worker's hands, or not due
    leg = claimed
    try:
        previous = await _previous_payment(leg)
        if previous is not None and previous.pending:
            return  # still in flight: left "paying" until it settles or goes stale
        if previous is not None and previous.success:
            if not await _received(leg):
                raise LegFailure(
                    "LNbits shows this leg's payment sent but not the invoice it "
                    "paid: check the target wallet before retrying"
                )
            status, error = "paid", None
        else:
            await pay_invoice(
                wallet_id=leg["source_wallet_id"],
                payment_request=await _leg_invoice(leg),
                extra=_extra(leg),
                tag=EXT_TAG,
                description=f"{leg['label']} (settlement {leg['settlement_id'][:8]})",
            )
            status, error = "paid", None
    except ClaimLost:
        logger.warning(f"satmachineadmin: leg {leg['id']} was taken over meanwhile")
        return
    except (LegFailure, PaymentError, InvoiceError) as exc:
        status, error = "failed", getattr(exc, "message", None) or str(exc)
    except Exception as exc:  # an unknown failure is still a failed attempt
        logger.exception(f"satmachineadmin: paying leg {leg['id']}")
        status, error = "failed", f"unexpected error: {exc}"
    retry_at = None
    if status == "failed" and leg["attempts"] < MAX_AUTO_ATTEMPTS:
        retry_at = int(time.time()) + backoff_s(leg["attempts"])
    # The leg's new state, its audit row and its forward commit together.
    async with transaction() as conn:
        finished = await crud.finish_leg(
            leg_id=leg["id"],
            claimed_at=leg["claimed_at"],
            status=status,
            now=int(time.time()),
            error=error[:500] if error else None,
            next_attempt_at=retry_at,
            conn=conn,
        )
        if finished:
            await audit.record(
                conn,
                actor="system:payouts",
                operator_id=leg["operator_id"],
                action=f"leg.{status}",
                object_type="payout_leg",
                object_id=leg["id"],
                detail={
                    "settlement_id": leg["settlement_id"],
                    "sats": leg["sats"],
                    "attempt": leg["attempts"],
                    "error": error,
                },
            )
        # lp_ln_address was read with the claim: most LPs forward nothing.
        if finished and status == "paid" and leg["lp_ln_address"]:
            await forwarding.schedule(leg, conn=conn)
    if status == "failed":
        logger.warning(f"satmachineadmin: leg {leg['id']} failed: {error}")


async def _received(leg: dict) -> bool:
    """Whether the target wallet was credited for the leg's recorded invoice.

    LNbits commits an internal payment in two steps (the payer's side, then the
    payee's invoice); a crash in between leaves the payer debited and the payee
    not credited. This finishes that step, exactly as LNbits would have: the sats
    already left the payer, so crediting the payee invents nothing.
    """
    if not leg["wallet_id"]:
        return True  # a Lightning address: the payer's side is all there is
    invoice = await get_standalone_payment(
        leg["payment_hash"], incoming=True, wallet_id=leg["wallet_id"]
    )
    if invoice is None:
        return False
    if not invoice.success:
        logger.warning(
            f"satmachineadmin: completing LNbits' interrupted internal payment "
            f"{leg['payment_hash']} of leg {leg['id']}"
        )
        invoice.status = PaymentState.SUCCESS
        await update_payment(invoice)
    return True


async def _previous_payment(leg: dict) -> Payment | None:
    """The payment of the leg's recorded invoice, if one was ever made."""
    if not leg["payment_hash"]:
        return None
    return await get_standalone_payment(
        leg["payment_hash"], incoming=False, wallet_id=leg["source_wallet_id"]
    )


async def payment_made_or_in_flight(leg: dict) -> bool:
    """Whether LNbits shows the leg's recorded invoice paid, or being paid, from
    its source wallet: such a leg must never be voided."""
    payment = await _previous_payment(leg)
    return payment is not None and (payment.success or payment.pending)


async def _leg_invoice(leg: dict) -> str:
    """The invoice this leg pays: made once, recorded before any payment."""
    if not leg["wallet_id"]:
        if leg["payment_request"] and not await _invoice_failed(leg):
            return leg["payment_request"]
        return await _lightning_address_invoice(leg)
    if leg["payment_request"]:
        # A recorded invoice of a wallet deleted since must not be paid into it.
        await _check_target(leg)
        if await _still_payable(leg):
            return leg["payment_request"]
    try:
        # create_invoice reads the target wallet itself and refuses a deleted one,
        # so a new invoice needs no check of its own.
        invoice = await create_invoice(
            wallet_id=leg["wallet_id"],
            amount=leg["sats"],
            memo=f"{leg['label']} (settlement {leg['settlement_id'][:8]})",
            extra=_extra(leg),
            internal=True,
        )
    except InvoiceError:
        await _check_target(leg)  # say why, when it is that
        raise
    return await _record_invoice(leg, invoice.payment_hash, invoice.bolt11)


async def _check_target(leg: dict) -> None:
    target = await get_wallet(leg["wallet_id"])
    if target is None or target.deleted:
        raise LegFailure("the target wallet no longer exists")


async def _still_payable(leg: dict) -> bool:
    """A recorded internal invoice that LNbits has given up on (it expired, or the
    funding source forgot it across a restart) is replaced by a new one; it was
    never paid (the payer's side was checked first), so nothing is paid twice."""
    invoice = await get_standalone_payment(
        leg["payment_hash"], incoming=True, wallet_id=leg["wallet_id"]
    )
    return invoice is not None and invoice.pending and not invoice.is_expired


async def _invoice_failed(leg: dict) -> bool:
    """Whether the leg's recorded invoice was tried and failed (a Lightning
    address's invoice is then replaced; an internal one is simply paid again)."""
    payment = await _previous_payment(leg)
    return payment is not None and payment.failed


async def _lightning_address_invoice(leg: dict) -> str:
    """An invoice from the rule's Lightning address, through LNbits' LNURL client,
    checked for the exact amount and recorded before it is paid."""
    try:
        check_ln_address(leg["ln_address"])  # also one saved before the rule
        bolt11 = await get_pr_from_lnurl(leg["ln_address"], leg["sats"] * 1000)
        invoice = decode_bolt11(bolt11)
    except Exception as exc:
        raise LegFailure(f"{leg['ln_address']}: {exc}") from exc
    if invoice.amount_msat != leg["sats"] * 1000:
        raise LegFailure(
            f"{leg['ln_address']} returned an invoice for {invoice.amount_msat} msat "
            f"instead of {leg['sats'] * 1000}"
        )
    return await _record_invoice(leg, invoice.payment_hash, bolt11)


async def _record_invoice(leg: dict, payment_hash: str, bolt11: str) -> str:
    """Fixes the invoice on the leg before it is paid, under this worker's claim: a
    worker whose claim was taken over meanwhile must pay no invoice of its own."""
    if not await crud.set_leg_invoice(
        leg_id=leg["id"],
        claimed_at=leg["claimed_at"],
        payment_hash=payment_hash,
        payment_request=bolt11,
    ):
        raise ClaimLost
    return bolt11


def _extra(leg: dict) -> dict:
    return {
        "tag": EXT_TAG,
        "settlement_id": leg["settlement_id"],
        "leg_id": leg["id"],
        "leg_kind": leg["kind"],
    }


async def process_due() -> int:
    """One pass over everything payable now; returns how many settlements."""
    now = int(time.time())
    ids = await crud.settlements_to_process(now=now, stale_before=now - STALE_PAYING_S)
    for settlement_id in ids:
        await process_settlement(settlement_id)
    return len(ids)


async def run_worker() -> None:
    """The payout loop: wakes on new settlements, polls for retries and takeovers."""
    while True:
        _wakeup.clear()
        try:
            await abandon_overdue()
            for _ in range(100):  # bounded: what is left waits for the next wake-up
                if not await process_due():
                    break
            await forwarding.send_due()
        except Exception:
            logger.exception("satmachineadmin: payout pass failed")
        await wait_until_set(_wakeup, POLL_EVERY_S)


async def abandon_overdue() -> None:
    """A paid cash-out whose machine reported no dispense in time pays nothing
    until the operator resolves it."""
    config = await crud.get_super_config()
    if config is None:
        return
    now = int(time.time())
    for tx in await crud.abandon_overdue_cash_outs(
        paid_before=now - config.dispense_timeout_s, now=now
    ):
        logger.warning(
            f"satmachineadmin: cash-out {tx['tx_id']} on machine {tx['machine_id']} "
            "abandoned: no dispense report"
        )
        await audit.record(
            None,
            actor="system:dispense-timeout",
            operator_id=tx["operator_id"],
            action="atm_transaction.abandoned",
            object_type="atm_transaction",
            object_id=tx["id"],
            detail={"tx_id": tx["tx_id"], "timeout_s": config.dispense_timeout_s},
        )
