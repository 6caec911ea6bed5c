"""The payout pipeline against a real LNbits that crashes: each leg paid exactly once.

These tests run LNbits in subprocesses (tests/support/lnbits_process.py), drive it
over HTTP only, like an operator and a super user would (tests/support/lnbits_api.py),
and read the LNbits database directly to count the payments.

1. While 200 cash-out settlements are being paid, LNbits is SIGKILLed and started
   again; manual settlements whose POST died with it are sent again (same tx_id).
   There are five kills, one in each crash window of the pipeline (WINDOWS), in a
   random order, each at a random moment inside its window: the process is
   frozen with SIGSTOP at random moments until the database shows it there, then
   SIGKILLed. So every run covers every window, and a bug in one fails every run.
   After the 60 s stale-claim takeover every settlement must be settled, every leg
   paid by exactly one payment, and no sat created or lost.
   SQLite always; PostgreSQL (a database of its own) when
   SATMACHINEADMIN_TEST_DATABASE_URL is set.
2. Two LNbits processes on one PostgreSQL database, both running the payout
   worker, are sent the same 50 settlements: each lands once and is paid once.

The random schedule is seeded; set SATMACHINEADMIN_CRASH_SEED to replay one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from lnbits_api import (
    API,
    Account,
    add_machine_through_a_relay,
    call,
    enrol_lp,
    first_install,
    register,
    split_three_ways,
)
from lnbits_process import DbBusy, DbReader, LnbitsProcess, fresh_postgres_database

pytestmark = pytest.mark.slow  # LNbits and relay processes, killed and restarted

PG_URL_ENV = "SATMACHINEADMIN_TEST_DATABASE_URL"

# 10.00 GTQ at 500000.00 GTQ/BTC is exactly 2000 sats; the customer pays 100 more.
PRINCIPAL_SATS = 2000
FEE_SATS = 100
GROSS_SATS = PRINCIPAL_SATS + FEE_SATS
FIAT_AMOUNT = "10.00"
RATE = "500000.00"
# Platform fee 30 % of the commission, the rest split 50/30/20.
EXPECTED_FEE_LEGS = {"Platform fee": 30, "self": 35, "employee": 21, "maintenance": 14}
# 5000 GTQ of LP deposits cover the 2000 GTQ of 200 settlements.
LP_DEPOSITS = ("3000.00", "2000.00")

CRASH_SETTLEMENTS = 200
TWIN_SETTLEMENTS = 50
# After the last restart: a claim goes stale after 60 s, then the 5 s poll takes it
# over; the pipeline pays ~10 legs/s on SQLite here, less on a loaded machine.
STALLED_AFTER_S = 90.0
QUIET_LIMIT_S = 420.0
DONE = ("paid", "retained", "void")

# Where a SIGKILL can find the worker, in the order it passes them for each leg.
WINDOWS = {
    "claimed": "a leg claimed, its invoice not yet recorded on it",
    "invoice-unpaid": "a leg's invoice recorded on it, not yet paid",
    "half-paid": "inside LNbits' internal payment: the payer's side committed, "
    "the payee's invoice still pending",
    "paid-unrecorded": "a leg paid, not yet recorded as paid",
    "status-unwritten": "every leg of a settlement done, its status not yet written",
}


# --- the business, built over HTTP ----------------------------------------------------


@dataclass
class Business:
    """A super user charging a platform fee, an operator with 3 split wallets, one
    GTQ machine and 2 funded liquidity providers, built through the HTTP API."""

    super_user: Account
    operator: Account
    lps: list[Account]
    machine: dict
    funded_sats: int = 0

    @property
    def accounts(self) -> list[Account]:
        return [self.super_user, self.operator, *self.lps]

    @property
    def machine_wallet_id(self) -> str:
        return self.machine["wallet_id"]

    async def balances_msat(self, http: httpx.AsyncClient) -> dict[str, int]:
        """Every wallet of every party, as LNbits reports it to the wallet's owner."""
        balances = {}
        for account in self.accounts:
            await account.refresh(http)
            for wallet in account.wallets:
                answer = await call(http, "GET", "/api/v1/wallet", key=wallet["inkey"])
                balances[wallet["id"]] = int(answer["balance"])
        return balances

    def settlement_body(self, tx_id: str) -> dict:
        return {
            "machine_id": self.machine["id"],
            "direction": "cash_out",
            "principal_sats": PRINCIPAL_SATS,
            "fee_sats": FEE_SATS,
            "fee_override_reason": "commission agreed with the customer",
            "fiat_amount": FIAT_AMOUNT,
            "fiat_code": "GTQ",
            "exchange_rate": RATE,
            "tx_id": tx_id,
        }


