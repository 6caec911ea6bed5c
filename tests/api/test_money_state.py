"""The money stays whole over any sequence of operations (a stateful property test).

Hypothesis draws a business configuration (platform fee, split rules) and a list of
operations — LP deposits, manual and RPC cash-outs with partial dispenses, LP
balance settlements (some refused by LNbits, then retried or voided), target
wallets deleted and restored, retries, payout workers alone or two at once — and
runs them one by one against a fresh business in the in-process LNbits. After every
step the invariants below must hold; at the end the business is drained (wallets
restored, sources topped up, everything retried) and every leg must then be paid or
voided.

1. No LP balance is negative, and ``GET /lp/me`` agrees with ``GET /lps``; a
   balance settlement is held from the balance until paid, distributed once paid.
2. No sat is lost or invented: the wallets involved hold exactly what funding put
   in, and each holds what the paid legs say it should.
3. No leg is paid twice: at most one successful LNbits payment (out of the source,
   into the target) carries a leg's id, exactly one if the leg is ``paid``.
4. Every cash-out settlement adds up: legs + unallocated + undispensed == gross.
5. No LP is debited beyond its confirmed deposits.

The app's own payout worker is paused for the test, so that payouts happen only in
the steps that ask for them and every check reads a state at rest.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from in_process_rpc import Atm, register
from super_config import SuperConfigSetter

from helpers import API, EXT_ID, Actor, enrol_lp, fund
from satmachineadmin import calculations, conversions, crud
from satmachineadmin.database import db
from satmachineadmin.rpc import RpcServer
from satmachineadmin.services import payouts, sending

# A longer soak: SATMACHINEADMIN_STATE_EXAMPLES=500 .venv/bin/pytest tests/...
MAX_EXAMPLES = int(os.environ.get("SATMACHINEADMIN_STATE_EXAMPLES", "25"))
MAX_STEPS = 16
N_LPS = 2
LNBITS_RATE_MINOR = 500_000_00  # conftest pins GTQ at 500000.00 per BTC
TOLERANCE_BPS = 200
LP_RATE_TOLERANCE_BPS = 500  # the platform's default for balance settlements
DONE = set(payouts.DONE)

# The real worker pass: the app's background worker is replaced by a no-op below.
process_due = payouts.process_due


def minor_str(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def to_minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


# --- operations ------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    fee_bps: int
    fee_basis: str
    weights: tuple[int, ...]  # self, employee, maintenance; () = no split rules
    deposits: tuple[int, ...] = ()  # a confirmed deposit per LP to start; 0: none


@dataclass(frozen=True)
class Deposit:
    lp: int
    minor: int
    confirm: bool


@dataclass(frozen=True)
class ConfirmPending:
    pick: int


@dataclass(frozen=True)
class ManualCashOut:
    fiat_minor: int
    rate_minor: int
    deviation_bps: int  # principal vs fiat at the rate; beyond 200 it is refused
    fee_sats: int


@dataclass(frozen=True)
class RpcCashOut:
    fiat_minor: int
    deviation_bps: int
    fee_sats: int
    dispensed_permille: int
    report: bool  # False: paid, the machine never reports (the sats just stay)
    replay: bool  # the machine repeats its report


@dataclass(frozen=True)
class SettleBalance:
    lp: int
    percent: int | None  # of the remaining balance; None: all of it
    rate_minor: int | None  # the operator's rate; None: LNbits' rate
    top_up: int  # sats put into the paying wallet first
    from_machine: bool
    refused: bool = False  # LNbits refuses the payment (held, to retry or void)


@dataclass(frozen=True)
class VoidFailed:
    pick: int  # which failed balance settlement of the worklist


@dataclass(frozen=True)
class Break:
    target: int  # employee, maintenance, LP 0, LP 1


@dataclass(frozen=True)
class Fix:
    target: int


@dataclass(frozen=True)
class Retry:
    with_worker: bool
    top_up: int  # sats the operator puts into their wallet first


@dataclass(frozen=True)
class Work:
    workers: int


Op = (
    Deposit
    | ConfirmPending
    | ManualCashOut
    | RpcCashOut
    | SettleBalance
    | VoidFailed
    | Break
    | Fix
    | Retry
    | Work
)


@st.composite
def configs(draw: st.DrawFn) -> Config:
    fee_bps = draw(st.sampled_from([0, 3000, 10_000]) | st.integers(0, 10_000))
    basis = draw(st.sampled_from(["commission", "principal"]))
    deposits = tuple(
        draw(
            st.lists(
                st.just(0) | st.integers(1, 200_000), min_size=N_LPS, max_size=N_LPS
            )
        )
    )
    weights: tuple[int, ...] = ()
    if draw(st.integers(0, 4)):
        cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=2, max_size=2)))
        weights = (cuts[0], cuts[1] - cuts[0], 10_000 - cuts[1])
        if 0 in weights:
            weights = (5000, 3000, 2000)
    return Config(fee_bps, basis, weights, deposits)


@st.composite
def few_sats_cash_outs(draw: st.DrawFn) -> ManualCashOut:
    """A cash-out of 1 to 5 sats for up to 3.00 of fiat, at the exact rate: a
    currency worth less than a sat per cent, where an LP's share can be 0 sats."""
    sats = draw(st.sampled_from([1, 2, 4, 5]))
    fiat_minor = draw(st.integers(2, 300))
    return ManualCashOut(
        fiat_minor=fiat_minor,
        rate_minor=fiat_minor * conversions.SATS_PER_BTC // sats,
        deviation_bps=0,
        fee_sats=draw(st.integers(0, 3)),
    )


