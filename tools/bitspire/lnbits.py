"""The customer's side through an LNbits wallet, for the command line and the
demo: paying the machine's invoice, or making the invoice a cash-in pays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def lnbits_payer(
    lnbits_url: str, api_key: str, timeout: float = 30.0
) -> Callable[[str], Awaitable[None]]:
    """``pay(bolt11)`` through LNbits: POST /api/v1/payments {"out": true, ...}."""
    import httpx

    async def pay(bolt11: str) -> None:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.post(
                f"{lnbits_url.rstrip('/')}/api/v1/payments",
                json={"out": True, "bolt11": bolt11},
                headers={"X-Api-Key": api_key},
            )
        if response.status_code >= 300:
            raise RuntimeError(
                f"LNbits payment failed: HTTP {response.status_code} {response.text}"
            )

    return pay


def lnbits_invoicer(
    lnbits_url: str, api_key: str, timeout: float = 30.0
) -> Callable[[int], Awaitable[str]]:
    """``invoice_for(sats)`` through LNbits: POST /api/v1/payments {"out": false}."""
    import httpx

    async def invoice_for(sats: int) -> str:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.post(
                f"{lnbits_url.rstrip('/')}/api/v1/payments",
                json={"out": False, "amount": sats, "memo": "bitSpire cash-in"},
                headers={"X-Api-Key": api_key},
            )
        if response.status_code >= 300:
            raise RuntimeError(
                f"LNbits invoice failed: HTTP {response.status_code} {response.text}"
            )
        body = response.json()
        bolt11 = body.get("bolt11") or body.get("payment_request")
        if not isinstance(bolt11, str):
            raise RuntimeError(f"LNbits returned no bolt11: {body}")
        return bolt11

    return invoice_for


def lnurl_wallet(
    invoice_for: Callable[[int], Awaitable[str]],
    timeout: float = 30.0,
    transport: Any = None,
) -> Callable[[str], Awaitable[dict]]:
    """``withdraw(lnurl)``: a customer's LNURL wallet scanning the machine's QR
    code (LUD-03): it decodes the bech32 LNURL, fetches the withdrawRequest,
    makes an invoice for its ``maxWithdrawable`` with ``invoice_for`` and calls
    the callback. Returns what the service answered (``{"status": "OK"}`` or
    ``{"status": "ERROR", "reason": ...}``) with the sats and the URL it used.
    ``transport``: an httpx transport (a test's app in process), else the network."""
    import httpx
    from lnurl import url_decode

    async def withdraw(link: str) -> dict:
        url = url_decode(link)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
            offer = (await http.get(url)).json()
            if offer.get("tag") != "withdrawRequest":
                return {**offer, "url": url}
            msat = offer["maxWithdrawable"]
            if msat != offer["minWithdrawable"] or msat % 1000:
                raise RuntimeError(f"not a fixed amount of whole sats: {offer}")
            bolt11 = await invoice_for(msat // 1000)
            answer = await http.get(
                offer["callback"], params={"k1": offer["k1"], "pr": bolt11}
            )
        return {**answer.json(), "sats": msat // 1000, "url": url}

    return withdraw
