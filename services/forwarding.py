"""LP auto-forward: an LP's distributions sent on to their Lightning address.

After a distribution leg lands in the LP's wallet, a forward of its sats minus the
LP's fee reserve (kept for routing fees) is scheduled, once per leg. It is sent by
the same engine as the legs (``sending``): claimed, its invoice fixed on it before
it is paid, and on a takeover LNbits is asked whether it was paid. A forward that
fails leaves the sats in the LP's wallet and is retried with backoff; nothing is
lost.
"""

from __future__ import annotations

from typing import Any

from lnbits.db import Connection

from .. import crud, helpers
from ..helpers import EXT_TAG
from ..models import ForwardRow, LegRow
from . import sending
from .sending import ClaimLost, Outcome, Payables

__all__ = [
    "STALE_SENDING_S",
    "ClaimLost",
    "forward_amount",
    "schedule",
    "schedule_payment",
    "send",
    "send_due",
]

# Longer than a leg's: a payment to another node takes longer than an internal
# one, and a sender still waiting for it keeps its claim.
STALE_SENDING_S = 120


def forward_amount(sats: int, reserve_bps: int) -> int:
    """What is forwarded of ``sats``: the reserve, rounded up, stays behind."""
    reserve = -(-sats * reserve_bps // 10_000)
    return sats - reserve


async def schedule(leg: LegRow, *, conn: Connection | None = None) -> None:
    """Called once a distribution leg is paid into the LP's wallet (in the
    transaction that records it paid, so that no crash loses the forward)."""
    if leg.kind != "lp_distribution" or not leg.lp_enrolment_id:
        return
    await schedule_payment(
        leg.id, leg.lp_enrolment_id, leg.wallet_id or "", leg.sats, conn=conn
    )


async def schedule_payment(
    key: str,
    enrolment_id: str,
    wallet_id: str,
    sats_paid: int,
    *,
    conn: Connection | None = None,
) -> None:
    """A forward of ``sats_paid`` that just landed in the LP's ``wallet_id``,
    once per ``key`` (a leg's id, or a scheduled payout's)."""
    lp = await crud.get_lp_of_enrolment(enrolment_id=enrolment_id, conn=conn)
    if lp is None or not lp.ln_address:
        return
    sats = forward_amount(sats_paid, lp.forward_fee_reserve_bps)
    if sats < 1:
        return
    now = helpers.now()
    await crud.insert_forward_once(
        row={
            "id": key,  # one forward per payment: its id is the key
            "leg_id": key,
            "lp_id": lp.id,
            "wallet_id": wallet_id,
            "ln_address": lp.ln_address,
            "sats": sats,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
        },
        conn=conn,
    )


async def send_due() -> int:
    now = helpers.now()
    due = await crud.forwards_due(now=now, stale_before=now - STALE_SENDING_S)
    for forward in due:
        await send(forward)
    return len(due)


async def send(forward: ForwardRow) -> None:
    """One attempt at the forward, unless it is sent, another worker's or not
    due."""
    await sending.send(FORWARDS, forward.id)


class Forwards(Payables[ForwardRow]):
    noun = "forward"
    stale_after_s = STALE_SENDING_S

    async def claim(
        self, row_id: str, *, now: int, stale_before: int
    ) -> ForwardRow | None:
        return await crud.claim_forward(
            forward_id=row_id, now=now, stale_before=stale_before
        )

    async def invoice(self, row: ForwardRow) -> str:
        return await _invoice(row)

    async def save_invoice(
        self, row: ForwardRow, *, payment_hash: str, bolt11: str
    ) -> bool:
        return await crud.update_forward(
            forward_id=row.id,
            claimed_at=row.updated_at,
            fields={"payment_hash": payment_hash},
        )

    async def received(self, row: ForwardRow) -> bool:
        return True  # a Lightning address: the payer's side is all there is

    def payment_extra(self, row: ForwardRow) -> dict[str, Any]:
        return {"tag": EXT_TAG, "forward_id": row.id}

    def description(self, row: ForwardRow) -> str:
        return f"auto-forward to {row.ln_address}"

    async def finish(self, row: ForwardRow, outcome: Outcome) -> None:
        fields: dict[str, Any] = {"status": "sent", "last_error": None}
        if not outcome.paid:
            fields = {
                "status": "failed",
                "last_error": (outcome.error or "")[:500],
                "next_attempt_at": outcome.retry_at,
            }
        await crud.update_forward(
            forward_id=row.id,
            claimed_at=row.updated_at,
            fields={**fields, "updated_at": helpers.now()},
        )


FORWARDS = Forwards()


async def _invoice(forward: ForwardRow) -> str:
    """A new invoice from the LP's Lightning address (a previous attempt's was not
    paid: the engine asked LNbits first)."""
    return await sending.address_invoice(
        FORWARDS, forward, forward.ln_address, forward.sats
    )