lp_index = st.integers(0, N_LPS - 1)
fiat = st.integers(1, 150_000) | st.integers(1, 300)
operations = st.one_of(
    st.builds(
        Deposit,
        lp=lp_index,
        minor=st.integers(1, 200_000) | st.integers(1, 500),
        confirm=st.sampled_from([True, True, True, False]),
    ),
    st.builds(ConfirmPending, pick=st.integers(0, 10)),
    st.builds(
        ManualCashOut,
        fiat_minor=fiat,
        rate_minor=st.just(LNBITS_RATE_MINOR) | st.integers(1_000_000, 10**11),
        deviation_bps=st.integers(-190, 190) | st.integers(-400, 400),
        fee_sats=st.integers(0, 5_000) | st.just(0),
    ),
    few_sats_cash_outs(),
    st.builds(
        RpcCashOut,
        fiat_minor=fiat,
        deviation_bps=st.integers(-190, 190),
        fee_sats=st.integers(0, 5_000),
        dispensed_permille=st.sampled_from([1000, 0]) | st.integers(0, 1000),
        report=st.sampled_from([True, True, True, False]),
        replay=st.booleans(),
    ),
    st.builds(
        SettleBalance,
        lp=lp_index,
        percent=st.none() | st.integers(0, 120),
        # An operator's rate further than LP_RATE_TOLERANCE_BPS from LNbits' is
        # refused now: draw rates around it too, or nearly all would be.
        rate_minor=st.one_of(
            st.none(),
            st.none(),
            st.integers(470_000_00, 530_000_00),
            st.integers(10_000_00, 5_000_000_00),
        ),
        # Mostly enough to pay: what cannot be paid is refused up front now.
        top_up=st.sampled_from([0, 1_000_000, 1_000_000]) | st.integers(0, 300_000),
        from_machine=st.sampled_from([False, False, False, True]),
        refused=st.sampled_from([False, False, True]),
    ),
    st.builds(VoidFailed, pick=st.integers(0, 10)),
    st.builds(Break, target=st.integers(0, 3)),
    st.builds(Fix, target=st.integers(0, 3)),
    st.builds(
        Retry,
        with_worker=st.booleans(),
        top_up=st.sampled_from([0, 0, 1_000_000]),
    ),
    st.builds(Work, workers=st.sampled_from([1, 1, 2])),
)


# --- the business ----------------------------------------------------------------


async def together(*steps: Awaitable[Any]) -> None:
    """Runs the steps at once and returns only when every one has finished, then
    raises the first failure. asyncio.gather raises the first failure at once and
    leaves the other steps running: a payout pass left behind goes on paying legs
    while Hypothesis replays and shrinks the example, and the replay's invariants
    are read from a business that is not at rest (a leg seen 'paying', a wallet's
    balance read between LNbits' two writes of an internal payment)."""
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def payments_in_flight(wallet_ids: list[str]) -> list[str]:
    """The wallets LNbits is paying from right now (it holds a lock per wallet for
    the length of a payment)."""
    from lnbits.core.services.payments import wallets_payments_lock

    return [
        wallet_id
        for wallet_id in wallet_ids
        if (lock := wallets_payments_lock.get(wallet_id)) and lock.locked()
    ]


async def refuse_payment(**kwargs: Any) -> Any:
    """LNbits refusing a payment after the settlement passed its checks (the
    paying wallet emptied meanwhile, a per-wallet limit)."""
    from lnbits.exceptions import PaymentError

    raise PaymentError("Insufficient balance.", status="failed")


async def quick_user(prefix: str) -> Actor:
    """A fresh LNbits account with the extension enabled, made the way /auth and
    /extension/…/enable make one, without /auth/register's password hashing
    (~280 ms here): what the API sees is the same."""
    from lnbits.core.crud.extensions import create_user_extension
    from lnbits.core.models import Account
    from lnbits.core.models.extensions import UserExtension
    from lnbits.core.services.users import create_user_account_no_ckeck
    from lnbits.helpers import create_access_token

    username = f"{prefix[:8]}{uuid.uuid4().hex[:8]}"
    user = await create_user_account_no_ckeck(
        Account(id=uuid.uuid4().hex, username=username)
    )
    await create_user_extension(
        UserExtension(user=user.id, extension=EXT_ID, active=True)
    )
    return Actor(
        id=user.id,
        username=username,
        token=create_access_token({"sub": username, "usr": user.id}),
        wallets=[{"id": wallet.id} for wallet in user.wallets],
    )


async def other_wallets(count: int) -> list[Actor]:
    """Wallets of one fresh account (no token: they only receive and pay)."""
    from lnbits.core.crud.wallets import create_wallet
    from lnbits.core.models import Account
    from lnbits.core.services.users import create_user_account_no_ckeck

    username = f"others{uuid.uuid4().hex[:8]}"
    user = await create_user_account_no_ckeck(
        Account(id=uuid.uuid4().hex, username=username)
    )
    wallet_ids = [user.wallets[0].id]
    for n in range(1, count):
        wallet = await create_wallet(user_id=user.id, wallet_name=f"wallet {n}")
        wallet_ids.append(wallet.id)
    return [
        Actor(id=user.id, username=username, token="", wallets=[{"id": wallet_id}])
        for wallet_id in wallet_ids
    ]


def principal_for(fiat_minor: int, rate_minor: int, deviation_bps: int) -> int:
    """Sats for the fiat at the rate (fiat per BTC, in cents), off by deviation."""
    return calculations.round_half_up(
        fiat_minor * conversions.SATS_PER_BTC * (10_000 + deviation_bps),
        rate_minor * 10_000,
    )


def agrees(principal: int, fiat_minor: int, rate_minor: int) -> bool:
    return conversions.principal_matches_fiat(
        principal_sats=principal,
        fiat_minor=fiat_minor,
        fiat_exponent=2,
        rate_numerator=rate_minor,
        rate_denominator=100,
        tolerance_bps=TOLERANCE_BPS,
    )


