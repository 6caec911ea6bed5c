"""Paying an LP's accrued legs on the LP's schedule: one payment per enrolment
and paying wallet per period, exactly once.

A distribution leg of an LP paid on a schedule lands 'accrued' (recorded as any
other, with its sale's fiat and rate). When the schedule says so (``make_due``),
one payout is opened and takes every accrued leg it covers, in one transaction;
a partial unique index keeps a second payout of the same enrolment and wallet
from opening while one is open, in this process or another. The payout is then
sent by ``sending``'s engine like a leg: claimed by a guarded UPDATE, its
invoice recorded before it is paid, a stale claim taken over only after asking
LNbits whether the recorded invoice was paid. Paying it marks its legs paid in
the transaction that records it paid.

Sats that do not reach the LP stay in the machine's wallet, the LP's: a payout
that failed is retried with backoff, and past the engine's automatic attempts
once an hour (it has no retry button; its legs are in no settlement's worklist).
"""

from __future__ import annotations

from typing import Any

from lnbits.core.crud import get_standalone_payment, get_wallet
from lnbits.exceptions import InvoiceError

from .. import audit, crud, helpers, memos
from ..database import transaction
from ..helpers import EXT_TAG, new_id
from ..models import AccruedGroupRow, LpPayoutRow
from ..payout_schedules import Schedule
from . import forwarding, push, sending
from .accounts import OPERATOR_NAMES
from .sending import (
    BACKOFF_MAX_S,
    Outcome,
    Payables,
    SendFailure,
)

__all__ = [
    "LP_PAYOUTS",
    "STALE_PAYING_S",
    "make_due",
    "pay_due",
    "send",
    "send_due",
]

STALE_PAYING_S = 60
# The worker's passes (one after every settlement) look only at the enrolments
# whose accrued sum grew since the previous pass; every FULL_SCAN_EVERY_S, and
# whenever the clock went back, at all of them: a daily cut-off passing, a payout
# that could not open while another was open, a schedule changed to ``each``.
FULL_SCAN_EVERY_S = 60
# Legs are stamped when their settlement's transaction starts, and seen once it
# commits: the bounded pass looks this far behind the previous one.
COMMIT_MARGIN_S = 5


class _Scans:
    full_at: int | None = None
    last_at: int | None = None


async def pay_due(now: int | None = None) -> int:
    """Opens the payouts the schedules make due at ``now``, then sends every
    payout due; returns how many were sent."""
    moment = helpers.now() if now is None else now
    await make_due(moment, accrued_since=_since(moment))
    sent = 0
    for _ in range(20):  # bounded: what is left waits for the next pass
        batch = await send_due(moment)
        sent += batch
        if not batch:
            break
    return sent


def _since(now: int) -> int | None:
    """Where this pass's due search starts: None for all accrued legs."""
    full, last = _Scans.full_at, _Scans.last_at
    _Scans.last_at = now
    if full is None or last is None or now < last or now - full >= FULL_SCAN_EVERY_S:
        _Scans.full_at = now
        return None
    return last - COMMIT_MARGIN_S


async def make_due(now: int, *, accrued_since: int | None = None) -> list[LpPayoutRow]:
    """Opens a payout for each enrolment and paying wallet whose schedule makes
    its accrued legs due at ``now``; with ``accrued_since``, looks only at the
    enrolments with a leg accrued since then."""
    opened = []
    for group in await crud.accrued_groups(accrued_since=accrued_since):
        schedule = Schedule(
            group.payout_schedule, group.payout_hour, group.payout_threshold_sats
        )
        before = schedule.due_before(
            accrued_sats=group.accrued_sats, oldest_at=group.oldest_at, now=now
        )
        if before is None:
            continue
        payout = await _open(group, before, now)
        if payout is not None:
            opened.append(payout)
    return opened


async def _open(group: AccruedGroupRow, before: int, now: int) -> LpPayoutRow | None:
    row: dict[str, Any] = {
        "id": new_id(),
        "operator_id": group.operator_id,
        "enrolment_id": group.enrolment_id,
        "lp_id": group.lp_id,
        "source_wallet_id": group.source_wallet_id,
        "wallet_id": group.wallet_id,
        "schedule": group.payout_schedule,
        "sats": 0,
        "legs": 0,
        "status": "pending",
        "created_at": now,
        "updated_at": now,
    }
    async with transaction() as conn:
        payout = await crud.open_lp_payout(row=row, before=before, conn=conn)
        if payout is not None:
            await audit.record(
                conn,
                actor="system:lp_payouts",
                operator_id=payout.operator_id,
                action="lp_payout.open",
                object_type="lp_payout",
                object_id=payout.id,
                detail={"sats": payout.sats, "legs": payout.legs},
            )
    return payout


async def send_due(now: int) -> int:
    ids = await crud.lp_payouts_due(now=now, stale_before=now - STALE_PAYING_S)
    for payout_id in ids:
        await send(payout_id)
    return len(ids)


