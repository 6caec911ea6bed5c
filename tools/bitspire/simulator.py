"""``BitspireSimulator``: the machine's client plus the two customer flows, a
cash-out (the customer pays sats, the machine dispenses fiat) and a cash-in (the
machine pays the customer's invoice)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from .amounts import Amounts, compute_amounts, parse_decimal
from .client import RpcClient
from .protocol import RpcError, ms
from .seed_url import parse_seed_url

# The fee of a machine whose server publishes no fee schedule (a v1 server), and
# that was given no fee of its own.
DEFAULT_FEE_BPS = 500


def _cash_out_summary(
    tx_id: str, fiat_amount: str, fiat_code: str, exchange_rate: str, a: Amounts
) -> dict[str, Any]:
    return {
        "type": "cash_out",
        "tx_id": tx_id,
        "fiat_amount": fiat_amount,
        "fiat_code": fiat_code,
        "exchange_rate": exchange_rate,
        "principal_sats": a.principal_sats,
        "fee_sats": a.fee_sats,
        "amount_sats": a.amount_sats,
        "payment_hash": None,
        "bolt11": None,
        "paid": False,
        "dispensed_fiat": None,
        "settlement_id": None,
        "statuses": {},
        "latencies_ms": {},
    }


def _cash_in_summary(
    tx_id: str, fiat_amount: str, fiat_code: str, exchange_rate: str, a: Amounts
) -> dict[str, Any]:
    return {
        "type": "cash_in",
        "tx_id": tx_id,
        "fiat_amount": fiat_amount,
        "fiat_code": fiat_code,
        "exchange_rate": exchange_rate,
        "principal_sats": a.principal_sats,
        "fee_sats": a.fee_sats,
        "payout_sats": a.payout_sats,
        "payment_hash": None,
        "status": None,
        "fee_paid_sats": None,
        "statuses": {},
        "latencies_ms": {},
    }


def _invoice_params(
    summary: dict[str, Any], memo: str | None, expiry_s: int | None
) -> dict[str, Any]:
    """``make_invoice``'s params for the cash-out ``summary`` describes."""
    fiat_amount, fiat_code = summary["fiat_amount"], summary["fiat_code"]
    params: dict[str, Any] = {
        "tx_id": summary["tx_id"],
        "amount_sats": summary["amount_sats"],
        "principal_sats": summary["principal_sats"],
        "fee_sats": summary["fee_sats"],
        "fiat_amount": fiat_amount,
        "fiat_code": fiat_code,
        "exchange_rate": summary["exchange_rate"],
    }
    if memo is None:
        memo = f"bitSpire cash-out {fiat_amount} {fiat_code}"
    if memo:
        params["memo"] = memo
    if expiry_s is not None:
        params["expiry_s"] = expiry_s
    if summary.get("fee_version") is not None:
        params["fee_version"] = summary["fee_version"]
    return params


