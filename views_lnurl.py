"""The public LNURL-withdraw endpoints (LUD-03) of cash-in by link (contract
§9.3). A customer's wallet has no LNbits account: these routes take no key, and
the link's random ``k1`` (32 bytes) is what admits a request. Every refusal is
LUD-03's ``{"status": "ERROR", "reason": ...}`` with HTTP 200, as wallets expect."""

from __future__ import annotations

import re

from fastapi import APIRouter, Query
from loguru import logger

from .services import withdraw

lnurl_router = APIRouter(prefix="/lnurl", tags=["LNURL-withdraw (public)"])

_K1 = re.compile(r"^[0-9a-f]{64}$")
MAX_INVOICE_CHARS = 4000


def _error(reason: str) -> dict:
    return {"status": "ERROR", "reason": reason}


@lnurl_router.get("/w/{k1}")
async def lnurl_withdraw_request(k1: str) -> dict:
    """The withdrawRequest: exactly the link's amount, once."""
    if not _K1.match(k1):
        return _error("unknown withdraw link")
    try:
        return await withdraw.withdraw_request(k1)
    except withdraw.Refusal as refusal:
        return _error(refusal.reason)


@lnurl_router.get("/cb")
async def lnurl_withdraw_callback(k1: str = Query(""), pr: str = Query("")) -> dict:
    """Pays ``pr`` from the machine's wallet if this call wins the link."""
    if not _K1.match(k1):
        return _error("unknown withdraw link")
    if not pr:
        return _error("pr (the invoice) is missing")
    if len(pr) > MAX_INVOICE_CHARS:
        return _error("pr is too long for a Lightning invoice")
    try:
        await withdraw.claim_and_pay(k1, pr.strip())
    except withdraw.Refusal as refusal:
        return _error(refusal.reason)
    except Exception:
        # The claim, if this call won it, stays until the sweep asks LNbits.
        logger.exception("satmachineadmin: withdraw callback")
        return _error("the payment could not be made now; try again shortly")
    return {"status": "OK"}
