"""LP auto-forward: an LP's distributions sent on to their Lightning address.

After a distribution leg lands in the LP's wallet, a forward of its sats minus the
LP's fee reserve (kept for routing fees) is scheduled, once per leg. Sending follows
the payout engine's discipline: claim, fix the invoice on the forward before paying,
and on a takeover ask LNbits whether it was paid. A forward that fails leaves the
sats in the LP's wallet and is retried with backoff; nothing is lost.
"""

from __future__ import annotations

import time

from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment
from lnbits.core.services import pay_invoice
from lnbits.core.services.lnurl import get_pr_from_lnurl
from lnbits.db import Connection
from lnbits.exceptions import PaymentError
from loguru import logger

from . import crud
from .helpers import EXT_TAG
from .models import check_ln_address

STALE_SENDING_S = 120
MAX_AUTO_ATTEMPTS = 8


def forward_amount(sats: int, reserve_bps: int) -> int:
    """What is forwarded of ``sats``: the reserve, rounded up, stays behind."""
    reserve = -(-sats * reserve_bps // 10_000)
    return sats - reserve


async def schedule(leg: dict, *, conn: Connection | None = None) -> None:
    """Called once a distribution leg is paid into the LP's wallet (in the
    transaction that records it paid, so that no crash loses the forward)."""
    if leg["kind"] != "lp_distribution" or not leg["lp_enrolment_id"]:
        return
    lp = await crud.get_lp_of_enrolment(enrolment_id=leg["lp_enrolment_id"], conn=conn)
    if lp is None or not lp["ln_address"]:
        return
    sats = forward_amount(leg["sats"], lp["forward_fee_reserve_bps"])
    if sats < 1:
        return
    now = int(time.time())
    await crud.insert_forward_once(
        row={
            "id": leg["id"],  # one forward per leg: the leg's id is the key
            "leg_id": leg["id"],
            "lp_id": lp["id"],
            "wallet_id": leg["wallet_id"],
            "ln_address": lp["ln_address"],
            "sats": sats,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
        },
        conn=conn,
    )


async def send_due() -> int:
    now = int(time.time())
    due = await crud.forwards_due(now=now, stale_before=now - STALE_SENDING_S)
    for forward in due:
        await send(forward)
    return len(due)


class ClaimLost(Exception):
    """Another sender took the forward over: this one sends and records nothing."""


async def send(forward: dict) -> None:
    now = int(time.time())
    claimed = await crud.claim_forward(
        forward_id=forward["id"], now=now, stale_before=now - STALE_SENDING_S
    )
    if claimed is None:
        return
    forward = claimed
    try:
        if not await _already_sent(forward):
            bolt11 = await _invoice(forward)
            await pay_invoice(
                wallet_id=forward["wallet_id"],
                payment_request=bolt11,
                extra={"tag": EXT_TAG, "forward_id": forward["id"]},
                tag=EXT_TAG,
                description=f"auto-forward to {forward['ln_address']}",
            )
        fields = {"status": "sent", "last_error": None}
    except ClaimLost:
        logger.warning(f"satmachineadmin: forward {forward['id']} was taken over")
        return
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        logger.warning(f"satmachineadmin: forward {forward['id']} failed: {message}")
        retry_at = None
        if forward["attempts"] < MAX_AUTO_ATTEMPTS:
            retry_at = int(time.time()) + min(3600, 60 * 2 ** (forward["attempts"] - 1))
        fields = {
            "status": "failed",
            "last_error": message[:500],
            "next_attempt_at": retry_at,
        }
    await crud.update_forward(
        forward_id=forward["id"],
        claimed_at=forward["updated_at"],
        fields={**fields, "updated_at": int(time.time())},
    )


async def _already_sent(forward: dict) -> bool:
    if not forward["payment_hash"]:
        return False
    payment = await get_standalone_payment(
        forward["payment_hash"], incoming=False, wallet_id=forward["wallet_id"]
    )
    if payment is not None and payment.success:
        return True
    if payment is not None and payment.pending:
        raise PaymentError("the previous attempt is still in flight", status="pending")
    return False


async def _invoice(forward: dict) -> str:
    """An invoice from the LP's Lightning address, recorded before it is paid
    (a previous attempt's invoice was not paid: _already_sent said so)."""
    check_ln_address(forward["ln_address"])  # also one saved before the rule
    bolt11 = await get_pr_from_lnurl(forward["ln_address"], forward["sats"] * 1000)
    invoice = decode_bolt11(bolt11)
    if invoice.amount_msat != forward["sats"] * 1000:
        raise PaymentError(
            f"the Lightning address returned an invoice for "
            f"{invoice.amount_msat} msat instead of {forward['sats'] * 1000}",
            status="failed",
        )
    if not await crud.update_forward(
        forward_id=forward["id"],
        claimed_at=forward["updated_at"],
        fields={"payment_hash": invoice.payment_hash},
    ):
        raise ClaimLost
    return bolt11