async def build_business(
    http: httpx.AsyncClient, super_user: Account, *, fund_sats: int
) -> Business:
    await call(
        http,
        "PUT",
        f"{API}/super/config",
        token=super_user.token,
        body={
            "cash_in_fee_bps": 3000,
            "cash_out_fee_bps": 3000,
            "fee_basis": "commission",
            "super_wallet_id": super_user.wallet_id,
        },
    )
    operator = await register(http, "op")  # the extension is on by default
    token = operator.token
    await split_three_ways(http, operator)
    # The machine confirms its addition over a relay, as an ATM does.
    machine = await add_machine_through_a_relay(
        http, super_user, operator, {"name": "Crash ATM", "fiat_code": "GTQ"}
    )
    lps = []
    for amount in LP_DEPOSITS:
        lp = await register(http, "lp")
        enrolment = await enrol_lp(http, operator, lp)
        deposit = await call(
            http,
            "POST",
            f"{API}/lps/{enrolment['id']}/deposits",
            token=token,
            body={"fiat_amount": amount},
        )
        await call(http, "PUT", f"{API}/deposits/{deposit['id']}/confirm", token=token)
        lps.append(lp)
    await call(
        http,
        "PUT",
        "/users/api/v1/balance",
        token=super_user.token,
        body={"id": machine["wallet_id"], "amount": fund_sats},
    )
    business = Business(super_user, operator, lps, machine, funded_sats=fund_sats)
    for account in business.accounts:
        await account.refresh(http)
    assert machine["wallet_id"] in {w["id"] for w in operator.wallets}
    return business


async def all_settlements(http: httpx.AsyncClient, operator: Account) -> list[dict]:
    page = await call(http, "GET", f"{API}/settlements?limit=500", token=operator.token)
    assert page["total"] <= 500, "more settlements than one page holds"
    return page["data"]


# --- reading the database -------------------------------------------------------------


def _extra(row: dict) -> dict:
    extra = row.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return {}
    return extra if isinstance(extra, dict) else {}


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)


def _hashes_sql(hashes: list[str]) -> str:
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), hashes
    return ", ".join(f"'{h}'" for h in hashes)


SETTLED_IN_ALL_BUT_STATUS = """
    SELECT s.id, s.status FROM satmachineadmin.settlements s
    WHERE s.status <> 'settled' AND NOT EXISTS (
        SELECT 1 FROM satmachineadmin.payout_legs g
        WHERE g.settlement_id = s.id AND g.status NOT IN ('paid', 'retained', 'void')
    )
"""


async def counts(lnbits: LnbitsProcess, table: str) -> Counter:
    rows = await lnbits.query(
        f"SELECT status, COUNT(*) AS n FROM satmachineadmin.{table} GROUP BY status"
    )
    return Counter({row["status"]: int(row["n"]) for row in rows})


