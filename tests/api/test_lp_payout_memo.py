"""A scheduled LP payout tells the LP, in their wallet, whose machine's sales it
gathers and on which schedule, like every settlement's leg does."""

from __future__ import annotations

import time

import pytest
import pytest_asyncio
from lnbits.core.crud import get_standalone_payment
from payout_business import Business, wait_for_status

from helpers import API, fund
from satmachineadmin import crud
from satmachineadmin.services import lp_payouts


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config, monkeypatch):
    async def paused(now: int | None = None) -> int:
        return 0

    monkeypatch.setattr(lp_payouts, "pay_due", paused)  # the test drives payouts
    return await Business(client, super_user, make_user, super_config).build()


@pytest.mark.slow
async def test_the_payout_memo_names_operator_machine_sales_and_schedule(
    client, business
):
    lp = business.lps[0]
    plans = await client.get(f"{API}/lp/payout-plans", headers=lp.headers)
    (plan,) = plans.json()
    offered = await client.put(
        f"{API}/lps/{plan['enrolment_id']}/payout-schedules",
        json={"offered": ["threshold"]},
        headers=business.operator.headers,
    )
    assert offered.status_code == 200, offered.text
    chosen = await client.put(
        f"{API}/lp/payout-plans",
        json={
            "enrolment_id": plan["enrolment_id"],
            "schedule": "threshold",
            "threshold_sats": 100_000,
        },
        headers=lp.headers,
    )
    assert chosen.status_code == 200, chosen.text
    for _ in range(2):
        await fund(business.machine["wallet_id"], 100_100)
        settlement = await business.cash_out()
        done = await wait_for_status(
            client, business.operator, settlement["id"], "settled"
        )
        assert done["status"] == "settled", done
    (opened,) = await lp_payouts.make_due(int(time.time()))
    assert await lp_payouts.send_due(int(time.time())) == 1

    paid = await crud.get_lp_payout(payout_id=opened.id)
    assert paid is not None and paid.status == "paid"
    received = await get_standalone_payment(
        paid.payment_hash or "", incoming=True, wallet_id=lp.wallet_id
    )
    assert received is not None and received.success
    operator = business.operator.username
    assert received.memo == (
        f"SatMachine · {operator} · Pay ATM · LP payout · 2 sales · threshold"
    )
    assert received.extra is not None
    facts = {key: received.extra.get(key) for key in ("operator", "machine")}
    assert facts == {"operator": operator, "machine": "Pay ATM"}
    assert received.extra["paid_for"] == "liquidity provider payout"
    assert (received.extra["sales"], received.extra["schedule"]) == ("2", "threshold")
    assert received.extra["lp_payout_id"] == opened.id


@pytest.mark.slow
async def test_the_bounded_due_search_sees_only_enrolments_whose_accrual_grew(
    client, business
):
    lp = business.lps[0]
    (plan,) = (await client.get(f"{API}/lp/payout-plans", headers=lp.headers)).json()
    await client.put(
        f"{API}/lps/{plan['enrolment_id']}/payout-schedules",
        json={"offered": ["threshold"]},
        headers=business.operator.headers,
    )
    chosen = await client.put(
        f"{API}/lp/payout-plans",
        json={
            "enrolment_id": plan["enrolment_id"],
            "schedule": "threshold",
            "threshold_sats": 100_000,
        },
        headers=lp.headers,
    )
    assert chosen.status_code == 200, chosen.text
    started = int(time.time())
    for _ in range(2):
        await fund(business.machine["wallet_id"], 100_100)
        settlement = await business.cash_out()
        await wait_for_status(client, business.operator, settlement["id"], "settled")
    later = int(time.time()) + 100
    mine = plan["enrolment_id"]

    def enrolments(groups) -> set[str]:
        return {group.enrolment_id for group in groups}

    assert mine in enrolments(await crud.accrued_groups(accrued_since=started - 1))
    assert mine not in enrolments(await crud.accrued_groups(accrued_since=later))
    # Due (120 000 ≥ 100 000), but nothing accrued since ``later``: not opened.
    assert await lp_payouts.make_due(later, accrued_since=later) == []
    (opened,) = await lp_payouts.make_due(later, accrued_since=started - 1)
    assert (opened.sats, opened.legs) == (120_000, 2)
