"""LP payout schedules compared: payments made and time taken to pay every LP,
for 200 LPs and 50 cash-outs, under each schedule.

Boots LNbits in this process with the extension (as profile_inprocess.py does),
stops the extension's own payout worker and drives the payouts itself, so that
the clock of the schedules can be moved: the daily payout is made at its next
hour without waiting for it. For each schedule: a new operator with a machine,
its three splits and ``--lps`` LPs with confirmed deposits, all on that schedule;
``--cash-outs`` cash-outs landed through the API (``POST /settlements/manual``,
the machine's wallet funded), each followed by a worker pass (the legs due, and
under ``threshold`` the payouts the threshold makes due); under ``daily`` one
pass at the next hour. Counted: LNbits' outgoing payments from the machine's
wallet; checked: every LP's wallet gained exactly its legs' sats.

``each`` pays 4 + 200 legs per cash-out, about 10 000 payments for 50: on this
shared machine that is many minutes, so it runs ``--each-cash-outs`` of them
(default 5) and its time for 50 is that time scaled, said as such.

Prints one JSON object on stdout (``SCHEDULES {...}``). Run by
bench/scenarios/schedules.py, or by hand:

    .venv/bin/python bench/schedules.py [--lps 200] [--cash-outs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import harness
from accounts import SUPER_PASSWORD, USER_PASSWORD
from lnbits_api import API, call, first_install, register, split_three_ways
from profile_inprocess import confirmed_machine, prepare

EXT_ID = harness.EXT_ID
THRESHOLD_SATS = 5_000  # about every 25 cash-outs for an LP of 200
PRINCIPAL, FEE = 40_000, 2_000  # 200.00 GTQ at 500 000.00 GTQ/BTC, 5 %


def ext(module: str) -> Any:
    return sys.modules[f"{EXT_ID}.{module}"]


async def enrol_many(operator_id: str, count: int) -> list[str]:
    """``count`` LPs of the operator, straight into the database (accounts
    without passwords: registering 200 users would be a minute of bcrypt); their
    wallet ids."""
    from lnbits.core.crud import create_account, create_wallet

    crud, helpers = ext("crud"), ext("helpers")
    wallets = []
    now = int(time.time())
    for n in range(count):
        account = await create_account()
        wallet = await create_wallet(user_id=account.id, wallet_name="lp")
        lp = await crud.ensure_lp(lp_id=helpers.new_id(), user_id=account.id, now=now)
        enrolment_id = helpers.new_id()
        await crud.insert_enrolment(
            row={
                "id": enrolment_id,
                "operator_id": operator_id,
                "lp_id": lp.id,
                "wallet_id": wallet.id,
                "fiat_code": "GTQ",
                "created_at": now,
            }
        )
        deposit = ext("models").DepositRow(
            id=helpers.new_id(),
            enrolment_id=enrolment_id,
            operator_id=operator_id,
            lp_id=lp.id,
            fiat_code="GTQ",
            fiat_amount_minor=(1000 + 37 * n) * 100,
            status="confirmed",
            note=None,
            created_by=operator_id,
            created_at=now,
            confirmed_by=operator_id,
            confirmed_at=now,
        )
        await crud.insert_deposit(row=deposit)
        wallets.append(wallet.id)
    return wallets


async def set_schedule(operator_id: str, schedule: str, hour: int) -> None:
    database = ext("database")
    await database.db.execute(
        f"UPDATE {EXT_ID}.lp_enrolments SET payout_schedules_offered = "
        "'each,daily,threshold', payout_schedule = :schedule, payout_hour = :hour, "
        "payout_threshold_sats = :threshold WHERE operator_id = :operator_id",
        {
            "schedule": schedule,
            "hour": hour,
            "threshold": THRESHOLD_SATS,
            "operator_id": operator_id,
        },
    )


async def outgoing_payments(wallet_id: str) -> int:
    from lnbits.core.db import db

    row: Any = await db.fetchone(
        "SELECT COUNT(*) AS n FROM apipayments WHERE wallet_id = :w "
        "AND amount < 0 AND status = 'success'",
        {"w": wallet_id},
    )
    return int(dict(row)["n"])


async def balances(wallet_ids: list[str]) -> dict[str, int]:
    from lnbits.core.crud import get_wallet

    found = {}
    for wallet_id in wallet_ids:
        wallet = await get_wallet(wallet_id)
        assert wallet is not None
        found[wallet_id] = wallet.balance
    return found


async def drain() -> None:
    """Worker passes until no settlement has a leg to pay."""
    payouts = ext("services.payouts")
    while await payouts.process_due():
        pass


async def one_schedule(
    http: Any, su: Any, schedule: str, lps: int, cash_outs: int
) -> dict[str, Any]:
    op = await register(http, "op", password=USER_PASSWORD)
    await split_three_ways(http, op)
    body = {"name": f"{schedule} ATM", "fiat_code": "GTQ"}
    machine = await confirmed_machine(http, op.token, body)
    lp_wallets = await enrol_many(op.id, lps)
    hour = (time.gmtime().tm_hour + 1) % 24
    await set_schedule(op.id, schedule, hour)
    await call(
        http,
        "PUT",
        "/users/api/v1/balance",
        token=su.token,
        body={"id": machine["wallet_id"], "amount": (PRINCIPAL + FEE) * cash_outs},
    )
    before = await balances(lp_wallets)
    lp_payouts = ext("services.lp_payouts")
    started = time.perf_counter()
    for _ in range(cash_outs):
        await call(
            http,
            "POST",
            f"{API}/settlements/manual",
            token=op.token,
            body={
                "machine_id": machine["id"],
                "direction": "cash_out",
                "principal_sats": PRINCIPAL,
                "fee_sats": FEE,
                "fee_override_reason": "benchmark commission",
                "fiat_amount": "200.00",
                "fiat_code": "GTQ",
                "exchange_rate": "500000.00",
                "tx_id": uuid.uuid4().hex,
            },
        )
        await drain()
        if schedule == "threshold":
            await lp_payouts.pay_due()
    landed = time.perf_counter() - started
    if schedule != "each":
        # The payouts still to come: daily's at its hour, a threshold's remainder
        # stays accrued (not paid: that is the schedule).
        moment = int(time.time())
        if schedule == "daily":
            moment = ext("payout_schedules").next_daily_at(hour, moment)
        await lp_payouts.pay_due(moment)
    elapsed = time.perf_counter() - started
    return await _outcome(
        schedule,
        machine["wallet_id"],
        op.id,
        lp_wallets,
        before,
        cash_outs,
        landed,
        elapsed,
    )


async def _outcome(
    schedule: str,
    machine_wallet: str,
    operator_id: str,
    lp_wallets: list[str],
    before: dict[str, int],
    cash_outs: int,
    landed: float,
    elapsed: float,
) -> dict[str, Any]:
    database = ext("database")
    rows = await database.db.fetchall(
        f"SELECT e.wallet_id, g.status, SUM(g.sats) AS sats "
        f"FROM {EXT_ID}.payout_legs g "
        f"JOIN {EXT_ID}.lp_enrolments e ON e.id = g.lp_enrolment_id "
        "WHERE g.operator_id = :op GROUP BY e.wallet_id, g.status",
        {"op": operator_id},
    )
    owed: dict[str, int] = {}
    accrued = 0
    for row in map(dict, rows):
        if row["status"] == "paid":
            owed[row["wallet_id"]] = owed.get(row["wallet_id"], 0) + int(row["sats"])
        elif row["status"] == "accrued":
            accrued += int(row["sats"])
    after = await balances(lp_wallets)
    wrong = [w for w in lp_wallets if after[w] - before[w] != owed.get(w, 0)]
    payments = await outgoing_payments(machine_wallet)
    return {
        "schedule": schedule,
        "cash_outs": cash_outs,
        "payments": payments,
        "payments_per_cash_out": payments / cash_outs,
        "seconds": elapsed,
        "seconds_landing_and_legs": landed,
        "lp_sats_paid": sum(owed.values()),
        "lp_sats_still_accrued": accrued,
        "lp_wallets_wrong": len(wrong),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from lnbits.app import create_app
    from lnbits.task_manager import task_manager
    from seed import seed

    relay = f"ws://127.0.0.1:{harness.free_port()}"  # nothing listens: no relay
    await seed(relay, Path.cwd() / "extensions")
    app = create_app()
    results = []
    async with app.router.lifespan_context(app):
        for name in (f"{EXT_ID}_payouts", f"{EXT_ID}_rpc", f"{EXT_ID}_outgoing"):
            task = task_manager.get_task(name)
            if task is not None:
                task_manager.cancel_task(task)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://x", timeout=120
        ) as http:
            su = await first_install(http, username="su", password=SUPER_PASSWORD)
            await call(
                http,
                "PUT",
                f"{API}/super/config",
                token=su.token,
                body={
                    "cash_out_fee_bps": 3000,
                    "fee_basis": "commission",
                    "super_wallet_id": su.wallet_id,
                },
            )
            for schedule in args.schedules:
                n = args.each_cash_outs if schedule == "each" else args.cash_outs
                results.append(await one_schedule(http, su, schedule, args.lps, n))
                print(f"# {results[-1]}", file=sys.stderr, flush=True)
    return {"lps": args.lps, "cash_outs": args.cash_outs, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lps", type=int, default=200)
    parser.add_argument("--cash-outs", type=int, default=50)
    parser.add_argument("--each-cash-outs", type=int, default=5)
    parser.add_argument(
        "--schedules", nargs="+", default=["each", "daily", "threshold"]
    )
    args = parser.parse_args()
    work = prepare(None)
    try:
        result = asyncio.run(run(args))
    finally:
        harness.remove_tree(work)
    print("SCHEDULES " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