async def wait_until_quiet(
    lnbits: LnbitsProcess,
    expected: int,
    *,
    stalled_after_s: float = STALLED_AFTER_S,
    limit_s: float = QUIET_LIMIT_S,
) -> float:
    """Until no leg is left to pay or being paid (a failed leg is judged later) and
    nothing changes between two looks; returns the wait. Fails when the legs make
    no progress for ``stalled_after_s`` (longer than a stale-claim takeover takes),
    or after ``limit_s`` in all, so a loaded machine only makes it slower. Reads
    the database: polling the API would take CPU from the worker."""
    start = last_change = time.monotonic()
    previous: tuple[Counter, Counter] | None = None
    while True:
        legs = await counts(lnbits, "payout_legs")
        settlements = await counts(lnbits, "settlements")
        now = time.monotonic()
        quiet = (
            sum(settlements.values()) == expected
            and not legs["pending"]
            and not legs["paying"]
        )
        if (legs, settlements) == previous:
            if quiet:
                return now - start
        else:
            last_change = now
        previous = (legs, settlements)
        if now - last_change > stalled_after_s or now - start > limit_s:
            break
        await asyncio.sleep(2.0)
    raise AssertionError(
        f"payouts not done {now - start:.0f} s after the last restart (no progress "
        f"for {now - last_change:.0f} s): settlements {dict(settlements)}, legs "
        f"{dict(legs)}\n--- log of {lnbits.name} ---\n{lnbits.log_tail(40)}"
    )


@dataclass
class LedgerReport:
    legs: int
    takeovers: int
    reconciled: int
    orphan_invoices: int
    completed: int = 0
    # What a crash left wrong, by kind: each one a failure of the test.
    problems: dict[str, list[str]] = field(default_factory=dict)

    def problems_summary(self) -> str:
        if not self.problems:
            return "none"
        return "".join(
            f"\n    {kind}: {len(items)}, e.g. {items[0]}"
            for kind, items in self.problems.items()
        )