def detail(response: Any) -> str:
    body = response.json()
    return str(body.get("detail") or body.get("message") or "")


@dataclass
class Business:
    client: Any
    server: RpcServer
    config: Config
    super_config: SuperConfigSetter
    operator: Actor = field(init=False)
    platform: str = field(init=False)
    employee: Actor = field(init=False)
    maintenance: Actor = field(init=False)
    lps: list[Actor] = field(init=False)
    enrolments: list[str] = field(init=False)
    customer: Actor = field(init=False)
    machine: dict = field(init=False)
    atm: Atm = field(init=False)
    funded: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)  # customers' payments
    confirmed: Counter[str] = field(default_factory=Counter)
    pending: list[tuple[str, str, int]] = field(default_factory=list)
    confirmed_ids: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    moved_ids: set[str] = field(default_factory=set)  # legs whose sats moved
    checks: int = 0

    async def build(self) -> Business:
        client = self.client
        self.operator = await quick_user("op")
        self.lps = [await quick_user("lp") for _ in range(N_LPS)]
        # The platform's, the employee's, the maintenance's and a customer's
        # wallets: they never call the API, one account holds them all.
        others = await other_wallets(4)
        self.platform = others[0].wallet_id
        self.employee, self.maintenance, self.customer = others[1:]
        # The platform wallet is the super user's for this example.
        response = await self.super_config.put(
            {
                "cash_out_fee_bps": self.config.fee_bps,
                "cash_out_fee_basis": self.config.fee_basis,
                "super_wallet_id": self.platform,
                "amount_tolerance_bps": TOLERANCE_BPS,
                # Any commission the example draws lands, its difference from
                # the schedule recorded: pricing is test_rpc_fees' business.
                "fee_enforcement": "record",
            }
        )
        assert response.status_code == 200, response.text
        if self.config.weights:
            wallets = (
                self.operator.wallet_id,
                self.employee.wallet_id,
                self.maintenance.wallet_id,
            )
            rules = [
                {"label": label, "wallet_id": wallet, "weight_bps": weight}
                for label, wallet, weight in zip(
                    ("self", "employee", "maintenance"),
                    wallets,
                    self.config.weights,
                    strict=True,
                )
            ]
            response = await client.put(
                f"{API}/splits", json={"rules": rules}, headers=self.operator.headers
            )
            assert response.status_code == 200, response.text
        self.atm = Atm(self.server)
        self.machine = await register(client, self.operator, self.atm, name="Prop ATM")
        self.enrolments = []
        for lp in self.lps:
            enrolment = await enrol_lp(client, self.operator, lp)
            self.enrolments.append(enrolment["id"])
        return self

    @property
    def breakable(self) -> list[tuple[str, str]]:
        """(user id, wallet id) of the wallets a step may delete."""
        return [
            (self.employee.id, self.employee.wallet_id),
            (self.maintenance.id, self.maintenance.wallet_id),
            *((lp.id, lp.wallet_id) for lp in self.lps),
        ]

    @property
    def wallets(self) -> list[str]:
        return [
            self.platform,
            self.operator.wallet_id,
            self.employee.wallet_id,
            self.maintenance.wallet_id,
            *(lp.wallet_id for lp in self.lps),
            self.machine["wallet_id"],
            self.customer.wallet_id,
        ]

    async def fund(self, wallet_id: str, sats: int) -> None:
        if sats > 0:
            await fund(wallet_id, sats)
            self.funded[wallet_id] += sats

    # --- reading the state ---------------------------------------------------

    async def legs(self) -> list[dict]:
        rows: list[Any] = await db.fetchall(
            "SELECT * FROM satmachineadmin.payout_legs WHERE operator_id = :op "
            "ORDER BY settlement_id, position",
            {"op": self.operator.id},
        )
        return [dict(row) for row in rows]

    async def settlements(self) -> list[dict]:
        rows: list[Any] = await db.fetchall(
            "SELECT * FROM satmachineadmin.settlements WHERE operator_id = :op",
            {"op": self.operator.id},
        )
        return [dict(row) for row in rows]

    async def payments(self) -> list[dict]:
        """Every LNbits payment row of the wallets involved, deleted or not."""
        from lnbits.core.db import db as core_db

        names = {f"w{i}": wallet for i, wallet in enumerate(self.wallets)}
        rows: list[Any] = await core_db.fetchall(
            "SELECT wallet_id, amount, fee, status, extra FROM apipayments "
            f"WHERE wallet_id IN ({', '.join(f':{name}' for name in names)})",
            names,
        )
        payments = []
        for row in rows:
            payment = dict(row)
            extra = payment["extra"]
            payment["extra"] = (
                json.loads(extra) if isinstance(extra, str) else extra or {}
            )
            if not isinstance(payment["extra"], dict):
                payment["extra"] = {}
            payments.append(payment)
        return payments

    async def wallet_msat(self, payments: list[dict]) -> dict[str, int]:
        """Balances as LNbits' balances view computes them, deleted wallets kept."""
        held = dict.fromkeys(self.wallets, 0)
        for p in payments:
            amount = int(p["amount"])
            if (p["status"] == "success" and amount > 0) or (
                p["status"] in ("success", "pending") and amount < 0
            ):
                held[p["wallet_id"]] += amount - abs(int(p["fee"] or 0))
        return held

    async def shown_msat(self) -> dict[str, int]:
        """The balances LNbits shows (get_wallet's), by wallet."""
        from lnbits.core.db import db as core_db

        names = {f"w{i}": wallet for i, wallet in enumerate(self.wallets)}
        rows: list[Any] = await core_db.fetchall(
            "SELECT wallet_id, balance FROM balances "
            f"WHERE wallet_id IN ({', '.join(f':{name}' for name in names)})",
            names,
        )
        return {row["wallet_id"]: int(row["balance"]) for row in rows}

    async def lp_rows(self) -> dict[str, dict]:
        response = await self.client.get(f"{API}/lps", headers=self.operator.headers)
        assert response.status_code == 200, response.text
        return {row["id"]: row for row in response.json()}

    async def balance_minor(self, lp: int) -> int:
        return to_minor((await self.lp_rows())[self.enrolments[lp]]["balance"])

    async def wallet_balance(self, wallet_id: str) -> int:
        return (await self.wallet_msat(await self.payments()))[wallet_id] // 1000

    # --- the invariants --------------------------------------------------------

    async def check(self, *, every_lp: bool = False) -> None:
        """The invariants. ``GET /lp/me`` is asked of one LP per call, in turn
        (of every LP with ``every_lp``): it costs a few queries per LP."""
        self.checks += 1
        from lnbits.core.crud import get_wallet

        # The invariants hold at rest: every step has returned, and nothing pays.
        assert not payments_in_flight(self.wallets), (
            "a payment is still in flight while the invariants are read",
            payments_in_flight(self.wallets),
        )

        legs = await self.legs()
        settlements = await self.settlements()
        payments = await self.payments()

        # (1) and (5): LP balances, as the operator and as each LP see them.
        lp_rows = await self.lp_rows()
        assert set(lp_rows) == set(self.enrolments)
        for index, enrolment in enumerate(self.enrolments):
            row = lp_rows[enrolment]
            # A cash-out's LP leg is distributed from its landing on; a balance
            # settlement only once paid, and held from the balance until then.
            mine = [
                leg
                for leg in legs
                if leg["lp_enrolment_id"] == enrolment
                and (
                    leg["status"] == "paid"
                    if leg["kind"] == "lp_balance_settlement"
                    else leg["status"] != "void"
                )
            ]
            held_legs = [
                leg
                for leg in legs
                if leg["lp_enrolment_id"] == enrolment
                and leg["kind"] == "lp_balance_settlement"
                and leg["status"] in ("pending", "paying", "failed")
            ]
            fiat_out = sum(leg["fiat_minor"] or 0 for leg in mine)
            fiat_held = sum(leg["fiat_minor"] for leg in held_legs)
            pending = sum(m for e, _, m in self.pending if e == enrolment)
            assert to_minor(row["balance"]) >= 0, row
            assert to_minor(row["deposited"]) == self.confirmed[enrolment], row
            assert to_minor(row["pending_deposits"]) == pending, row
            assert to_minor(row["distributed"]) == fiat_out, row
            assert to_minor(row["held"]) == fiat_held, row
            assert to_minor(row["voided"]) == sum(
                leg["fiat_minor"]
                for leg in legs
                if leg["lp_enrolment_id"] == enrolment and leg["status"] == "void"
            ), row
            assert row["distributed_sats"] == sum(leg["sats"] for leg in mine), row
            assert row["held_sats"] == sum(leg["sats"] for leg in held_legs), row
            assert fiat_out + fiat_held <= self.confirmed[enrolment], (row, mine)
            assert to_minor(row["balance"]) == (
                self.confirmed[enrolment] - fiat_out - fiat_held
            )
            if not every_lp and index != self.checks % len(self.lps):
                continue
            me = await self.client.get(f"{API}/lp/me", headers=self.lps[index].headers)
            assert me.status_code == 200, me.text
            seen = [b for b in me.json()["balances"] if b["enrolment_id"] == enrolment]
            assert len(seen) == 1, me.json()
            for key in (
                "deposited",
                "pending_deposits",
                "distributed",
                "held",
                "voided",
                "balance",
                "distributed_sats",
                "held_sats",
            ):
                assert seen[0][key] == row[key], (key, seen[0], row)

        # (3): each leg paid at most once, exactly once when it says so.
        by_leg: dict[str, list[dict]] = {}
        for p in payments:
            leg_id = p["extra"].get("leg_id")
            if leg_id and p["status"] == "success":
                by_leg.setdefault(leg_id, []).append(p)
        assert set(by_leg) <= {leg["id"] for leg in legs}, "a payment of no leg"
        moved: list[dict] = []  # the legs whose sats did move
        for leg in legs:
            found = by_leg.get(leg["id"], [])
            out = [p for p in found if int(p["amount"]) < 0]
            into = [p for p in found if int(p["amount"]) > 0]
            assert len(out) <= 1 and len(into) <= 1, (leg, found)
            assert len(out) == len(into), (leg, found)
            assert leg["sats"] >= 0
            assert leg["status"] in ("pending", "failed", "paid", "retained") or (
                leg["status"] == "void" and leg["kind"] == "lp_balance_settlement"
            ), leg
            if out:
                assert out[0]["wallet_id"] == leg["source_wallet_id"], (leg, out)
                assert into[0]["wallet_id"] == leg["wallet_id"], (leg, into)
                assert -int(out[0]["amount"]) == int(into[0]["amount"])
                assert int(into[0]["amount"]) == 1000 * leg["sats"], (leg, into)
                moved.append(leg)
            # Sats moved exactly when the leg says it is paid.
            assert bool(out) == (leg["status"] == "paid"), (leg, found)
        for leg in moved:
            if leg["id"] not in self.moved_ids:
                # Nothing is ever paid into a wallet while it is deleted.
                assert leg["wallet_id"] not in self.deleted, ("paid a deleted", leg)
        self.moved_ids = {leg["id"] for leg in moved}

        # (2): conservation, in total and wallet by wallet.
        held = await self.wallet_msat(payments)
        assert sum(held.values()) == 1000 * sum(self.funded.values()), (
            held,
            self.funded,
        )
        expected = Counter({w: 1000 * s for w, s in self.funded.items()})
        for wallet, sats in self.moved.items():
            expected[wallet] += 1000 * sats
        for leg in moved:
            expected[leg["source_wallet_id"]] -= 1000 * leg["sats"]
            expected[leg["wallet_id"]] += 1000 * leg["sats"]
        # LNbits' own balances (its `balances` view, which get_wallet reads)
        # leave a deleted wallet out, and get_wallet does not return one at all:
        # the sums above count every wallet from its payments instead.
        shown = await self.shown_msat()
        for wallet in self.wallets:
            assert held[wallet] == expected[wallet], (wallet, held, expected)
            assert held[wallet] >= 0
            if wallet in self.deleted:
                assert wallet not in shown
                assert await get_wallet(wallet) is None
            else:
                assert shown.get(wallet, 0) == held[wallet], (wallet, shown, held)

        # (4): every cash-out adds up.
        by_settlement: dict[str, list[dict]] = {}
        for leg in legs:
            by_settlement.setdefault(leg["settlement_id"], []).append(leg)
        for s in settlements:
            assert s["direction"] == "cash_out"
            mine = by_settlement.get(s["id"], [])
            lp_legs = [leg for leg in mine if leg["kind"] == "lp_distribution"]
            assert (
                sum(leg["sats"] for leg in mine)
                + s["unallocated_sats"]
                + s["undispensed_sats"]
                == s["gross_sats"]
            ), (s, mine)
            assert (
                s["principal_sats"] + s["commission_sats"] + s["undispensed_sats"]
                == s["gross_sats"]
            )
            assert (
                s["platform_fee_sats"] + s["operator_fee_sats"]
                == (s["commission_sats"])
            )
            assert (
                s["lp_allocated_sats"] + s["unallocated_sats"] == (s["principal_sats"])
            )
            assert sum(leg["sats"] for leg in lp_legs) == s["lp_allocated_sats"]
            assert sum(leg["fiat_minor"] for leg in lp_legs) <= s["fiat_amount_minor"]
            if not any(leg["status"] in ("pending", "paying") for leg in mine):
                # At rest, the settlement's status is its legs'.
                assert s["status"] == payouts.settlement_status(mine), (s, mine)

    # --- the operations --------------------------------------------------------

    async def run(self, op: Op) -> None:
        if isinstance(op, Deposit):
            await self.deposit(op)
        elif isinstance(op, ConfirmPending):
            await self.confirm_pending(op)
        elif isinstance(op, ManualCashOut):
            await self.manual_cash_out(op)
        elif isinstance(op, RpcCashOut):
            await self.rpc_cash_out(op)
        elif isinstance(op, SettleBalance):
            await self.settle_balance(op)
        elif isinstance(op, VoidFailed):
            await self.void_failed(op)
        elif isinstance(op, Break):
            await self.set_deleted(op.target, deleted=True)
        elif isinstance(op, Fix):
            await self.set_deleted(op.target, deleted=False)
        elif isinstance(op, Retry):
            await self.fund(self.operator.wallet_id, op.top_up)
            if op.with_worker:
                await together(self.retry_all(), process_due())
            else:
                await self.retry_all()
        elif isinstance(op, Work):
            await together(*(process_due() for _ in range(op.workers)))
            legs = await self.legs()
            assert not [leg for leg in legs if leg["status"] in ("pending", "paying")]

    async def deposit(self, op: Deposit) -> None:
        enrolment = self.enrolments[op.lp]
        response = await self.client.post(
            f"{API}/lps/{enrolment}/deposits",
            json={"fiat_amount": minor_str(op.minor)},
            headers=self.operator.headers,
        )
        assert response.status_code == 201, response.text
        deposit_id = response.json()["id"]
        self.pending.append((enrolment, deposit_id, op.minor))
        if op.confirm:
            await self.confirm(len(self.pending) - 1)

    async def confirm(self, index: int) -> None:
        enrolment, deposit_id, minor = self.pending.pop(index)
        response = await self.client.put(
            f"{API}/deposits/{deposit_id}/confirm", headers=self.operator.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "confirmed"
        self.confirmed[enrolment] += minor
        self.confirmed_ids.append(deposit_id)

    async def confirm_pending(self, op: ConfirmPending) -> None:
        if self.pending:
            await self.confirm(op.pick % len(self.pending))
        elif self.confirmed_ids:  # confirming twice changes nothing
            deposit_id = self.confirmed_ids[op.pick % len(self.confirmed_ids)]
            response = await self.client.put(
                f"{API}/deposits/{deposit_id}/confirm", headers=self.operator.headers
            )
            assert response.status_code == 200, response.text

    async def manual_cash_out(self, op: ManualCashOut) -> None:
        principal = principal_for(op.fiat_minor, op.rate_minor, op.deviation_bps)
        gross = principal + op.fee_sats
        accepted = gross >= 1 and agrees(principal, op.fiat_minor, op.rate_minor)
        if accepted:
            await self.fund(self.machine["wallet_id"], gross)  # the customer's sats
        response = await self.client.post(
            f"{API}/settlements/manual",
            json={
                "machine_id": self.machine["id"],
                "direction": "cash_out",
                "principal_sats": principal,
                "fee_sats": op.fee_sats,
                "fee_override_reason": "the example's commission",
                "fiat_amount": minor_str(op.fiat_minor),
                "fiat_code": "GTQ",
                "exchange_rate": minor_str(op.rate_minor),
                "tx_id": uuid.uuid4().hex,
            },
            headers=self.operator.headers,
        )
        if not accepted:
            assert response.status_code == 400, response.text
            assert detail(response), response.text
            return
        assert response.status_code == 201, response.text
        settlement = response.json()
        assert settlement["gross_sats"] == gross
        assert settlement["undispensed_sats"] == 0

    async def rpc_cash_out(self, op: RpcCashOut) -> None:
        principal = principal_for(op.fiat_minor, LNBITS_RATE_MINOR, op.deviation_bps)
        amount = principal + op.fee_sats
        if amount < 1 or not agrees(principal, op.fiat_minor, LNBITS_RATE_MINOR):
            return  # the refusals are test_rpc_server's business
        tx_id = uuid.uuid4().hex
        invoice = await self.atm.call(
            "make_invoice",
            {
                "tx_id": tx_id,
                "amount_sats": amount,
                "principal_sats": principal,
                "fee_sats": op.fee_sats,
                "fiat_amount": minor_str(op.fiat_minor),
                "fiat_code": "GTQ",
                "exchange_rate": minor_str(LNBITS_RATE_MINOR),
            },
        )
        assert "result" in invoice, invoice
        from lnbits.core.services import pay_invoice

        await self.fund(self.customer.wallet_id, amount)
        await pay_invoice(
            wallet_id=self.customer.wallet_id,
            payment_request=invoice["result"]["bolt11"],
        )
        self.moved[self.customer.wallet_id] -= amount
        self.moved[self.machine["wallet_id"]] += amount
        if not op.report:
            return
        dispensed = op.fiat_minor * op.dispensed_permille // 1000
        report = {"tx_id": tx_id, "dispensed_fiat": minor_str(dispensed)}
        answer = await self.atm.call("report_dispense", report)
        assert "result" in answer, answer
        if op.replay:
            again = await self.atm.call("report_dispense", report)
            assert (
                again.get("result", {}).get("settlement_id")
                == (answer["result"]["settlement_id"])
            ), again
        response = await self.client.get(
            f"{API}/settlements/{answer['result']['settlement_id']}",
            headers=self.operator.headers,
        )
        settlement = response.json()
        scaled = conversions.scale_for_partial_dispense(
            principal_sats=principal,
            fee_sats=op.fee_sats,
            fiat_minor=op.fiat_minor,
            dispensed_fiat_minor=dispensed,
        )
        assert settlement["gross_sats"] == amount, settlement
        assert settlement["principal_sats"] == scaled.principal_sats
        assert settlement["commission_sats"] == scaled.fee_sats
        assert settlement["undispensed_sats"] == (
            amount - scaled.principal_sats - scaled.fee_sats
        )
        assert to_minor(settlement["fiat_amount"]) == dispensed

    async def settle_balance(self, op: SettleBalance) -> None:
        enrolment = self.enrolments[op.lp]
        source = self.machine["wallet_id"] if op.from_machine else None
        source = source or self.operator.wallet_id
        await self.fund(source, op.top_up)
        balance = await self.balance_minor(op.lp)
        requested = balance if op.percent is None else balance * op.percent // 100
        rate = LNBITS_RATE_MINOR if op.rate_minor is None else op.rate_minor
        sats = conversions.fiat_to_sats(
            fiat_minor=requested,
            fiat_exponent=2,
            rate_numerator=rate,
            rate_denominator=100,
        )
        body: dict[str, Any] = {"wallet_id": source}
        if op.percent is not None:
            body["fiat_amount"] = minor_str(requested)
        if op.rate_minor is not None:
            body["exchange_rate"] = minor_str(op.rate_minor)
        available = await self.wallet_balance(source)
        real_pay_invoice = sending.pay_invoice
        if op.refused:
            sending.pay_invoice = refuse_payment  # type: ignore[assignment]
        try:
            response = await self.client.post(
                f"{API}/lps/{enrolment}/settle",
                json=body,
                headers=self.operator.headers,
            )
        finally:
            sending.pay_invoice = real_pay_invoice  # type: ignore[assignment]
        # What cannot be paid (an operator's rate too far from LNbits', more
        # sats than the paying wallet holds, the LP's wallet gone) is refused
        # before anything is recorded now, instead of failing as a recorded leg.
        near = abs(rate - LNBITS_RATE_MINOR) * 10_000 <= (
            LP_RATE_TOLERANCE_BPS * LNBITS_RATE_MINOR
        )
        payable = available >= sats and self.lps[op.lp].wallet_id not in self.deleted
        if not (
            balance > 0 and 0 < requested <= balance and sats >= 1 and near and payable
        ):
            assert response.status_code == 400, (body, balance, response.text)
            assert detail(response), response.text
            return
        assert response.status_code == 201, (body, balance, response.text)
        settled = response.json()
        assert settled["sats"] == sats
        assert to_minor(settled["fiat_amount"]) == requested
        assert settled["status"] == ("failed" if op.refused else "paid"), settled

    async def void_failed(self, op: VoidFailed) -> None:
        """A failed balance settlement voided: its amount is the balance again."""
        headers = self.operator.headers
        failed = await self.client.get(
            f"{API}/worklist/balance-settlements", headers=headers
        )
        assert failed.status_code == 200, failed.text
        if not failed.json():
            return
        row = failed.json()[op.pick % len(failed.json())]
        assert row["status"] == "failed" and row["last_error"], row
        enrolment = row["enrolment_id"]
        before = (await self.lp_rows())[enrolment]
        response = await self.client.post(
            f"{API}/balance-settlements/{row['id']}/void", headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "void"
        after = (await self.lp_rows())[enrolment]
        amount = to_minor(row["fiat_amount"])
        assert to_minor(after["balance"]) == to_minor(before["balance"]) + amount
        assert to_minor(after["held"]) == to_minor(before["held"]) - amount
        assert to_minor(after["voided"]) == to_minor(before["voided"]) + amount
        again = await self.client.post(
            f"{API}/balance-settlements/{row['id']}/void", headers=headers
        )
        assert again.status_code == 409, again.text

    async def set_deleted(self, target: int, *, deleted: bool) -> None:
        from lnbits.core.crud import delete_wallet

        user_id, wallet_id = self.breakable[target]
        if (wallet_id in self.deleted) == deleted:
            return
        await delete_wallet(user_id=user_id, wallet_id=wallet_id, deleted=deleted)
        if deleted:
            self.deleted.add(wallet_id)
        else:
            self.deleted.discard(wallet_id)

    async def retry_all(self) -> None:
        client, headers = self.client, self.operator.headers
        worklist = await client.get(f"{API}/worklist", headers=headers)
        assert worklist.status_code == 200, worklist.text
        for settlement in worklist.json():
            assert any(leg["status"] == "failed" for leg in settlement["legs"])
            response = await client.post(
                f"{API}/settlements/{settlement['id']}/retry", headers=headers
            )
            assert response.status_code == 200, response.text
        listed = await client.get(f"{API}/balance-settlements", headers=headers)
        assert listed.status_code == 200, listed.text
        for row in listed.json():
            if row["status"] == "failed":
                response = await client.post(
                    f"{API}/balance-settlements/{row['id']}/retry", headers=headers
                )
                assert response.status_code == 200, response.text

    async def drain(self) -> None:
        """Whatever happened, the business can always be brought to rest with
        every leg paid: wallets restored, sources topped up, failures retried."""
        for _ in range(10):
            if not await process_due():
                break
        await self.check()
        for target in range(len(self.breakable)):
            await self.set_deleted(target, deleted=False)
        unpaid: Counter[str] = Counter()
        for leg in await self.legs():
            if leg["status"] not in DONE:
                unpaid[leg["source_wallet_id"]] += leg["sats"]
        for wallet, sats in unpaid.items():
            await self.fund(wallet, sats - await self.wallet_balance(wallet))
        await self.retry_all()
        for _ in range(10):
            if not await process_due():
                break
        await self.check(every_lp=True)
        legs = await self.legs()
        assert all(leg["status"] in DONE for leg in legs), [
            leg for leg in legs if leg["status"] not in DONE
        ]
        for settlement in await self.settlements():
            assert settlement["status"] == "settled", settlement
        from lnbits.core.crud import get_wallet

        held = await self.wallet_msat(await self.payments())
        for wallet_id in self.wallets:  # every wallet is back: LNbits shows it all
            shown = await get_wallet(wallet_id)
            assert shown is not None and shown.balance_msat == held[wallet_id]


# --- fixtures and the test -------------------------------------------------------


@pytest.mark.slow
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    config=configs(),
    ops=st.lists(operations, min_size=3, max_size=MAX_STEPS),
)
async def test_money_stays_whole_over_any_sequence(
    client, super_config, server, paused_worker, config: Config, ops: list[Op]
):
    # Hypothesis seeds `random` alike for every example; LNbits draws the
    # wallets' lightning addresses from it and would collide with the last ones.
    random.seed(uuid.uuid4().int)
    business = Business(client, server, config, super_config)
    await business.build()
    for lp, minor in enumerate(config.deposits):
        if minor:
            await business.deposit(Deposit(lp=lp, minor=minor, confirm=True))
    await business.check(every_lp=True)
    for op in ops:
        await business.run(op)
        await business.check()
    await business.drain()


# --- what the property test found, as minimal examples ----------------------------
# Each failed against the code as it was (b9ce979 fixed them); they stay as
# regression tests.


async def small_business(client, server, super_config, deposits: list[int]) -> Business:
    """No platform fee, no split rules, one confirmed deposit per LP."""
    random.seed(uuid.uuid4().int)
    config = Config(fee_bps=0, fee_basis="commission", weights=())
    business = Business(client, server, config, super_config)
    await business.build()
    for lp, minor in enumerate(deposits):
        await business.deposit(Deposit(lp=lp, minor=minor, confirm=True))
    return business


async def test_a_zero_sat_lp_leg_does_not_block_its_settlement(
    client, super_config, server, paused_worker
):
    """Was: the 0-sat leg stayed 'pending', LNbits refused its 0-sat invoice
    ('Amountless invoices not supported.') on every attempt and retry, and the
    settlement never settled."""
    business = await small_business(client, server, super_config, [100, 100])
    # 1.00 GTQ at 100000000.00 GTQ/BTC is exactly 1 sat; the two LPs cover
    # 0.50 GTQ each, and largest remainder gives the sat to the first: the second
    # LP's leg is 0 sats for 0.50 GTQ. (Any currency worth less than a sat per
    # minor unit — COP, ARS, VND, NGN… — meets this with small LP balances.)
    await business.manual_cash_out(
        ManualCashOut(fiat_minor=100, rate_minor=10**10, deviation_bps=0, fee_sats=0)
    )
    legs = await business.legs()
    assert [(leg["sats"], leg["fiat_minor"]) for leg in legs] == [(1, 50), (0, 50)]
    await process_due()
    await business.check(every_lp=True)
    assert [leg["status"] for leg in await business.legs()] == ["paid", "retained"]
    (settlement,) = await business.settlements()
    assert settlement["status"] == "settled"
    worklist = await client.get(f"{API}/worklist", headers=business.operator.headers)
    assert worklist.json() == []
    lps = await business.lp_rows()
    assert [lps[e]["balance"] for e in business.enrolments] == ["0.50", "0.50"]


async def test_a_leg_is_never_paid_into_a_wallet_deleted_since_its_invoice(
    client, super_config, server, paused_worker, monkeypatch
):
    """Was: the target wallet was checked only when the leg's invoice was made;
    a retry paid the recorded invoice into the since-deleted wallet (2000 sats
    gone from the operator's wallet), then LNbits raised 'Could not fetch wallet'
    and the leg was recorded as failed."""
    from lnbits.core.crud import delete_wallet
    from lnbits.exceptions import PaymentError

    business = await small_business(client, server, super_config, [10_000])
    operator, lp = business.operator, business.lps[0]
    # The leg's invoice is made, its payment fails. (An empty paying wallet made
    # it fail before; that is refused before anything is recorded now, so the
    # wallet is emptied "meanwhile": LNbits refuses this one payment.)
    await business.fund(operator.wallet_id, 10_000)
    real_pay_invoice = sending.pay_invoice

    async def refused_once(**kwargs: Any) -> Any:
        monkeypatch.setattr(sending, "pay_invoice", real_pay_invoice)
        raise PaymentError("Insufficient balance.", status="failed")

    monkeypatch.setattr(sending, "pay_invoice", refused_once)
    response = await client.post(
        f"{API}/lps/{business.enrolments[0]}/settle",
        json={"wallet_id": operator.wallet_id, "fiat_amount": "10.00"},
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    settled = response.json()
    assert (settled["status"], settled["last_error"]) == (
        "failed",
        "Insufficient balance.",
    )
    await business.set_deleted(2, deleted=True)  # the LP's wallet
    retried = await client.post(
        f"{API}/balance-settlements/{settled['id']}/retry", headers=operator.headers
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "failed"
    assert "no longer exists" in retried.json()["last_error"], retried.json()
    await business.check(every_lp=True)
    assert await business.wallet_balance(lp.wallet_id) == 0
    assert await business.wallet_balance(operator.wallet_id) == 10_000
    # Restored, the wallet gets the sats on the next retry, once.
    await business.set_deleted(2, deleted=False)
    retried = await client.post(
        f"{API}/balance-settlements/{settled['id']}/retry", headers=operator.headers
    )
    assert retried.json()["status"] == "paid", retried.json()
    await business.check(every_lp=True)
    assert await business.wallet_balance(lp.wallet_id) == 2000
    await delete_wallet(user_id=lp.id, wallet_id=lp.wallet_id, deleted=False)


@pytest.mark.slow
async def test_a_settled_settlement_does_not_go_back_to_processing(
    client, super_config, server, paused_worker, monkeypatch
):
    """Was: process_settlement read the legs, then wrote the status it derived
    with an unguarded UPDATE: a worker that read while another's leg was still
    'paying' wrote 'processing' after the other had written 'settled', and the
    settlement stayed 'processing' with every leg paid."""
    from lnbits.core.services import pay_invoice

    business = await small_business(client, server, super_config, [100_00, 100_00])
    await business.manual_cash_out(
        ManualCashOut(
            fiat_minor=100_00, rate_minor=LNBITS_RATE_MINOR, deviation_bps=0, fee_sats=0
        )
    )
    (settlement,) = await business.settlements()
    first, second = await business.legs()

    # Two workers, as two processes on one database would run them: worker B
    # pays the first leg slowly; worker A, meanwhile, pays the second and is done
    # while the first is still 'paying'; A's status write reaches the database
    # after B's. The delays only fix that interleaving.
    async def slow_pay_invoice(**kwargs: Any) -> Any:
        if kwargs["extra"]["leg_id"] == first["id"]:
            await asyncio.sleep(0.3)
        return await pay_invoice(**kwargs)

    write_status = crud.refresh_settlement_status
    writes: list[str] = []

    async def late_write(**kwargs: Any) -> Any:
        writes.append(kwargs["settlement_id"])
        if len(writes) == 1:  # worker A's, the first to finish its legs
            await asyncio.sleep(0.6)
        return await write_status(**kwargs)

    monkeypatch.setattr(sending, "pay_invoice", slow_pay_invoice)
    monkeypatch.setattr(crud, "refresh_settlement_status", late_write)
    worker_b = asyncio.create_task(payouts.process_settlement(settlement["id"]))
    while getattr(await crud.get_leg(leg_id=first["id"]), "status", None) != "paying":
        await asyncio.sleep(0.01)
    await asyncio.gather(payouts.process_settlement(settlement["id"]), worker_b)

    assert len(writes) == 2
    assert second["sats"] > 0
    assert {leg["status"] for leg in await business.legs()} == {"paid"}
    await business.check(every_lp=True)
    (settlement,) = await business.settlements()
    assert settlement["status"] == "settled"


@pytest.mark.slow
async def test_a_refused_balance_settlement_is_held_then_voided_or_paid(
    client, super_config, server, paused_worker
):
    """A balance settlement LNbits refuses to pay stays held (the balance is not
    free to settle or allocate again, nor distributed); voided, the amount is
    the balance again; retried, it is paid once."""
    business = await small_business(client, server, super_config, [100_00, 100_00])
    for lp in (0, 1):
        await business.settle_balance(
            SettleBalance(
                lp=lp,
                percent=50,
                rate_minor=None,
                top_up=20_000,
                from_machine=False,
                refused=True,
            )
        )
        await business.check(every_lp=True)
    rows = await business.lp_rows()
    assert [
        (rows[e]["balance"], rows[e]["held"], rows[e]["distributed"])
        for e in business.enrolments
    ] == [("50.00", "50.00", "0.00")] * 2
    await business.void_failed(VoidFailed(pick=0))
    await business.check(every_lp=True)
    await business.drain()  # retries the other one: paid
    rows = await business.lp_rows()
    assert sorted(
        (rows[e]["balance"], rows[e]["distributed"], rows[e]["voided"])
        for e in business.enrolments
    ) == [("100.00", "0.00", "50.00"), ("50.00", "50.00", "0.00")]


async def test_together_returns_only_when_every_step_has_finished():
    """A failed step does not leave its siblings running into the next example."""
    finished: list[str] = []

    async def fails() -> None:
        raise RuntimeError("one step fails")

    async def pays_on() -> None:
        await asyncio.sleep(0.05)
        finished.append("the other step")

    with pytest.raises(RuntimeError, match="one step fails"):
        await together(fails(), pays_on())
    assert finished == ["the other step"]
