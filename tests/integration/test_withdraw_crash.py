"""Cash-in by LNURL-withdraw against a real LNbits that is SIGKILLed between a
link's claim and its payment: on restart each link is paid exactly once.

LNbits runs in a subprocess (tests/support/lnbits_process.py), the ATM is the
simulator (tools/bitspire_sim.py) over a relay subprocess, and the customer's
LNURL wallet is the simulator's, over HTTP to that LNbits. While the wallet
claims one link after another, LNbits is frozen (SIGSTOP) at random moments until
the database shows a link in the crash window, then SIGKILLed and started again:

- ``claimed``: a link claimed with its invoice recorded, no payment in LNbits yet;
  after the 60 s stale claim the link is open again, and the wallet's retry pays;
- ``paid-unrecorded``: LNbits made the payment, the link still says claimed; the
  restarted server finds the payment and lands it, paying nothing more.

Then every link must be paid by exactly one payment from the machine's wallet,
the customer must hold exactly what the links were for, and each transaction
must have landed once. SQLite only (a PostgreSQL run would need a database of
its own: see test_crash_recovery.py). The random schedule is seeded; set
SATMACHINEADMIN_CRASH_SEED to replay one.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter

import httpx
import pytest
from lnbits_api import API, Account, call, first_install, register
from lnbits_process import DbBusy, DbReader, LnbitsProcess
from relays import RelayProcess

from helpers import load_simulator

pytestmark = pytest.mark.slow  # LNbits and relay processes, killed and restarted

LINKS = 60
SATS = 2000  # 10.00 GTQ at 500 000.00 GTQ/BTC; no fee schedule: no fee
FIAT, RATE = "10.00", "500000.00"
WINDOWS = ("claimed", "paid-unrecorded")
# 20 links a lane: the withdrawals last at least 20 s.
CUSTOMER_PACE_S = 1.0
# The stale claim is released after 60 s and the sweep runs every 5 s.
RECOVERY_S = 150.0
# How long a window is looked for. A kill in ``claimed`` may leave every lane's
# link claimed: no customer gets on until the stale claims are released, and a
# window looked for after it needs that long and more.
WINDOW_SEARCH_S = 30 + 65

bs = load_simulator()


async def paired_atm(http: httpx.AsyncClient, operator: Account, relay: str):
    """A simulated ATM added by its operator and confirmed over ``relay``."""
    from nostr_sdk import Keys

    keys = Keys.generate()
    expected = await call(
        http,
        "POST",
        f"{API}/machines",
        token=operator.token,
        body={
            "name": "Crash ATM",
            "fiat_code": "GTQ",
            "npub": keys.public_key().to_bech32(),
        },
    )
    atm, token = bs.BitspireSimulator.from_seed_url(
        expected["seed_url"],
        secret_key=keys.secret_key().to_hex(),
        timeout=60.0,
        retry_every=5.0,
        log=lambda _: None,
    )
    atm.relays = [relay]
    await atm.connect()
    paired = await atm.pair(token)
    machine = await call(
        http, "GET", f"{API}/machines/{paired['machine_id']}", token=operator.token
    )
    return atm, machine


async def crash_windows(reader: DbReader, dead: set[str]) -> set[str]:
    """Which windows the frozen server is in (claims a kill left are not)."""
    claimed = [
        row["payment_hash"]
        for row in await reader.fetch(
            "SELECT payment_hash FROM satmachineadmin.withdraw_links "
            "WHERE status = 'claimed'"
        )
        if row["payment_hash"] not in dead
    ]
    if not claimed:
        return set()
    listed = ", ".join(f"'{h}'" for h in claimed)
    paid = {
        row["payment_hash"]
        for row in await reader.fetch(
            "SELECT payment_hash FROM apipayments WHERE amount < 0 "
            f"AND payment_hash IN ({listed})"
        )
    }
    return {"paid-unrecorded" if h in paid else "claimed" for h in claimed}


async def kill_in(
    lnbits: LnbitsProcess, target: str, rng: random.Random, dead: set[str]
) -> bool:
    """Freezes LNbits at random moments until a link is in ``target``, then
    SIGKILLs it and starts it again; whether it was caught there."""
    deadline = time.monotonic() + WINDOW_SEARCH_S
    hit = False
    async with lnbits.reader(busy_timeout_s=0.05) as reader:
        while True:
            lnbits.pause()
            try:
                hit = target in await crash_windows(reader, dead)
            except DbBusy:  # frozen in mid-commit: look again later
                hit = False
            if hit or time.monotonic() > deadline:
                break
            lnbits.resume()
            await asyncio.sleep(rng.uniform(0.001, 0.02))
        lnbits.kill()
    dead |= {
        row["payment_hash"]
        for row in await lnbits.query(
            "SELECT payment_hash FROM satmachineadmin.withdraw_links "
            "WHERE status = 'claimed'"
        )
    }
    await lnbits.start()
    return hit


async def withdraw_all(
    wallet, links: list[dict], lnbits: LnbitsProcess, lanes: int = 3
) -> Counter:
    """The customer scans every link until it is paid, ``lanes`` links at a time:
    a refused callback of a claimed link, or a server that is down, is tried
    again; a link paid meanwhile (its payment found after a restart) is done."""
    answers: Counter = Counter()
    deadline = time.monotonic() + RECOVERY_S + len(WINDOWS) * WINDOW_SEARCH_S

    async def paid(tx_id: str) -> bool:
        try:
            rows = await lnbits.query(
                "SELECT status FROM satmachineadmin.withdraw_links "
                f"WHERE tx_id = '{tx_id}'"
            )
        except Exception:  # the database of a process being restarted
            return False
        return bool(rows) and rows[0]["status"] == "paid"

    async def scan(link: dict) -> None:
        while True:
            assert time.monotonic() < deadline, f"link {link['tx_id']} never paid"
            try:
                answer = await wallet(link["lnurl"])
            except (httpx.TransportError, ValueError):
                answers["lost"] += 1
                await asyncio.sleep(0.2)
                continue
            answers[answer.get("status")] += 1
            if answer.get("status") == "OK" or await paid(link["tx_id"]):
                return
            await asyncio.sleep(1.0)

    async def lane(mine: list[dict]) -> None:
        for link in mine:
            await scan(link)
            # Customers one after another, not all at once: the withdrawals go on
            # for as long as the kills take to find their windows (each kill is a
            # restart of several seconds), or a late window would find none open.
            await asyncio.sleep(CUSTOMER_PACE_S)

    await asyncio.gather(*(lane(links[i::lanes]) for i in range(lanes)))
    return answers


async def test_sigkill_between_claim_and_payment_pays_each_link_once():
    seed = int(os.environ.get("SATMACHINEADMIN_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    async with (
        RelayProcess("embedded") as relay,
        LnbitsProcess(name="withdraw-crash") as lnbits,
        httpx.AsyncClient(base_url=lnbits.url, timeout=20) as http,
    ):
        super_user = await first_install(http)
        relays = {"relays": [relay.url], "local_only": True}
        await call(
            http, "PUT", f"{API}/super/config", token=super_user.token, body=relays
        )
        operator = await register(http, "op")
        atm, machine = await paired_atm(http, operator, relay.url)
        await call(
            http,
            "PUT",
            "/users/api/v1/balance",
            token=super_user.token,
            body={"id": machine["wallet_id"], "amount": SATS * LINKS + 50_000},
        )
        customer = await call(http, "POST", "/api/v1/account", body={"name": "cust"})
        wallet = bs.lnurl_wallet(bs.lnbits_invoicer(lnbits.url, customer["inkey"]))
        links = []
        for _ in range(LINKS):
            params = {
                "tx_id": uuid.uuid4().hex,
                "principal_sats": SATS,
                "fiat_amount": FIAT,
                "fiat_code": "GTQ",
                "exchange_rate": RATE,
                "expiry_s": 3600,
            }
            answer = await atm.call("create_withdraw", params)
            assert answer["result"]["amount_sats"] == SATS, answer
            links.append({**answer["result"], "tx_id": params["tx_id"]})
        await atm.close()

        scanning = asyncio.create_task(withdraw_all(wallet, links, lnbits))
        hits = {}
        dead: set[str] = set()
        for target in rng.sample(WINDOWS, len(WINDOWS)):
            await asyncio.sleep(rng.uniform(0.1, 0.5))
            hits[target] = await kill_in(lnbits, target, rng, dead)
        answers = await scanning
        context = (
            f"seed {seed}, hits {hits}, claims the kills left {len(dead)}, "
            f"answers {dict(answers)}"
        )
        assert all(hits.values()), context

        await check_each_link_paid_once(lnbits, http, operator, machine, links, context)
        balance = await call(http, "GET", "/api/v1/wallet", key=customer["inkey"])
        assert balance["balance"] == SATS * LINKS * 1000, context


async def check_each_link_paid_once(
    lnbits: LnbitsProcess,
    http: httpx.AsyncClient,
    operator: Account,
    machine: dict,
    links: list[dict],
    context: str,
) -> None:
    deadline = time.monotonic() + RECOVERY_S
    while True:
        rows = await lnbits.query(
            "SELECT tx_id, status, payment_hash FROM satmachineadmin.withdraw_links"
        )
        if all(row["status"] == "paid" for row in rows) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    assert Counter(row["status"] for row in rows) == {"paid": LINKS}, context
    sent = await lnbits.query(
        "SELECT payment_hash, amount, status, extra FROM apipayments "
        f"WHERE wallet_id = '{machine['wallet_id']}' AND amount < 0"
    )
    to_customers = [p for p in sent if int(p["amount"]) == -SATS * 1000]
    assert len([p for p in to_customers if p["status"] == "success"]) == LINKS, context
    assert {p["payment_hash"] for p in to_customers if p["status"] == "success"} == {
        row["payment_hash"] for row in rows
    }, context
    settlements = await call(
        http, "GET", f"{API}/settlements?limit=500", token=operator.token
    )
    landed = Counter(s["tx_id"] for s in settlements["data"])
    assert landed == Counter(link["tx_id"] for link in links), context