async def send(payout_id: str) -> None:
    """One attempt at the payout, unless it is paid, another worker's or not
    due."""
    await sending.send(LP_PAYOUTS, payout_id)


class LpPayouts(Payables[LpPayoutRow]):
    noun = "LP payout"
    stale_after_s = STALE_PAYING_S

    async def claim(
        self, row_id: str, *, now: int, stale_before: int
    ) -> LpPayoutRow | None:
        async with transaction() as conn:
            payout = await crud.claim_lp_payout(
                payout_id=row_id, now=now, stale_before=stale_before, conn=conn
            )
            if payout is None:
                return None
            machines = await crud.lp_payout_machines(payout_id=payout.id, conn=conn)
        return await with_memo(payout, machines)

    async def invoice(self, row: LpPayoutRow) -> str:
        return await _invoice(row)

    async def save_invoice(
        self, row: LpPayoutRow, *, payment_hash: str, bolt11: str
    ) -> bool:
        return await crud.set_lp_payout_invoice(
            payout_id=row.id,
            claimed_at=row.claimed_at,
            payment_hash=payment_hash,
            payment_request=bolt11,
        )

    async def received(self, row: LpPayoutRow) -> bool:
        return await _received(row)

    def payment_extra(self, row: LpPayoutRow) -> dict[str, Any]:
        return {
            **(row.memo_facts or {}),
            "tag": EXT_TAG,
            "lp_payout_id": row.id,
            "legs": row.legs,
        }

    def description(self, row: LpPayoutRow) -> str:
        if row.memo:
            return row.memo
        facts = memos.PayoutFacts(None, (), row.legs, row.schedule)
        return memos.payout_memo(facts)

    async def finish(self, row: LpPayoutRow, outcome: Outcome) -> None:
        await _finish(row, outcome)


LP_PAYOUTS = LpPayouts()


async def with_memo(payout: LpPayoutRow, machines: list[str]) -> LpPayoutRow:
    """The claimed payout with what its payment will say: the operator, the
    machines, the number of sales and the schedule."""
    facts = memos.PayoutFacts(
        operator=await OPERATOR_NAMES.get(payout.operator_id),
        machines=tuple(machines),
        sales=payout.legs,
        schedule=payout.schedule,
    )
    return payout.copy(
        update={
            "memo": memos.payout_memo(facts),
            "memo_facts": memos.payout_extra(facts),
        }
    )


async def _finish(payout: LpPayoutRow, outcome: Outcome) -> None:
    """The payout's state, its legs', its audit row and its forward commit
    together."""
    now = helpers.now()
    status = "paid" if outcome.paid else "failed"
    retry_at = outcome.retry_at
    if not outcome.paid and retry_at is None:
        retry_at = now + BACKOFF_MAX_S  # the LP's sats: never given up on
    async with transaction() as conn:
        finished = await crud.finish_lp_payout(
            payout_id=payout.id,
            claimed_at=payout.claimed_at,
            status=status,
            now=now,
            error=outcome.error[:500] if outcome.error else None,
            next_attempt_at=retry_at,
            conn=conn,
        )
        if not finished:
            return  # taken over meanwhile: the new claim's outcome counts
        await audit.record(
            conn,
            actor="system:lp_payouts",
            operator_id=payout.operator_id,
            action=f"lp_payout.{status}",
            object_type="lp_payout",
            object_id=payout.id,
            detail={"sats": payout.sats, "attempt": payout.attempts},
        )
        if outcome.paid:
            await forwarding.schedule_payment(
                payout.id, payout.enrolment_id, payout.wallet_id, payout.sats, conn=conn
            )
    push.notify_lps(payout.operator_id, [payout.lp_id])


async def _invoice(payout: LpPayoutRow) -> str:
    """The internal invoice of the LP's wallet this payout pays: made once and
    recorded before it is paid; replaced only when LNbits gave up on it (it was
    never paid: the engine asked first)."""
    if payout.payment_request:
        await _check_target(payout.wallet_id)
        if await _still_payable(payout):
            return payout.payment_request
    try:
        return await sending.internal_invoice(LP_PAYOUTS, payout, payout.wallet_id)
    except InvoiceError:
        await _check_target(payout.wallet_id)
        raise


async def _check_target(wallet_id: str) -> None:
    target = await get_wallet(wallet_id)
    if target is None or target.deleted:
        raise SendFailure("the LP's wallet no longer exists")


async def _still_payable(payout: LpPayoutRow) -> bool:
    invoice = await get_standalone_payment(
        payout.payment_hash or "", incoming=True, wallet_id=payout.wallet_id
    )
    return invoice is not None and invoice.pending and not invoice.is_expired


async def _received(payout: LpPayoutRow) -> bool:
    """Whether the LP's wallet was credited for the recorded invoice (an
    interrupted internal payment is completed: ``sending.payee_credited``)."""
    return await sending.payee_credited(
        payout.payment_hash or "",
        wallet_id=payout.wallet_id,
        paid_for=f"LP payout {payout.id}",
    )