async def check_ledger(
    http: httpx.AsyncClient,
    lnbits: LnbitsProcess,
    business: Business,
    *,
    tx_ids: list[str],
    before_msat: dict[str, int],
    logs: list[str],
) -> LedgerReport:
    """Every settlement once and settled, its sats accounted for, every leg paid by
    exactly one LNbits payment, and the wallets' total unchanged by the run.

    Asserts on the spot what no crash may explain; collects in ``problems`` what a
    crash in one of the WINDOWS left behind, with the leg or settlement, so that
    one run shows all of them (the caller fails on any)."""
    problems: dict[str, list[str]] = {}
    settlements = await all_settlements(http, business.operator)
    assert len(settlements) == len(tx_ids), (len(settlements), len(tx_ids))
    assert sorted(s["tx_id"] for s in settlements) == sorted(tx_ids)

    semaphore = asyncio.Semaphore(8)

    async def detail(settlement_id: str) -> dict:
        async with semaphore:
            return await call(
                http,
                "GET",
                f"{API}/settlements/{settlement_id}",
                token=business.operator.token,
            )

    details = await asyncio.gather(*(detail(s["id"]) for s in settlements))
    db_legs = {
        row["id"]: row
        for row in await lnbits.query("SELECT * FROM satmachineadmin.payout_legs")
    }
    api_legs = [leg for settlement in details for leg in settlement["legs"]]
    assert {leg["id"] for leg in api_legs} == set(db_legs), "API and DB legs differ"
    assert len(api_legs) == len(db_legs)

    # LNbits' side: every payment that names a leg.
    payments = [
        row
        for row in await lnbits.query(
            "SELECT wallet_id, payment_hash, amount, fee, status, extra, time "
            "FROM apipayments"
        )
        if _extra(row).get("leg_id")
    ]
    outgoing: dict[str, list[dict]] = {}
    incoming: dict[str, list[dict]] = {}
    for row in payments:
        side = outgoing if int(row["amount"]) < 0 else incoming
        side.setdefault(_extra(row)["leg_id"], []).append(row)
    assert set(outgoing) <= set(db_legs) and set(incoming) <= set(db_legs)

    # Per settlement: the amounts, and the status its legs call for.
    for settlement in details:
        legs = settlement["legs"]
        assert settlement["gross_sats"] == GROSS_SATS
        assert (
            sum(leg["sats"] for leg in legs)
            + settlement["unallocated_sats"]
            + settlement["undispensed_sats"]
            == settlement["gross_sats"]
        ), settlement
        fee_legs = {
            leg["label"]: leg["sats"]
            for leg in legs
            if leg["kind"] != "lp_distribution"
        }
        assert fee_legs == EXPECTED_FEE_LEGS, settlement
        for leg in legs:
            assert db_legs[leg["id"]]["status"] == leg["status"]
        statuses = {leg["status"] for leg in legs}
        if settlement["status"] != "settled" and statuses <= set(DONE):
            problems.setdefault("settled but status never written", []).append(
                f"settlement {settlement['id']} is '{settlement['status']}' with "
                "every leg paid"
            )
            continue
        if "failed" in statuses:
            assert settlement["status"] == "failed", settlement
            continue
        assert settlement["status"] == "settled", settlement

    takeovers = reconciled = orphans = 0
    lost_msat: Counter[str] = Counter()  # per payee wallet: paid out, never credited
    for leg_id, leg in db_legs.items():
        if leg["status"] == "retained":
            assert leg_id not in outgoing and leg_id not in incoming, leg
            continue
        paid_out = [p for p in outgoing.get(leg_id, []) if p["status"] == "success"]
        paid_in = [p for p in incoming.get(leg_id, []) if p["status"] == "success"]
        recorded = [
            p
            for p in incoming.get(leg_id, [])
            if p["payment_hash"] == leg["payment_hash"]
        ]
        # Never paid twice, whatever else happened.
        assert len(paid_out) <= 1 and len(paid_in) <= 1, (leg, paid_out, paid_in)
        assert all(p["status"] == "success" for p in outgoing.get(leg_id, [])), leg
        if leg["attempts"] > 1:
            takeovers += 1
        if leg["status"] == "failed":
            assert not paid_out and not paid_in, leg
            problems.setdefault("leg failed", []).append(
                f"leg {leg_id} ({leg['label']}, {leg['attempts']} attempts): "
                f"{leg['last_error']}; its recorded invoice is "
                f"{recorded[0]['status'] if recorded else 'missing'}"
            )
            continue
        assert leg["status"] == "paid", leg
        assert len(paid_out) == 1, (leg, outgoing.get(leg_id))
        out = paid_out[0]
        assert out["wallet_id"] == leg["source_wallet_id"] == business.machine_wallet_id
        assert out["payment_hash"] == leg["payment_hash"]
        assert -int(out["amount"]) == leg["sats"] * 1000 and int(out["fee"] or 0) == 0
        assert leg["last_error"] is None, leg
        if leg["attempts"] > 1 and _epoch(out["time"]) < int(leg["claimed_at"]) - 1:
            reconciled += 1  # paid by the dead worker, recorded by the next
        if not paid_in:
            # The payer's side of the internal payment committed, the payee's not.
            assert recorded and recorded[0]["status"] != "success", (leg, recorded)
            problems.setdefault("paid out, never credited", []).append(
                f"leg {leg_id} ({leg['label']}): {leg['sats']} sats left the machine "
                f"wallet; its invoice in wallet {leg['wallet_id']} is "
                f"'{recorded[0]['status']}'"
            )
            lost_msat[leg["wallet_id"]] += leg["sats"] * 1000
            continue
        into = paid_in[0]
        assert into["wallet_id"] == leg["wallet_id"]
        assert int(into["amount"]) == leg["sats"] * 1000
        assert into["payment_hash"] == leg["payment_hash"]
        # Never paid: invoices made by a worker that died before recording them,
        # or replaced after LNbits gave up on them at a restart.
        orphans += len(incoming[leg_id]) - 1
        assert all(
            p["status"] != "success" for p in incoming[leg_id] if p is not into
        ), incoming[leg_id]

    # Conservation: what the run moved, it moved between these wallets only (less
    # what was debited without being credited, reported above).
    after_msat = await business.balances_msat(http)
    assert set(after_msat) == set(before_msat)
    assert sum(after_msat.values()) == sum(before_msat.values()) - sum(
        lost_msat.values()
    ), (before_msat, after_msat, lost_msat)
    gained_msat: Counter[str] = Counter()
    for leg in db_legs.values():
        if leg["status"] == "paid":
            gained_msat[leg["wallet_id"]] += leg["sats"] * 1000
            gained_msat[leg["source_wallet_id"]] -= leg["sats"] * 1000
    gained_msat.subtract(lost_msat)
    for wallet_id in after_msat:
        assert after_msat[wallet_id] - before_msat[wallet_id] == gained_msat[wallet_id]
    # The LNbits ledger agrees with what it reports to the owners.
    view = {
        row["wallet_id"]: int(row["balance"])
        for row in await lnbits.query("SELECT wallet_id, balance FROM balances")
    }
    assert {w: view.get(w, 0) for w in after_msat} == after_msat
    # No LP was given more than it deposited.
    lps = await call(http, "GET", f"{API}/lps", token=business.operator.token)
    assert all(not lp["balance"].startswith("-") for lp in lps), lps

    # Failed attempts leave only a log line when a retry then succeeded.
    completed = 0
    for log in logs:
        for line in log.splitlines():
            if "satmachineadmin: paying leg" in line or re.search(
                r"satmachineadmin: leg [0-9a-f]+ failed", line
            ):
                problems.setdefault("failed attempt", []).append(line[:300])
            completed += "completing LNbits' interrupted internal payment" in line
    return LedgerReport(
        len(db_legs), takeovers, reconciled, orphans, completed, problems
    )


