"""Figure 3, cash-in by LNURL-withdraw: ``create_withdraw`` over the relay, then
a customer's LNURL wallet (the simulator's, LUD-03 over HTTP) fetches the link,
makes an invoice in its own LNbits wallet and calls back; the server pays it
from the machine's wallet before it answers OK. One cash-in after another."""

from __future__ import annotations

import time
import uuid

from accounts import account_wallet
from instance import FIAT, RATE, SIM, Instance, add_atm, close_atms, make_operator, rpc
from lnbits_api import call
from measure import fmt_ms, latency_summary
from report import Report, Row
from sizes import Sizes

PRINCIPAL_SATS = 40_000  # 200.00 GTQ at 500 000.00 GTQ/BTC


async def _fund(instance: Instance, wallet_id: str, sats: int) -> None:
    await call(
        instance.http,
        "PUT",
        "/users/api/v1/balance",
        token=instance.super_user.token,
        body={"id": wallet_id, "amount": sats},
    )


async def bench_withdraw(instance: Instance, sizes: Sizes, report: Report) -> None:
    n = sizes.withdraw_cash_ins
    operator = await make_operator(instance, lps=0)
    atm = await add_atm(instance, operator, customer_sats=0)
    await _fund(instance, atm.machine["wallet_id"], (n + 2) * PRINCIPAL_SATS)
    customer = await account_wallet(instance.http, "customer")
    invoicer = SIM.lnbits_invoicer(instance.server.url, customer["inkey"])
    wallet = SIM.lnurl_wallet(invoicer)
    created, total, not_paid = [], [], 0
    try:
        for i in range(n + 1):  # the first one warms up, not counted
            params = {
                "tx_id": uuid.uuid4().hex,
                "principal_sats": PRINCIPAL_SATS,
                "fiat_amount": FIAT,
                "fiat_code": "GTQ",
                "exchange_rate": RATE,
            }
            t0 = time.perf_counter()
            link = await rpc(atm.sim, "create_withdraw", params)
            t1 = time.perf_counter()
            answer = await wallet(link["lnurl"])
            t2 = time.perf_counter()
            looked = await rpc(atm.sim, "lookup_invoice", {"tx_id": params["tx_id"]})
            if answer.get("status") != "OK" or looked.get("status") != "paid":
                not_paid += 1
            elif i:
                created.append(t1 - t0)
                total.append(t2 - t0)
    finally:
        await close_atms([atm])
    summary = latency_summary(total)
    report.add(
        Row(
            "3",
            "cash-in by LNURL: create_withdraw → callback → paid",
            instance.db,
            fmt_ms(summary) + (f"; {not_paid} not paid" if not_paid else ""),
            "",
            "FAIL" if not_paid else "",
            {**summary, "not_paid": not_paid},
        )
    )
    created_summary = latency_summary(created)
    report.latency("3", "  create_withdraw answered", instance.db, created_summary)
