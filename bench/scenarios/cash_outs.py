"""Cash-outs as an ATM runs them, and when each of their legs was paid: what
figure 3's rows are measured with."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from instance import ATM_FEE_BPS, FIAT, RATE, SIM, Atm, Instance, Operator, rpc
from lnbits_api import API, call
from measure import latency_summary
from websockets.asyncio.client import connect as ws_connect


class LegClock:
    """When LNbits announces each leg's payment: the websocket of the paying
    (machine) wallet pushes every payment of that wallet as it happens, with the
    payment's ``extra`` (which carries the leg's id)."""

    def __init__(self) -> None:
        self.paid_at: dict[str, float] = {}
        self.last_at = 0.0  # the latest leg message (wall clock)
        self._tasks: list[asyncio.Task[None]] = []

    async def watch(self, instance: Instance, inkey: str) -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(self._listen(instance, inkey, ready))
        self._tasks.append(task)
        await asyncio.wait_for(ready.wait(), 10)

    async def _listen(
        self, instance: Instance, inkey: str, ready: asyncio.Event
    ) -> None:
        url = f"{instance.server.ws_url}/api/v1/ws/{inkey}"
        async with ws_connect(url, open_timeout=10, ping_interval=None) as ws:
            ready.set()
            async for message in ws:
                now = time.time()
                try:
                    payment = json.loads(message)["payment"]
                    leg_id = (payment.get("extra") or {}).get("leg_id")
                    outgoing = payment.get("amount", 0) < 0
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if leg_id and outgoing:
                    self.paid_at.setdefault(str(leg_id), now)
                    self.last_at = now

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass
class CashOut:
    machine_id: str
    tx_id: str
    settlement_id: str
    t_dispense: float  # the ATM sends report_dispense (wall clock)
    t_answer: float  # the ATM has the answer


async def _paid_invoice(instance: Instance, atm: Atm, tx_id: str) -> None:
    """make_invoice, the customer pays it from their LNbits wallet, and the ATM
    looks it up until it is paid."""
    amounts = SIM.compute_amounts(FIAT, RATE, ATM_FEE_BPS)
    invoice = await rpc(
        atm.sim,
        "make_invoice",
        {
            "tx_id": tx_id,
            "amount_sats": amounts.amount_sats,
            "principal_sats": amounts.principal_sats,
            "fee_sats": amounts.fee_sats,
            "fiat_amount": FIAT,
            "fiat_code": "GTQ",
            "exchange_rate": RATE,
            "expiry_s": 600,
        },
    )
    await call(
        instance.http,
        "POST",
        "/api/v1/payments",
        key=atm.customer_key,
        body={"out": True, "bolt11": invoice["bolt11"]},
    )
    for _ in range(200):
        looked = await rpc(
            atm.sim, "lookup_invoice", {"payment_hash": invoice["payment_hash"]}
        )
        if looked.get("status") == "paid":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"cash-out {tx_id} was never paid")


async def cash_out(
    instance: Instance, atm: Atm, *, dispense_at: float | None = None
) -> CashOut:
    """One customer cash-out as an ATM runs it: make_invoice, the customer pays
    from their LNbits wallet, lookup_invoice until paid, report_dispense."""
    tx_id = uuid.uuid4().hex
    await _paid_invoice(instance, atm, tx_id)
    if dispense_at is not None:
        await asyncio.sleep(max(0.0, dispense_at - time.time()))
    t_dispense = time.time()
    answer = await rpc(
        atm.sim, "report_dispense", {"tx_id": tx_id, "dispensed_fiat": FIAT}
    )
    return CashOut(
        atm.machine["id"], tx_id, str(answer["settlement_id"]), t_dispense, time.time()
    )


async def wait_settled(
    instance: Instance,
    operator: Operator,
    ids: set[str],
    clock: LegClock,
    timeout_s: float,
) -> dict[str, dict]:
    """Waits until every settlement is settled or failed, then reads each one
    with its legs. It asks the server (one list request) only once no leg has
    been paid for a second, so as not to load it while it is paying."""
    deadline = time.monotonic() + timeout_s
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        if time.time() - clock.last_at < 1.0:
            continue
        page = await call(
            instance.http,
            "GET",
            f"{API}/settlements?limit=500",
            token=operator.account.token,
        )
        for row in page["data"]:
            if row["id"] in pending and row["status"] in ("settled", "failed"):
                pending.discard(row["id"])
    details = {}
    for settlement_id in ids:
        details[settlement_id] = await call(
            instance.http,
            "GET",
            f"{API}/settlements/{settlement_id}",
            token=operator.account.token,
        )
    return details


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    legs_paid: int = 0
    not_settled: int = 0
    missing_clock: int = 0
    first_dispense: float = 0.0
    last_leg: float = 0.0
    last_dispense: float = 0.0
    answer_latencies: list[float] = field(default_factory=list)
    paid_at_skew_s: float = 0.0  # largest |legs' paid_at (DB, whole s) - clock|
    first_leg: list[float] = field(default_factory=list)  # dispense → first leg
    leg_gaps: list[float] = field(default_factory=list)  # between a settlement's legs
    cpu_s: float | None = None  # LNbits' CPU time from first dispense to last leg

    def timings(self) -> dict[str, Any]:
        """The run's clock figures and latency distributions, for a row's data."""
        return {
            "missing_clock": self.missing_clock,
            "paid_at_skew_s": self.paid_at_skew_s,
            "report_dispense_answer": latency_summary(self.answer_latencies),
            "first_leg_paid": latency_summary(self.first_leg),
            "between_legs": latency_summary(self.leg_gaps),
            "latencies_ms": [round(x * 1000, 1) for x in self.latencies],
        }

    @property
    def window(self) -> float:
        return self.last_leg - self.first_dispense

    def add_settlement(
        self, tx: CashOut, settlement: dict[str, Any], clock: LegClock
    ) -> None:
        """One cash-out's settlement: its paid legs, as the clock saw them."""
        if settlement["status"] != "settled":
            self.not_settled += 1
            return
        times = []
        for leg in settlement["legs"] or []:
            if leg["status"] != "paid":
                continue
            self.legs_paid += 1
            at = clock.paid_at.get(leg["id"])
            if at is None:
                self.missing_clock += 1
                continue
            times.append(at)
            if leg.get("paid_at"):
                # paid_at is written after the payment, in whole seconds.
                skew = abs(leg["paid_at"] + 0.5 - at) - 0.5
                self.paid_at_skew_s = max(self.paid_at_skew_s, skew)
        if times:
            times.sort()
            self.latencies.append(times[-1] - tx.t_dispense)
            self.last_leg = max(self.last_leg, times[-1])
            self.first_leg.append(times[0] - tx.t_dispense)
            self.leg_gaps += [b - a for a, b in itertools.pairwise(times)]


def outcome(
    cash_outs: list[CashOut], details: dict[str, dict], clock: LegClock
) -> Outcome:
    result = Outcome(
        first_dispense=min(tx.t_dispense for tx in cash_outs),
        last_dispense=max(tx.t_dispense for tx in cash_outs),
        answer_latencies=[tx.t_answer - tx.t_dispense for tx in cash_outs],
    )
    for tx in cash_outs:
        result.add_settlement(tx, details[tx.settlement_id], clock)
    return result