# --- killing LNbits inside a chosen window --------------------------------------------


@dataclass
class Kill:
    target: str
    hit: bool
    probes: int
    at_s: float
    posted: int
    legs: Counter
    restart_s: float = 0.0

    def __str__(self) -> str:
        where = "hit" if self.hit else "MISSED, killed anyway"
        return (
            f"t={self.at_s:5.1f}s in {self.target} ({where} after {self.probes} "
            f"looks) posted={self.posted:3d} paying={self.legs.get('paying', 0)} "
            f"pending={self.legs.get('pending', 0)} paid={self.legs.get('paid', 0)} "
            f"restart={self.restart_s:.1f}s"
        )


class Crasher:
    """SIGKILLs LNbits at a random moment inside a given crash window: freezes it
    (SIGSTOP) at random moments until the database shows it there."""

    def __init__(self, lnbits: LnbitsProcess, rng: random.Random) -> None:
        self.lnbits = lnbits
        self.rng = rng
        # Claims and stuck settlements a previous kill left: not the live worker's.
        self.dead_claims: set[tuple[str, int]] = set()
        self.stuck: set[str] = set()
        # Whether the last look found a leg of the live worker being paid.
        self.paying = False

    async def windows(self, reader: DbReader) -> set[str]:
        legs = [
            leg
            for leg in await reader.fetch(
                "SELECT id, attempts, payment_hash FROM satmachineadmin.payout_legs "
                "WHERE status = 'paying'"
            )
            if (leg["id"], leg["attempts"]) not in self.dead_claims
        ]
        self.paying = bool(legs)
        found = set()
        hashes = [leg["payment_hash"] for leg in legs if leg["payment_hash"]]
        payments = (
            await reader.fetch(
                "SELECT payment_hash, amount, status FROM apipayments "
                f"WHERE payment_hash IN ({_hashes_sql(hashes)})"
            )
            if hashes
            else []
        )
        for leg in legs:
            mine = [p for p in payments if p["payment_hash"] == leg["payment_hash"]]
            out = [p for p in mine if int(p["amount"]) < 0]
            into = [p for p in mine if int(p["amount"]) > 0]
            if not leg["payment_hash"]:
                found.add("claimed")
            elif not out:
                found.add("invoice-unpaid")
            elif into and into[0]["status"] == "pending":
                found.add("half-paid")
            else:
                found.add("paid-unrecorded")
        stuck = await reader.fetch(SETTLED_IN_ALL_BUT_STATUS)
        if {row["id"] for row in stuck} - self.stuck:
            found.add("status-unwritten")
        return found

    async def kill_in(
        self,
        target: str,
        *,
        posted: Callable[[], int],
        started: float,
        posting: asyncio.Event,
    ) -> Kill:
        """Settlements keep being posted while it looks (with the pipeline
        drained, only new ones can bring a window); ``posting`` is cleared from
        the kill until LNbits is back."""
        lnbits = self.lnbits
        # Legs paid side by side finish close together: the window between the
        # last one and the settlement's status is narrow, and takes looking for.
        deadline = time.monotonic() + 60
        probes = 0
        hit = False
        async with lnbits.reader(busy_timeout_s=0.05) as reader:
            while True:
                lnbits.pause()
                probes += 1
                try:
                    hit = target in await self.windows(reader)
                except DbBusy:  # frozen in mid-commit: look again later
                    hit = False
                if hit or time.monotonic() > deadline:
                    break
                lnbits.resume()
                # Nothing being paid: let LNbits land the next settlements (it is
                # frozen at every look) before looking again.
                idle = 0.0 if self.paying else 0.25
                await asyncio.sleep(idle + self.rng.uniform(0.001, 0.03))
            posting.clear()
            lnbits.kill()
        kill = Kill(
            target=target,
            hit=hit,
            probes=probes,
            at_s=time.monotonic() - started,
            posted=posted(),
            legs=await counts(lnbits, "payout_legs"),
        )
        self.dead_claims |= {
            (leg["id"], leg["attempts"])
            for leg in await lnbits.query(
                "SELECT id, attempts FROM satmachineadmin.payout_legs "
                "WHERE status = 'paying'"
            )
        }
        self.stuck |= {
            row["id"] for row in await lnbits.query(SETTLED_IN_ALL_BUT_STATUS)
        }
        restarting = time.monotonic()
        await lnbits.start()
        posting.set()
        kill.restart_s = time.monotonic() - restarting
        return kill


