"""The customer's side through an LNbits wallet, for the command line and the
demo: paying the machine's invoice, or making the invoice a cash-in pays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


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
