"""Sending sats exactly once, across crashes and processes: the one engine behind
a settlement's payout legs (``payouts``) and an LP's forwards (``forwarding``).

Exactly-once rests on three things, in this order:

1. a claim: a guarded UPDATE in the database that one worker wins, in this
   process or another one on the same database;
2. the invoice is *recorded on the row before it is paid*, under that claim, so
   the payment's identity (its hash) is fixed before any sat moves, and a worker
   whose claim was taken over meanwhile pays no invoice of its own (``ClaimLost``);
3. a claim left behind by a worker that died is taken over only once it is stale,
   and the new worker first asks LNbits whether the recorded invoice was already
   paid from the source wallet: if so it records the payment instead of making it
   again, and if it is still in flight it leaves it alone. It never pays again to
   find out.

A failed attempt is recorded with its error and retried automatically with one
backoff, up to MAX_AUTO_ATTEMPTS. What differs between legs and forwards is a
``Payables`` queue: how a row is claimed, which invoice it pays, and how what came
of an attempt is written.

LNbits' part of a payment is most of its cost, and every turn on LNbits' database
waits for the one before it (one connection at a time per database). A row's
internal invoice and its payment each take one turn (``internal_invoice``,
``pay_in_one_turn``) where LNbits' own calls take three and two;
``bench/README.md``, P8. The cash-ins pay their customers the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment, update_payment
from lnbits.core.db import db as lnbits_db
from lnbits.core.models import Payment, PaymentState
from lnbits.core.services import create_invoice, pay_invoice
from lnbits.core.services.lnurl import get_pr_from_lnurl
from lnbits.exceptions import InvoiceError, PaymentError
from loguru import logger

from .. import helpers
from ..helpers import EXT_TAG
from ..models import check_ln_address

# Eight, not five: a forward has no retry button (a failed leg has one, on the
# operator's worklist), and what makes a Lightning address fail (its host or a
# route down) can last an hour; eight attempts, 30 s doubling, span about one.
# For a leg the extra attempts change nothing visible: it is on the worklist from
# its first failure. The tests allow any limit above one: they see a failure's
# first retry scheduled, and retries the operator asks for.
MAX_AUTO_ATTEMPTS = 8
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600


class ClaimLost(Exception):
    """Another worker took the row over: this one pays and records nothing."""


class SendFailure(ValueError):
    """What is to be sent cannot be paid as it stands (the message says why): a
    target wallet gone, a Lightning address refused or unreachable, an invoice
    for the wrong amount."""


def backoff_s(attempts: int) -> int:
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


class Payable(Protocol):
    """What the engine reads of a claimed row."""

    @property
    def id(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def payment_hash(self) -> str | None: ...

    @property
    def source_wallet_id(self) -> str: ...

    @property
    def sats(self) -> int: ...


P = TypeVar("P", bound=Payable)


@dataclass(frozen=True)
class Outcome:
    """What came of an attempt: paid (no error), or failed, with the time of the
    automatic retry (None once the attempts are used up)."""

    error: str | None = None
    retry_at: int | None = None

    @property
    def paid(self) -> bool:
        return self.error is None


class Payables(ABC, Generic[P]):
    """One queue of things to send: its rows, their invoices, their outcomes."""

    noun: str  # what the log calls one row
    stale_after_s: int  # a claim older than this belonged to a worker that died

    @abstractmethod
    async def claim(self, row_id: str, *, now: int, stale_before: int) -> P | None:
        """The row as claimed now; None when it is done, another worker's, or not
        due."""

    @abstractmethod
    async def invoice(self, row: P) -> str:
        """The invoice the row pays, recorded (``record_invoice``) before it is
        returned; a previous attempt's invoice was not paid (checked first)."""

    @abstractmethod
    async def save_invoice(self, row: P, *, payment_hash: str, bolt11: str) -> bool:
        """Writes the invoice on the row under its claim; False: claim lost."""

    @abstractmethod
    async def received(self, row: P) -> bool:
        """Whether the payee got what LNbits shows paid from the source wallet."""

    @abstractmethod
    def payment_extra(self, row: P) -> dict[str, Any]:
        """What the payment carries in LNbits to say what it was for."""

    @abstractmethod
    def description(self, row: P) -> str: ...

    @abstractmethod
    async def finish(self, row: P, outcome: Outcome) -> None:
        """Writes the outcome under the row's claim (a claim taken over meanwhile
        writes nothing)."""


async def send(queue: Payables[P], row_id: str) -> None:
    """One attempt at one row: claim it, pay it (or find it paid), record what
    came of it."""
    now = helpers.now()
    row = await queue.claim(row_id, now=now, stale_before=now - queue.stale_after_s)
    if row is None:
        return
    try:
        outcome = await _attempt(queue, row)
    except ClaimLost:
        logger.warning(
            f"satmachineadmin: {queue.noun} {row.id} was taken over meanwhile"
        )
        return
    except (SendFailure, PaymentError, InvoiceError) as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        outcome = failure(row, message)
    except Exception as exc:  # an unknown failure is still a failed attempt
        logger.exception(f"satmachineadmin: paying {queue.noun} {row.id}")
        outcome = failure(row, f"unexpected error: {exc}")
    if outcome is None:
        return  # still in flight: left claimed until it settles or goes stale
    await queue.finish(row, outcome)
    if not outcome.paid:
        logger.warning(
            f"satmachineadmin: {queue.noun} {row.id} failed: {outcome.error}"
        )