# --- the crash test -------------------------------------------------------------------


@asynccontextmanager
async def lnbits_on(database: str) -> AsyncIterator[LnbitsProcess]:
    async with AsyncExitStack() as stack:
        url = None
        if database == "postgres":
            server = os.environ.get(PG_URL_ENV)
            if not server:
                pytest.skip(f"PostgreSQL run only: {PG_URL_ENV} is not set")
            url = await stack.enter_async_context(fresh_postgres_database(server))
        yield await stack.enter_async_context(
            LnbitsProcess(database_url=url, name=f"crash-{database}")
        )


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_sigkill_during_payouts_pays_every_leg_exactly_once(database):
    seed = int(os.environ.get("SATMACHINEADMIN_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    started = time.monotonic()
    async with (
        lnbits_on(database) as lnbits,
        httpx.AsyncClient(base_url=lnbits.url, timeout=20) as http,
    ):
        super_user = await first_install(http)
        business = await build_business(
            http, super_user, fund_sats=GROSS_SATS * CRASH_SETTLEMENTS + 50_000
        )
        before_msat = await business.balances_msat(http)
        assert sum(before_msat.values()) == business.funded_sats * 1000

        tx_ids = [f"crash-{i:03d}-{uuid.uuid4().hex[:8]}" for i in range(200)]
        up = asyncio.Event()
        up.set()
        answers: Counter = Counter()

        async def post_all() -> None:
            for tx_id in tx_ids:
                for _ in range(200):
                    await up.wait()
                    try:
                        response = await http.post(
                            f"{API}/settlements/manual",
                            json=business.settlement_body(tx_id),
                            headers={
                                "Authorization": f"Bearer {business.operator.token}"
                            },
                        )
                    except httpx.TransportError:
                        answers["lost"] += 1  # killed: send it again once it is back
                        await asyncio.sleep(0.05)
                        continue
                    assert response.status_code in (200, 201), response.text
                    assert response.json()["tx_id"] == tx_id
                    answers[response.status_code] += 1
                    break
                else:
                    raise AssertionError(f"could not land {tx_id}")

        # One kill in each window, in a random order, each at a random moment.
        targets = list(WINDOWS)
        rng.shuffle(targets)
        crasher = Crasher(lnbits, rng)
        run_started = time.monotonic()
        poster = asyncio.create_task(post_all())
        kills: list[Kill] = []
        try:
            for target in targets:
                await asyncio.sleep(rng.uniform(0.3, 2.0))
                kills.append(
                    await crasher.kill_in(
                        target,
                        posted=lambda: answers[200] + answers[201],
                        started=run_started,
                        posting=up,
                    )
                )
            await asyncio.wait_for(poster, 300)
        finally:
            poster.cancel()
        # Each landed once; a re-sent one the dead process had stored is a 200.
        assert answers[200] + answers[201] == CRASH_SETTLEMENTS, answers
        assert answers[200] <= answers["lost"], answers

        waited = await wait_until_quiet(lnbits, CRASH_SETTLEMENTS)
        report = await check_ledger(
            http,
            lnbits,
            business,
            tx_ids=tx_ids,
            before_msat=before_msat,
            logs=[lnbits.log_text()],
        )
        print(
            f"\n[crash/{database}] seed={seed} kills={len(kills)} POSTs lost to a "
            f"kill={answers['lost']} (re-sent and found stored: {answers[200]})\n"
            + "".join(f"  kill {i + 1}: {k}\n" for i, k in enumerate(kills))
            + f"  legs={report.legs} takeovers={report.takeovers} (the dead worker "
            f"had already paid: {report.reconciled}) orphan invoices="
            f"{report.orphan_invoices} interrupted internal payments completed="
            f"{report.completed}\n"
            f"  problems: {report.problems_summary()}\n"
            f"  quiet {waited:.1f}s after the last restart; total "
            f"{time.monotonic() - started:.1f}s"
        )
        assert all(kill.hit for kill in kills), "a crash window was never reached"
        assert not report.problems, report.problems_summary()


# --- two processes on one database ----------------------------------------------------


async def test_two_processes_on_one_postgres_database_pay_each_leg_once():
    server = os.environ.get(PG_URL_ENV)
    if not server:
        pytest.skip(f"PostgreSQL only: {PG_URL_ENV} is not set")
    started = time.monotonic()
    shared_key = uuid.uuid4().hex  # a token issued by A is valid on B
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_postgres_database(server))
        a = await stack.enter_async_context(
            LnbitsProcess(database_url=url, name="twin-a", auth_secret_key=shared_key)
        )
        http_a = await stack.enter_async_context(
            httpx.AsyncClient(base_url=a.url, timeout=30)
        )
        super_user = await first_install(http_a)
        # B starts on a database A has migrated and installed.
        b = await stack.enter_async_context(
            LnbitsProcess(database_url=url, name="twin-b", auth_secret_key=shared_key)
        )
        http_b = await stack.enter_async_context(
            httpx.AsyncClient(base_url=b.url, timeout=30)
        )
        business = await build_business(
            http_a, super_user, fund_sats=GROSS_SATS * TWIN_SETTLEMENTS + 10_000
        )
        before_msat = await business.balances_msat(http_b)
        assert sum(before_msat.values()) == business.funded_sats * 1000

        tx_ids = [f"twin-{i:03d}-{uuid.uuid4().hex[:8]}" for i in range(50)]
        semaphore = asyncio.Semaphore(16)

        async def post(http: httpx.AsyncClient, tx_id: str) -> tuple[int, str]:
            async with semaphore:
                response = await http.post(
                    f"{API}/settlements/manual",
                    json=business.settlement_body(tx_id),
                    headers={"Authorization": f"Bearer {business.operator.token}"},
                )
            assert response.status_code in (200, 201), response.text
            return response.status_code, response.json()["id"]

        answers = await asyncio.gather(
            *(post(http, tx_id) for tx_id in tx_ids for http in (http_a, http_b))
        )
        for i in range(len(tx_ids)):
            (code_a, id_a), (code_b, id_b) = answers[2 * i], answers[2 * i + 1]
            assert id_a == id_b and sorted((code_a, code_b)) == [200, 201]

        waited = await wait_until_quiet(b, TWIN_SETTLEMENTS)
        report = await check_ledger(
            http_a,
            a,
            business,
            tx_ids=tx_ids,
            before_msat=before_msat,
            logs=[a.log_text(), b.log_text()],
        )
        paid_by = {
            p.name: p.log_text().count("internal payment successful") for p in (a, b)
        }
        print(
            f"\n[twins/postgres] settlements={TWIN_SETTLEMENTS} legs={report.legs} "
            f"internal payments made by each process={paid_by} "
            f"problems: {report.problems_summary()}; "
            f"quiet after {waited:.1f}s; total {time.monotonic() - started:.1f}s"
        )
        assert not report.problems, report.problems_summary()