class BitspireSimulator(RpcClient):
    """The ATM side of the contract, over rust-nostr (``nostr_sdk``)."""

    # The server's fee schedule as last fetched (``fee_schedule``); None: none.
    fees: dict[str, Any] | None = None

    @classmethod
    def from_seed_url(cls, url: str, **kw: Any) -> tuple[BitspireSimulator, str]:
        """A simulator for the server and relays of a seed URL, and its token."""
        seed = parse_seed_url(url)
        sim = cls(server_pubkey=seed.server, relays=seed.relays, **kw)
        sim.operator = seed.operator
        return sim, seed.token

    async def __aenter__(self) -> BitspireSimulator:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the fee

    async def fee_schedule(self) -> dict[str, Any] | None:
        """Fetches the server's fee schedule for this machine (``get_fees``) and
        prices the following transactions with it; None (and the machine's own
        fee) when the server predates schedules."""
        response = await self.call("get_fees")
        if "result" in response:
            self.fees = response["result"]
        elif response.get("error", {}).get("code") in ("not_found", "unknown_method"):
            self.fees = None
        else:
            raise RpcError("get_fees", response)
        return self.fees

    def pricing(
        self, direction: str, fee_bps: int | None
    ) -> tuple[int, int, int | None]:
        """(commission bps, fixed fee, schedule version) for a transaction: the
        ``fee_bps`` given (no version: the machine's own fee, as in v1), else the
        fetched schedule's, else ``DEFAULT_FEE_BPS``."""
        if fee_bps is not None:
            return fee_bps, 0, None
        if self.fees is None:
            return DEFAULT_FEE_BPS, 0, None
        fees = self.fees[direction]
        self._log(
            f"{'fees':<12} schedule version {self.fees['version']}: "
            f"{fees['commission_bps']} bps + {fees['fixed_fee_sats']} sats"
        )
        return fees["commission_bps"], fees["fixed_fee_sats"], self.fees["version"]

    # ---- the cash in the machine (contract §9.4)

    # The cassette document as last fetched (``cassettes``), whose counts this
    # machine lowers by each dispense it reports; None: none.
    cassette_doc: dict[str, Any] | None = None

    async def cassettes(self) -> dict[str, Any] | None:
        """Fetches the machine's cassettes (``get_cassettes``): the following
        cash-outs report the bills they dispense. None when its operator has
        set none or the server predates cassettes."""
        response = await self.call("get_cassettes")
        if "result" in response:
            self.cassette_doc = response["result"]
        elif response.get("error", {}).get("code") in ("not_found", "unknown_method"):
            self.cassette_doc = None
        else:
            raise RpcError("get_cassettes", response)
        return self.cassette_doc

    def bills_for(self, fiat: str) -> list[dict[str, Any]] | None:
        """The bills making up ``fiat`` from the counts held, largest first;
        None without cassettes or if they cannot make it exactly."""
        if self.cassette_doc is None:
            return None
        left = parse_decimal(fiat, "fiat")
        held: dict[str, int] = {}
        for cassette in self.cassette_doc["positions"].values():
            denomination = cassette["denomination"]
            held[denomination] = held.get(denomination, 0) + cassette["count"]
        bills = []
        for denomination in sorted(held, key=Decimal, reverse=True):
            count = min(held[denomination], int(left // Decimal(denomination)))
            if count:
                bills.append({"denomination": denomination, "count": count})
                left -= count * Decimal(denomination)
        return bills if left == 0 else None

    def _take(self, bills: list[dict[str, Any]]) -> None:
        """Lowers the counts held by dispensed bills, lowest position first."""
        assert self.cassette_doc is not None
        positions = self.cassette_doc["positions"]
        for bill in bills:
            wanted = bill["count"]
            for position in sorted(positions, key=int):
                cassette = positions[position]
                if cassette["denomination"] == bill["denomination"] and wanted:
                    taken = min(wanted, cassette["count"])
                    cassette["count"] -= taken
                    wanted -= taken

    async def report_cash(
        self, report_id: str | None = None, cashbox: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Reports the counts this machine holds (``report_cash``)."""
        if self.cassette_doc is None:
            raise ValueError("fetch the cassettes first (none are set)")
        params: dict[str, Any] = {
            "report_id": report_id or str(uuid.uuid4()),
            "positions": {
                position: {"denomination": c["denomination"], "count": c["count"]}
                for position, c in self.cassette_doc["positions"].items()
            },
        }
        if cashbox is not None:
            params["cashbox"] = cashbox
        response = await self.call("report_cash", params)
        if "result" not in response:
            raise RpcError("report_cash", response)
        self._log(f"{'cash':<12} counts reported ({params['report_id']})")
        return response["result"]

    # ---- cash-out

    async def cash_out(
        self,
        *,
        fiat_amount: str,
        exchange_rate: str,
        fee_bps: int | None = None,
        fiat_code: str = "GTQ",
        pay: Callable[[str], Awaitable[None]] | None = None,
        dispensed_fiat: str | None = None,
        bills: list[dict[str, Any]] | None = None,
        memo: str | None = None,
        expiry_s: int | None = 600,
        paid_timeout: float | None = None,
        poll_every: float = 1.0,
    ) -> dict[str, Any]:
        """Customer buys fiat with sats: invoice, payment, dispense report.

        ``pay(bolt11)`` makes the customer's payment; without it the bolt11 is
        printed and the invoice polled until paid, expired or ``paid_timeout``
        (default: ``timeout`` with ``pay``, else ``expiry_s``). An unpaid
        transaction is cancelled. An error response raises ``RpcError`` whose
        ``summary`` holds what happened so far. The fee is the server's fee
        schedule once fetched (``fee_schedule``) unless ``fee_bps`` is given.
        """
        fee_bps, fixed_fee, fee_version = self.pricing("cash_out", fee_bps)
        amounts = compute_amounts(fiat_amount, exchange_rate, fee_bps, fixed_fee)
        if amounts.amount_sats < 1:
            raise ValueError("the cash-out amount comes to 0 sats")
        dispensed = fiat_amount if dispensed_fiat is None else dispensed_fiat
        if parse_decimal(dispensed, "dispensed_fiat") > Decimal(fiat_amount):
            raise ValueError("dispensed_fiat exceeds fiat_amount")
        tx_id = str(uuid.uuid4())
        summary = _cash_out_summary(
            tx_id, fiat_amount, fiat_code, exchange_rate, amounts
        )
        summary["fee_version"] = fee_version
        self._log(
            f"{'cash-out':<12} tx {tx_id}: {fiat_amount} {fiat_code} at "
            f"{exchange_rate} = {amounts.principal_sats} + fee {amounts.fee_sats} "
            f"= {amounts.amount_sats} sats"
        )
        payment_hash, bolt11 = await self._make_invoice(
            summary, _invoice_params(summary, memo, expiry_s)
        )
        started = time.monotonic()
        await self._customer_pays(summary, bolt11, pay)
        if paid_timeout is None:
            paid_timeout = self.timeout if pay is not None else float(expiry_s or 600)
        status = await self._wait_paid(summary, payment_hash, paid_timeout, poll_every)
        summary["latencies_ms"]["paid_after"] = ms(time.monotonic() - started)
        if status != "paid":
            await self._step(
                summary,
                "cancel",
                "cancel_transaction",
                {"tx_id": tx_id, "reason": f"invoice {status}"},
                describe=lambda r: f"status {r.get('status')}",
            )
            return summary
        summary["paid"] = True
        if bills is None:  # from the cassettes, once fetched
            bills = self.bills_for(dispensed)
        await self._report_dispense(summary, dispensed, bills)
        if bills and self.cassette_doc is not None:
            self._take(bills)
        return summary

    async def _make_invoice(
        self, summary: dict[str, Any], params: dict[str, Any]
    ) -> tuple[str, str]:
        """``make_invoice``; the answer's payment hash and bolt11."""
        invoice = await self._step(
            summary,
            "make_invoice",
            "make_invoice",
            params,
            describe=lambda r: (
                f"payment_hash {str(r.get('payment_hash'))[:16]}… "
                f"expires_at {r.get('expires_at')}"
            ),
        )
        summary["statuses"]["make_invoice"] = "ok"
        payment_hash = invoice.get("payment_hash")
        bolt11 = invoice.get("bolt11")
        summary.update(
            payment_hash=payment_hash,
            bolt11=bolt11,
            expires_at=invoice.get("expires_at"),
        )
        if not isinstance(bolt11, str) or not isinstance(payment_hash, str):
            error = RpcError(
                "make_invoice",
                {"error": {"code": "bad_response", "message": "no bolt11"}},
            )
            error.summary = summary
            raise error
        return payment_hash, bolt11

    async def _customer_pays(
        self,
        summary: dict[str, Any],
        bolt11: str,
        pay: Callable[[str], Awaitable[None]] | None,
    ) -> None:
        """The customer pays with ``pay``, or is shown the invoice to pay."""
        if pay is None:
            self._log(f"{'pay':<12} customer, pay this invoice: {bolt11}")
            return
        started = time.monotonic()
        await pay(bolt11)
        summary["latencies_ms"]["pay"] = ms(time.monotonic() - started)
        self._log(
            f"{'pay':<12} customer paid {summary['amount_sats']} sats "
            f"[{summary['latencies_ms']['pay']} ms]"
        )

    async def _wait_paid(
        self,
        summary: dict[str, Any],
        payment_hash: str,
        paid_timeout: float,
        poll_every: float,
    ) -> str:
        """Poll ``lookup_invoice`` until paid or expired; ``"pending"`` on timeout."""
        deadline = time.monotonic() + paid_timeout
        polls = 0
        status = "pending"
        while True:
            polls += 1
            result = await self._step(
                summary,
                "lookup",
                "lookup_invoice",
                {"payment_hash": payment_hash},
                describe=lambda r: (
                    f"status {r.get('status')} ({r.get('amount_sats')} sats"
                    + (f", paid_at {r['paid_at']})" if r.get("paid_at") else ")")
                ),
            )
            status = str(result.get("status"))
            summary["statuses"]["lookup_invoice"] = status
            if status in ("paid", "expired"):
                break
            if time.monotonic() + poll_every > deadline:
                break
            await asyncio.sleep(poll_every)
        summary["polls"] = polls
        return status

    async def _report_dispense(
        self,
        summary: dict[str, Any],
        dispensed: str,
        bills: list[dict[str, Any]] | None,
    ) -> None:
        fiat_amount, fiat_code = summary["fiat_amount"], summary["fiat_code"]
        dispense: dict[str, Any] = {
            "tx_id": summary["tx_id"],
            "dispensed_fiat": dispensed,
        }
        if bills:
            dispense["bills"] = bills
        report = await self._step(
            summary,
            "dispense",
            "report_dispense",
            dispense,
            describe=lambda r: (
                f"{dispensed}/{fiat_amount} {fiat_code} dispensed, settlement "
                f"{r.get('settlement_id')} status {r.get('status')}"
            ),
        )
        summary["dispensed_fiat"] = dispensed
        summary["settlement_id"] = report.get("settlement_id")
        summary["statuses"]["report_dispense"] = report.get("status")

    # ---- cash-in

    async def cash_in(
        self,
        *,
        fiat_amount: str,
        exchange_rate: str,
        fee_bps: int | None = None,
        fiat_code: str = "GTQ",
        invoice_for: Callable[[int], Awaitable[str]],
        paid_timeout: float | None = None,
        poll_every: float = 1.0,
    ) -> dict[str, Any]:
        """Customer buys sats with fiat: the machine pays the customer's invoice.

        ``invoice_for(principal - fee)`` returns the customer's bolt11. A ``pending``
        payment is then polled with ``lookup_invoice`` by ``tx_id``. The fee is
        priced as for ``cash_out``.
        """
        fee_bps, fixed_fee, fee_version = self.pricing("cash_in", fee_bps)
        amounts = compute_amounts(fiat_amount, exchange_rate, fee_bps, fixed_fee)
        if amounts.payout_sats < 1:
            raise ValueError("the cash-in payout comes to less than 1 sat")
        tx_id = str(uuid.uuid4())
        summary = _cash_in_summary(
            tx_id, fiat_amount, fiat_code, exchange_rate, amounts
        )
        summary["fee_version"] = fee_version
        self._log(
            f"{'cash-in':<12} tx {tx_id}: {fiat_amount} {fiat_code} at "
            f"{exchange_rate} = {amounts.principal_sats} - fee {amounts.fee_sats} "
            f"= {amounts.payout_sats} sats to the customer"
        )
        started = time.monotonic()
        bolt11 = await invoice_for(amounts.payout_sats)
        summary["latencies_ms"]["invoice_for"] = ms(time.monotonic() - started)
        summary["bolt11"] = bolt11
        self._log(
            f"{'invoice':<12} customer invoice for {amounts.payout_sats} sats "
            f"[{summary['latencies_ms']['invoice_for']} ms]"
        )
        status = await self._pay_invoice(summary, bolt11)
        if status == "pending":
            timeout = self.timeout if paid_timeout is None else paid_timeout
            summary["status"] = await self._wait_cash_in(summary, timeout, poll_every)
        return summary

    async def _pay_invoice(self, summary: dict[str, Any], bolt11: str) -> str:
        """``pay_invoice`` for the cash-in ``summary`` describes; its status."""
        params: dict[str, Any] = {
            "tx_id": summary["tx_id"],
            "bolt11": bolt11,
            "principal_sats": summary["principal_sats"],
            "fee_sats": summary["fee_sats"],
            "fiat_amount": summary["fiat_amount"],
            "fiat_code": summary["fiat_code"],
            "exchange_rate": summary["exchange_rate"],
        }
        if summary.get("fee_version") is not None:
            params["fee_version"] = summary["fee_version"]
        result = await self._step(
            summary,
            "pay_invoice",
            "pay_invoice",
            params,
            describe=lambda r: (
                f"status {r.get('status')} payment_hash "
                f"{str(r.get('payment_hash'))[:16]}… "
                f"routing fee {r.get('fee_paid_sats')} sats"
            ),
        )
        status = str(result.get("status"))
        summary.update(
            payment_hash=result.get("payment_hash"),
            status=status,
            fee_paid_sats=result.get("fee_paid_sats"),
        )
        summary["statuses"]["pay_invoice"] = status
        return status

    async def _wait_cash_in(
        self,
        summary: dict[str, Any],
        timeout: float,
        poll_every: float,
        *,
        first_now: bool = False,
    ) -> str:
        """Polls ``lookup_invoice`` by ``tx_id`` while the payment is pending
        (``first_now``: the first look without waiting)."""
        status = "pending"
        deadline = time.monotonic() + timeout
        wait = 0.0 if first_now else poll_every
        while status == "pending" and time.monotonic() + wait <= deadline:
            await asyncio.sleep(wait)
            wait = poll_every
            try:
                looked = await self._step(
                    summary,
                    "lookup",
                    "lookup_invoice",
                    {"tx_id": summary["tx_id"]},
                    describe=lambda r: f"status {r.get('status')}",
                )
            except RpcError:
                break
            status = str(looked.get("status"))
            summary["statuses"]["lookup_invoice"] = status
        return status

    # ---- cash-in by LNURL-withdraw

    async def cash_in_lnurl(
        self,
        *,
        fiat_amount: str,
        exchange_rate: str,
        fiat_code: str = "GTQ",
        withdraw: Callable[[str], Awaitable[dict]] | None = None,
        expiry_s: int | None = None,
        paid_timeout: float | None = None,
        poll_every: float = 1.0,
    ) -> dict[str, Any]:
        """Customer buys sats with fiat and scans the machine's LNURL-withdraw QR
        code (``create_withdraw``, contract §9.3): the server prices it, and
        ``withdraw(lnurl)`` (the customer's wallet; None: someone else scans it)
        pulls the sats. Then ``lookup_invoice`` by ``tx_id`` until it is paid."""
        amounts = compute_amounts(fiat_amount, exchange_rate, 0, 0)
        tx_id = str(uuid.uuid4())
        summary = _cash_in_summary(
            tx_id, fiat_amount, fiat_code, exchange_rate, amounts
        )
        summary.update(type="cash_in_lnurl", fee_sats=None, payout_sats=None)
        params: dict[str, Any] = {
            "tx_id": tx_id,
            "principal_sats": amounts.principal_sats,
            "fiat_amount": fiat_amount,
            "fiat_code": fiat_code,
            "exchange_rate": exchange_rate,
        }
        if self.fees is not None:
            params["fee_version"] = self.fees["version"]
        if expiry_s is not None:
            params["expiry_s"] = expiry_s
        link = await self._step(
            summary,
            "create_withdraw",
            "create_withdraw",
            params,
            describe=lambda r: (
                f"{r.get('amount_sats')} sats (fee {r.get('fee_sats')}, schedule "
                f"{r.get('fee_version')}) until {r.get('expires_at')}: {r.get('lnurl')}"
            ),
        )
        summary.update(
            fee_sats=link.get("fee_sats"),
            payout_sats=link.get("amount_sats"),
            lnurl=link.get("lnurl"),
            url=link.get("url"),
            expires_at=link.get("expires_at"),
        )
        timeout = self.timeout if paid_timeout is None else paid_timeout
        if withdraw is None:  # a person scans it: wait as long as the link lives
            self._log(f"{'scan':<12} {link.get('url')}")
            timeout = max(timeout, float(link.get("expires_at", 0)) - time.time())
        else:
            started = time.monotonic()
            answer = await withdraw(str(link.get("lnurl")))
            summary["latencies_ms"]["withdraw"] = ms(time.monotonic() - started)
            summary["statuses"]["callback"] = answer.get("status")
            self._log(
                f"{'wallet':<12} callback {answer.get('status')} "
                f"{answer.get('reason') or ''}"
                f"[{summary['latencies_ms']['withdraw']} ms]"
            )
        summary["status"] = await self._wait_cash_in(
            summary, timeout, poll_every, first_now=True
        )
        return summary
