"""Paying a settlement's legs: each exactly once, across crashes.

A leg is paid as an internal LNbits payment from its source wallet (the machine's)
to its target wallet, or to a Lightning address with an invoice fetched through
LNbits' LNURL client (replaced only after a failure). The sending itself (the
claim, the invoice recorded before it is paid, the takeover that asks LNbits
first, the backoff) is ``sending``'s; here is what a leg adds to it: its invoice,
the completion of an internal payment LNbits left half done, and, with its
outcome, the audit row and the LP's forward.

A leg that fails is in the operator's worklist at once; the automatic retries
stop after ``sending.MAX_AUTO_ATTEMPTS``.

What runs at once, and why no more: LNbits pays one payment of a wallet at a
time (a lock per wallet) and uses one connection to a database at a time (a lock
per database), so a settlement's legs, all paid from the machine's wallet,
overlap only in their claims, invoices and bookkeeping. Settlements of different
paying wallets are paid side by side (``CONCURRENT_WALLETS``), those of one
wallet one after another, oldest first; within a settlement the platform fee is
attempted first and then the other legs ``CONCURRENT_LEGS`` at a time. Both
bounds are fixed numbers of tasks, however many rows are due.

The worker pays as settlements come (``WalletLanes``): each paying wallet has a
lane that takes its wallet's due settlements and looks for more before it ends,
and a new settlement of a wallet without a lane gets one at once, not after the
settlements already being paid are done.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from lnbits.core.crud import get_standalone_payment, get_wallet
from lnbits.exceptions import InvoiceError
from loguru import logger

from .. import audit, crud, helpers, memos
from ..database import transaction
from ..helpers import EXT_TAG
from ..models import LegContext, LegRow
from ..waiting import wait_until_set
from . import atm_transactions, forwarding, lp_payouts, push, sending, withdraw
from .accounts import OPERATOR_NAMES
from .sending import ClaimLost, Outcome, Payables, backoff_s
from .sending import SendFailure as LegFailure

__all__ = [
    "CONCURRENT_LEGS",
    "CONCURRENT_WALLETS",
    "DONE",
    "EXT_TAG",
    "STALE_PAYING_S",
    "ClaimLost",
    "LegFailure",
    "abandon_overdue",
    "backoff_s",
    "each_bounded",
    "pay_leg",
    "payment_made_or_in_flight",
    "process_due",
    "process_settlement",
    "run_worker",
    "settlement_status",
    "start_lanes",
    "wake",
]

STALE_PAYING_S = 60
POLL_EVERY_S = 5.0
# Legs of one settlement in flight at once after its platform fee, and paying
# wallets served at once; more would only queue on LNbits' locks (module doc).
CONCURRENT_LEGS = 4
CONCURRENT_WALLETS = 4

T = TypeVar("T")

# 'accrued': an LP's leg left for the LP's scheduled payout (``lp_payouts``); the
# settlement has done its part.
DONE = ("paid", "retained", "void", "accrued")

_wakeup = asyncio.Event()


def wake() -> None:
    """New work: the worker looks now instead of at its next poll."""
    _wakeup.set()


def settlement_status(legs: Sequence[LegRow | Mapping[str, Any]]) -> str:
    # The API's legs (dicts) and the stored ones follow the same rule.
    statuses = {
        leg.status if isinstance(leg, LegRow) else leg["status"] for leg in legs
    }
    if statuses <= set(DONE):
        return "settled"
    if statuses & {"pending", "paying"}:
        return "processing"
    return "failed"  # nothing in flight, and not everything paid


async def process_settlement(settlement_id: str) -> str:
    """Pays every leg that is due and returns the settlement's status: the
    platform fee first (it is never paid after the operator's legs), then the
    others, ``CONCURRENT_LEGS`` at a time, each claimed and paid on its own."""
    due = [
        leg
        for leg in await crud.legs_of(settlement_id=settlement_id)
        if leg.status not in DONE
    ]
    for leg in due:
        if leg.kind == "platform_fee":
            await pay_leg(leg)
    others = [leg for leg in due if leg.kind != "platform_fee"]
    await each_bounded(others, CONCURRENT_LEGS, pay_leg)
    status = await crud.refresh_settlement_status(
        settlement_id=settlement_id, now=helpers.now()
    )
    if status is not None:
        return status
    # A balance settlement has no settlement row: its status is its leg's.
    return settlement_status(await crud.legs_of(settlement_id=settlement_id))


async def each_bounded(
    items: Iterable[T], limit: int, work: Callable[[T], Awaitable[Any]]
) -> None:
    """``work`` on every item, at most ``limit`` at once, in ``limit`` tasks that
    take the items in order (no task per item). Every item is worked on even when
    one fails; the first failure is raised afterwards."""
    queue = iter(items)

    async def drain() -> None:
        for item in queue:
            await work(item)

    results = await asyncio.gather(
        *(drain() for _ in range(max(1, limit))), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def pay_leg(leg: LegRow) -> None:
    """One attempt at the leg, unless it is paid, retained, in another worker's
    hands or not due."""
    await sending.send(LEGS, leg.id)


class Legs(Payables[LegRow]):
    noun = "leg"
    stale_after_s = STALE_PAYING_S

    async def claim(self, row_id: str, *, now: int, stale_before: int) -> LegRow | None:
        # The settlement's facts for the memo are read on the claim's connection:
        # one connection to the extension's database, not two.
        async with transaction() as conn:
            leg = await crud.claim_leg(
                leg_id=row_id, now=now, stale_before=stale_before, conn=conn
            )
            if leg is None:
                return None
            context = await crud.leg_context(settlement_id=leg.settlement_id, conn=conn)
        return await with_memo(leg, context)

    async def invoice(self, row: LegRow) -> str:
        return await _leg_invoice(row)

    async def save_invoice(
        self, row: LegRow, *, payment_hash: str, bolt11: str
    ) -> bool:
        return await crud.set_leg_invoice(
            leg_id=row.id,
            claimed_at=row.claimed_at,
            payment_hash=payment_hash,
            payment_request=bolt11,
        )

    async def received(self, row: LegRow) -> bool:
        return await _received(row)

    def payment_extra(self, row: LegRow) -> dict[str, Any]:
        return {
            **(row.memo_facts or {}),
            "tag": EXT_TAG,
            "settlement_id": row.settlement_id,
            "leg_id": row.id,
            "leg_kind": row.kind,
        }

    def description(self, row: LegRow) -> str:
        return row.memo or f"{memos.BRAND} · {row.label}"

    async def finish(self, row: LegRow, outcome: Outcome) -> None:
        await _finish(row, outcome)


LEGS = Legs()


async def with_memo(leg: LegRow, context: LegContext | None) -> LegRow:
    """The claimed leg with what its payment will say: the operator, the machine,
    the direction, and the fiat and rate of the settlement (``context``) it pays
    for."""
    if context is None:
        return leg
    facts = memos.PaymentFacts(
        kind=leg.kind,
        label=leg.label,
        sats=leg.sats,
        operator=await OPERATOR_NAMES.get(leg.operator_id),
        machine=context.machine,
        direction=context.direction,
        share_minor=leg.fiat_minor,
        total_minor=context.total_minor,
        fiat_code=context.fiat_code,
        exchange_rate=context.exchange_rate,
    )
    return leg.copy(
        update={"memo": memos.memo(facts), "memo_facts": memos.payment_extra(facts)}
    )


async def _finish(leg: LegRow, outcome: Outcome) -> None:
    """The leg's new state, its audit row and its forward commit together."""
    status = "paid" if outcome.paid else "failed"
    error = outcome.error
    async with transaction() as conn:
        finished = await crud.finish_leg(
            leg_id=leg.id,
            claimed_at=leg.claimed_at,
            status=status,
            now=helpers.now(),
            error=error[:500] if error else None,
            next_attempt_at=outcome.retry_at,
            conn=conn,
        )
        if not finished:
            return  # taken over meanwhile: the new claim's outcome counts
        await audit.record(
            conn,
            actor="system:payouts",
            operator_id=leg.operator_id,
            action=f"leg.{status}",
            object_type="payout_leg",
            object_id=leg.id,
            detail={
                "settlement_id": leg.settlement_id,
                "sats": leg.sats,
                "attempt": leg.attempts,
                "error": error,
            },
        )
        # lp_ln_address was read with the claim: most LPs forward nothing.
        if outcome.paid and leg.lp_ln_address:
            await forwarding.schedule(leg, conn=conn)
    push.notify_settlement(leg.operator_id, filter(None, [leg.lp_enrolment_id]))


async def _received(leg: LegRow) -> bool:
    """Whether the target wallet was credited for the leg's recorded invoice
    (an interrupted internal payment is completed: ``sending.payee_credited``)."""
    if not leg.wallet_id:
        return True  # a Lightning address: the payer's side is all there is
    return await sending.payee_credited(
        leg.payment_hash or "", wallet_id=leg.wallet_id, paid_for=f"leg {leg.id}"
    )


async def payment_made_or_in_flight(leg: LegRow | Mapping[str, Any]) -> bool:
    """Whether LNbits shows the leg's recorded invoice paid, or being paid, from
    its source wallet: such a leg must never be voided."""
    row = leg if isinstance(leg, LegRow) else LegRow(**leg)
    payment = await sending.previous_payment(row)
    return payment is not None and (payment.success or payment.pending)


async def _leg_invoice(leg: LegRow) -> str:
    """The invoice this leg pays: made once, recorded before any payment."""
    if not leg.wallet_id:
        if leg.payment_request and not await _invoice_failed(leg):
            return leg.payment_request
        return await _lightning_address_invoice(leg)
    if leg.payment_request:
        # A recorded invoice of a wallet deleted since must not be paid into it.
        await _check_target(leg.wallet_id)
        if await _still_payable(leg):
            return leg.payment_request
    try:
        # create_invoice reads the target wallet itself and refuses a deleted one,
        # so a new invoice needs no check of its own.
        return await sending.internal_invoice(LEGS, leg, leg.wallet_id)
    except InvoiceError:
        await _check_target(leg.wallet_id)  # say why, when it is that
        raise


async def _check_target(wallet_id: str) -> None:
    target = await get_wallet(wallet_id)
    if target is None or target.deleted:
        raise LegFailure("the target wallet no longer exists")


async def _still_payable(leg: LegRow) -> bool:
    """A recorded internal invoice that LNbits has given up on (it expired, or the
    funding source forgot it across a restart) is replaced by a new one; it was
    never paid (the payer's side was checked first), so nothing is paid twice."""
    invoice = await get_standalone_payment(
        leg.payment_hash or "", incoming=True, wallet_id=leg.wallet_id
    )
    return invoice is not None and invoice.pending and not invoice.is_expired


async def _invoice_failed(leg: LegRow) -> bool:
    """Whether the leg's recorded invoice was tried and failed (a Lightning
    address's invoice is then replaced; an internal one is simply paid again)."""
    payment = await sending.previous_payment(leg)
    return payment is not None and payment.failed


async def _lightning_address_invoice(leg: LegRow) -> str:
    """An invoice from the rule's Lightning address, for exactly the leg's sats."""
    return await sending.address_invoice(LEGS, leg, leg.ln_address, leg.sats)


async def _due_by_wallet() -> dict[str, list[str]]:
    """The settlements payable now, oldest first, by the wallet that pays them."""
    now = helpers.now()
    due = await crud.settlements_to_process(now=now, stale_before=now - STALE_PAYING_S)
    by_wallet: dict[str, list[str]] = {}
    for settlement_id, wallet_id in due.items():
        by_wallet.setdefault(wallet_id, []).append(settlement_id)
    return by_wallet


class WalletLanes:
    """Settlements paid as they come: a task per paying wallet (a lane), at most
    ``CONCURRENT_WALLETS``. A lane pays its wallet's due settlements one after
    another and looks again before it ends (``LANE_ROUNDS`` times at most: what
    is left waits for the next start), unless another wallet waits for a lane;
    a lane ending calls ``on_free`` (the worker's wake it, to give the free lane
    to the wallet with the oldest sales)."""

    def __init__(self, on_free: Callable[[], None] = lambda: None) -> None:
        self._on_free = on_free
        self._lanes: dict[str, asyncio.Task[None]] = {}
        # Wallets with settlements due that the last start found no free lane for.
        self.waiting: set[str] = set()

    async def start_due(self) -> int:
        """Starts a lane for each wallet with settlements due and none running;
        how many settlements were due."""
        by_wallet = await _due_by_wallet()
        self.waiting = set()
        for wallet_id, settlement_ids in by_wallet.items():
            if wallet_id in self._lanes:
                continue
            if len(self._lanes) >= CONCURRENT_WALLETS:
                self.waiting.add(wallet_id)
                continue
            lane = asyncio.create_task(
                self._lane(wallet_id, settlement_ids),
                name=f"{EXT_TAG} payouts of wallet {wallet_id}",
            )
            self._lanes[wallet_id] = lane
            # A callback, not a ``finally``: a lane cancelled before it first ran
            # never enters its body, and must still leave.
            lane.add_done_callback(functools.partial(self._ended, wallet_id))
        return sum(len(ids) for ids in by_wallet.values())

    async def idle(self) -> None:
        """Waits until no lane is running."""
        while self._lanes:
            await asyncio.wait(list(self._lanes.values()))

    async def stop(self) -> None:
        """Cancels the lanes (a leg cut short is a claim left behind: taken over
        once stale, as after a crash) and waits for them to end."""
        for lane in list(self._lanes.values()):
            lane.cancel()
        await self.idle()

    async def _lane(self, wallet_id: str, settlement_ids: list[str]) -> None:
        try:
            for _ in range(LANE_ROUNDS):
                for settlement_id in settlement_ids:
                    await process_settlement(settlement_id)
                if self.waiting:
                    break  # another wallet waits for a lane: its turn first
                settlement_ids = (await _due_by_wallet()).get(wallet_id, [])
                if not settlement_ids:
                    break
        except Exception:
            logger.exception(f"satmachineadmin: paying wallet {wallet_id}'s legs")

    def _ended(self, wallet_id: str, lane: asyncio.Task[None]) -> None:
        if self._lanes.get(wallet_id) is lane:
            del self._lanes[wallet_id]
        self._on_free()


LANE_ROUNDS = 100
_WORKER_LANES = WalletLanes(on_free=wake)


async def start_lanes() -> int:
    """The worker's step: lanes for the wallets with settlements due."""
    return await _WORKER_LANES.start_due()


async def process_due() -> int:
    """Everything payable now, paid before it returns (in lanes of its own, as
    a second worker's would be); how many settlements were due."""
    lanes = WalletLanes()
    due = await lanes.start_due()
    while lanes.waiting:  # more wallets than lanes: the rest as lanes free up
        await lanes.idle()
        await lanes.start_due()
    await lanes.idle()
    return due


async def run_worker() -> None:
    """The payout loop: wakes on new settlements, polls for retries and takeovers."""
    try:
        while True:
            _wakeup.clear()
            try:
                await abandon_overdue()
                await start_lanes()
                await forwarding.send_due()
                await lp_payouts.pay_due()
            except Exception:
                logger.exception("satmachineadmin: payout pass failed")
            await wait_until_set(_wakeup, POLL_EVERY_S)
    finally:
        await _WORKER_LANES.stop()


async def abandon_overdue() -> None:
    """Moves paid cash-outs whose dispense report is overdue, and cash-ins whose
    withdraw link expired unclaimed, to the operator's abandoned queue (the rules
    are the transaction state machine's); resolves withdraw claims left behind."""
    await atm_transactions.abandon_overdue()
    await withdraw.sweep_links()