async def _attempt(queue: Payables[P], row: P) -> Outcome | None:
    previous = await previous_payment(row)
    if previous is not None and previous.pending:
        return None
    if previous is not None and previous.success:
        if not await queue.received(row):
            raise SendFailure(
                f"LNbits shows this {queue.noun}'s payment sent but not the invoice "
                "it paid: check the target wallet before retrying"
            )
        return Outcome()
    await pay_in_one_turn(
        wallet_id=row.source_wallet_id,
        payment_request=await queue.invoice(row),
        extra=queue.payment_extra(row),
        description=queue.description(row),
    )
    return Outcome()


async def pay_in_one_turn(
    *, wallet_id: str, payment_request: str, extra: dict, description: str = ""
) -> Payment:
    """LNbits' ``pay_invoice`` on one connection to its database: it opens two
    of its own otherwise (its checks, then the payment), and holds them across
    the same waits (a fiat rate, an external payment's route), so one turn holds
    nothing LNbits' own would not."""
    async with lnbits_db.connect() as conn:
        return await pay_invoice(
            wallet_id=wallet_id,
            payment_request=payment_request,
            extra=extra,
            tag=EXT_TAG,
            description=description,
            conn=conn,
        )


async def internal_invoice(queue: Payables[P], row: P, wallet_id: str) -> str:
    """A new internal invoice of ``wallet_id`` for the row's sats, recorded
    before it is paid (as ``address_invoice``'s). Made on one connection to
    LNbits' database (``create_invoice`` opens three otherwise). Internal only:
    LNbits makes such an invoice itself, without its funding source, so the turn
    waits for no node; only a wallet with a fiat currency may look up a rate,
    cached, as every payment from it does."""
    async with lnbits_db.connect() as conn:
        invoice = await create_invoice(
            wallet_id=wallet_id,
            amount=row.sats,
            memo=queue.description(row),
            extra=queue.payment_extra(row),
            internal=True,
            conn=conn,
        )
    return await record_invoice(queue, row, invoice.payment_hash, invoice.bolt11)


def failure(row: Payable, error: str) -> Outcome:
    """A failed attempt, retried after the backoff unless it was the last one."""
    retry_at = None
    if row.attempts < MAX_AUTO_ATTEMPTS:
        retry_at = helpers.now() + backoff_s(row.attempts)
    return Outcome(error=error, retry_at=retry_at)


async def previous_payment(row: Payable) -> Payment | None:
    """The payment of the row's recorded invoice, if one was ever made."""
    if not row.payment_hash:
        return None
    return await get_standalone_payment(
        row.payment_hash, incoming=False, wallet_id=row.source_wallet_id
    )


async def record_invoice(
    queue: Payables[P], row: P, payment_hash: str, bolt11: str
) -> str:
    """Fixes the invoice on the row before it is paid, under this worker's claim:
    a worker whose claim was taken over meanwhile must pay no invoice of its own."""
    if not await queue.save_invoice(row, payment_hash=payment_hash, bolt11=bolt11):
        raise ClaimLost
    return bolt11


async def address_invoice(
    queue: Payables[P], row: P, address: str | None, sats: int
) -> str:
    """An invoice from a Lightning address, through LNbits' LNURL client, checked
    for the exact amount and recorded before it is paid."""
    checked = address or ""  # a row without one is refused as a malformed one
    try:
        check_ln_address(checked)  # also one saved before the rule
        bolt11 = await get_pr_from_lnurl(checked, sats * 1000)
        invoice = decode_bolt11(bolt11)
    except Exception as exc:
        raise SendFailure(f"{address}: {exc}") from exc
    if invoice.amount_msat != sats * 1000:
        raise SendFailure(
            f"{address} returned an invoice for {invoice.amount_msat} msat "
            f"instead of {sats * 1000}"
        )
    return await record_invoice(queue, row, invoice.payment_hash, bolt11)


async def payee_credited(
    payment_hash: str, *, wallet_id: str | None, paid_for: str
) -> bool:
    """Whether a wallet of this LNbits holds the invoice ``payment_hash`` as paid
    (only ``wallet_id``'s when given); False when no wallet here issued it.

    LNbits commits an internal payment in two steps (the payer's side, then the
    payee's invoice); a crash in between leaves the payer debited and the payee
    not credited. Called once the payer's side is known to have succeeded, this
    finishes that step as LNbits would have: the sats already left the payer, so
    crediting the payee invents nothing."""
    invoice = await get_standalone_payment(
        payment_hash, incoming=True, wallet_id=wallet_id
    )
    if invoice is None:
        return False
    if not invoice.success:
        logger.warning(
            f"satmachineadmin: completing LNbits' interrupted internal payment "
            f"{payment_hash} of {paid_for}"
        )
        invoice.status = PaymentState.SUCCESS
        await update_payment(invoice)
    return True
