"""LP payout schedules: scheduled legs accrue, one payment per period pays them,
exactly once across racing workers and crashes; the statement stays per sale."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio
from payout_business import Business, wait_for_status

from helpers import API, balance, fund
from satmachineadmin import crud
from satmachineadmin.database import db
from satmachineadmin.payout_schedules import next_daily_at
from satmachineadmin.services import lp_payouts


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config, monkeypatch):
    # The app's worker leaves scheduled payouts to the test, which drives them
    # with its own clock.
    async def paused(now: int | None = None) -> int:
        return 0

    monkeypatch.setattr(lp_payouts, "pay_due", paused)
    return await Business(client, super_user, make_user, super_config).build()


async def plan_of(client, lp) -> dict:
    response = await client.get(f"{API}/lp/payout-plans", headers=lp.headers)
    assert response.status_code == 200, response.text
    (plan,) = response.json()
    return plan


async def schedule(client, business, lp, choice: dict) -> dict:
    enrolment_id = (await plan_of(client, lp))["enrolment_id"]
    offered = await client.put(
        f"{API}/lps/{enrolment_id}/payout-schedules",
        json={"offered": ["daily", "threshold"]},
        headers=business.operator.headers,
    )
    assert offered.status_code == 200, offered.text
    chosen = await client.put(
        f"{API}/lp/payout-plans",
        json={"enrolment_id": enrolment_id, **choice},
        headers=lp.headers,
    )
    assert chosen.status_code == 200, chosen.text
    return chosen.json()


async def settled_cash_out(client, business) -> dict:
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    done = await wait_for_status(client, business.operator, settlement["id"], "settled")
    assert done["status"] == "settled", done
    return done


def lp_legs(done: dict, enrolment_id: str) -> list[dict]:
    return [leg for leg in done["legs"] if leg["lp_enrolment_id"] == enrolment_id]


@pytest.mark.slow
async def test_accrued_legs_are_paid_once_the_threshold_is_reached(client, business):
    lp, other = business.lps
    plan = await schedule(
        client, business, lp, {"schedule": "threshold", "threshold_sats": 100_000}
    )
    assert plan["schedule"] == "threshold" and plan["threshold_sats"] == 100_000
    before = await balance(lp.wallet_id)
    before_other = await balance(other.wallet_id)

    first = await settled_cash_out(client, business)
    (leg,) = lp_legs(first, plan["enrolment_id"])
    assert leg["status"] == "accrued" and leg["sats"] == 60_000
    assert await balance(other.wallet_id) == before_other + 40_000  # each, as today
    now = int(time.time())
    assert await lp_payouts.make_due(now) == []  # 60 000 < 100 000
    accrued = await plan_of(client, lp)
    assert (accrued["accrued_sats"], accrued["accrued_legs"]) == (60_000, 1)
    assert accrued["paid_sats"] == 0

    await settled_cash_out(client, business)
    # The clock after this sale: a payout due at `now` takes the legs made up to
    # then, and this sale may be a second or more after the first check.
    now = int(time.time())
    (opened,) = await lp_payouts.make_due(now)
    assert (opened.sats, opened.legs) == (120_000, 2)
    assert await lp_payouts.send_due(now) == 1
    assert await balance(lp.wallet_id) == before + 120_000
    assert await lp_payouts.make_due(now) == []
    assert await lp_payouts.send_due(now) == 0  # nothing paid a second time
    assert await balance(lp.wallet_id) == before + 120_000

    paid = await plan_of(client, lp)
    assert (paid["accrued_sats"], paid["paid_sats"]) == (0, 120_000)
    payouts = (await client.get(f"{API}/lp/payouts", headers=lp.headers)).json()
    assert [(p["sats"], p["legs"], p["status"]) for p in payouts] == [
        (120_000, 2, "paid")
    ]
    # The statement still lists each sale with its fiat and rate.
    statement = (await client.get(f"{API}/lp/distributions", headers=lp.headers)).json()
    assert [
        (row["fiat_amount"], row["exchange_rate"], row["sats"], row["status"])
        for row in statement
    ] == [("300.00", "500000.00", 60_000, "paid")] * 2


@pytest.mark.slow
async def test_a_daily_payout_comes_at_its_hour_and_not_before(client, business):
    lp = business.lps[0]
    hour = (time.gmtime().tm_hour + 1) % 24
    plan = await schedule(client, business, lp, {"schedule": "daily", "hour": hour})
    before = await balance(lp.wallet_id)
    await settled_cash_out(client, business)
    landed = int(time.time())
    boundary = next_daily_at(hour, landed)
    assert (await plan_of(client, lp))["next_payout_at"] == boundary
    assert plan["next_payout_at"] in (boundary, boundary - 86_400)

    assert await lp_payouts.make_due(boundary - 1) == []
    (opened,) = await lp_payouts.make_due(boundary)
    assert opened.sats == 60_000
    # A sale after the hour waits for the next day.
    await settled_cash_out(client, business)
    await db.execute(
        "UPDATE satmachineadmin.payout_legs SET created_at = :at "
        "WHERE lp_payout_id IS NULL AND status = 'accrued' "
        "AND lp_enrolment_id = :id",
        {"at": boundary + 10, "id": plan["enrolment_id"]},
    )
    assert await lp_payouts.send_due(boundary) == 1
    assert await lp_payouts.make_due(boundary + 20) == []
    assert await lp_payouts.make_due(boundary + 86_399) == []
    (next_day,) = await lp_payouts.make_due(boundary + 86_400)
    assert next_day.sats == 60_000
    await lp_payouts.send_due(boundary + 86_400)
    assert await balance(lp.wallet_id) == before + 120_000


@pytest.mark.slow
async def test_racing_workers_pay_the_accrued_sum_once(client, business):
    lp = business.lps[0]
    await schedule(
        client, business, lp, {"schedule": "threshold", "threshold_sats": 50_000}
    )
    before = await balance(lp.wallet_id)
    await settled_cash_out(client, business)
    await settled_cash_out(client, business)
    # Both sales accrued before any worker looked (the threshold is met twice).
    now = int(time.time())
    opened = await asyncio.gather(*(lp_payouts.make_due(now) for _ in range(4)))
    assert sum(len(made) for made in opened) == 1
    await asyncio.gather(*(lp_payouts.send_due(now) for _ in range(4)))
    assert await balance(lp.wallet_id) == before + 120_000
    (payout,) = (await client.get(f"{API}/lp/payouts", headers=lp.headers)).json()
    assert payout["status"] == "paid" and payout["attempts"] == 1


async def staged_payout(client, business):
    lp = business.lps[0]
    await schedule(
        client, business, lp, {"schedule": "threshold", "threshold_sats": 50_000}
    )
    await settled_cash_out(client, business)
    (opened,) = await lp_payouts.make_due(int(time.time()))
    now = int(time.time())
    claimed = await crud.claim_lp_payout(payout_id=opened.id, now=now, stale_before=now)
    assert claimed is not None
    return lp, claimed


async def take_over(payout_id: str) -> None:
    """The claim's worker died: its claim goes stale and the next one runs."""
    await db.execute(
        "UPDATE satmachineadmin.lp_payouts SET claimed_at = 0 WHERE id = :id",
        {"id": payout_id},
    )
    assert await lp_payouts.send_due(int(time.time())) == 1


@pytest.mark.slow
async def test_a_crash_after_paying_is_recorded_without_paying_again(client, business):
    from lnbits.core.services import pay_invoice

    lp, claimed = await staged_payout(client, business)
    before = await balance(lp.wallet_id)
    invoice = await lp_payouts._invoice(claimed)
    await pay_invoice(
        wallet_id=claimed.source_wallet_id,
        payment_request=invoice,
        tag=lp_payouts.EXT_TAG,
    )
    assert await balance(lp.wallet_id) == before + 60_000  # then the crash
    await take_over(claimed.id)
    assert await balance(lp.wallet_id) == before + 60_000
    payout = await crud.get_lp_payout(payout_id=claimed.id)
    assert payout is not None and payout.status == "paid" and payout.attempts == 2
    assert (await plan_of(client, lp))["paid_sats"] == 60_000


@pytest.mark.slow
async def test_a_crash_between_claim_and_pay_is_paid_once(client, business):
    lp, claimed = await staged_payout(client, business)
    before = await balance(lp.wallet_id)
    recorded = await lp_payouts._invoice(claimed)  # recorded, never paid: crash
    await take_over(claimed.id)
    assert await balance(lp.wallet_id) == before + 60_000
    payout = await crud.get_lp_payout(payout_id=claimed.id)
    assert payout is not None and payout.status == "paid"
    assert payout.payment_request == recorded  # the recorded invoice, paid once
    # The stalled worker wakes up: its claim is gone, it writes nothing.
    with pytest.raises(lp_payouts.sending.ClaimLost):
        await lp_payouts._invoice(claimed)
    assert await balance(lp.wallet_id) == before + 60_000


@pytest.mark.slow
async def test_schedule_settings_are_bounded_and_scoped(client, business, make_user):
    lp, other = business.lps
    enrolment_id = (await plan_of(client, lp))["enrolment_id"]
    url = f"{API}/lp/payout-plans"
    mine = {"enrolment_id": enrolment_id}
    refused = await client.put(
        url, json={**mine, "schedule": "daily", "hour": 3}, headers=lp.headers
    )
    assert refused.status_code == 400
    assert "does not offer" in refused.json()["detail"]
    await client.put(
        f"{API}/lps/{enrolment_id}/payout-schedules",
        json={"offered": ["daily", "threshold"]},
        headers=business.operator.headers,
    )
    for bad, words in (
        ({"schedule": "daily", "hour": 24}, "0 to 23"),
        ({"schedule": "daily", "hour": "3"}, "integer"),
        ({"schedule": "daily"}, "needs its hour"),
        ({"schedule": "threshold", "threshold_sats": 5}, "1,000"),
        ({"schedule": "threshold", "threshold_sats": 10**12}, "100,000,000"),
        ({"schedule": "weekly"}, "schedule"),
    ):
        answer = await client.put(url, json={**mine, **bad}, headers=lp.headers)
        assert answer.status_code == 400, (bad, answer.text)
        assert words in answer.text, (bad, answer.text)
    # Another LP, or another operator, cannot touch this enrolment.
    assert (
        await client.put(url, json={**mine, "schedule": "each"}, headers=other.headers)
    ).status_code == 404
    stranger = await make_user("op")
    assert (
        await client.put(
            f"{API}/lps/{enrolment_id}/payout-schedules",
            json={"offered": ["daily"]},
            headers=stranger.headers,
        )
    ).status_code == 404
    chosen = await client.put(
        url, json={**mine, "schedule": "daily", "hour": 7}, headers=lp.headers
    )
    assert chosen.json()["schedule"] == "daily"
    # An offer withdrawn: the choice falls back to each settlement.
    withdrawn = await client.put(
        f"{API}/lps/{enrolment_id}/payout-schedules",
        json={"offered": ["threshold"]},
        headers=business.operator.headers,
    )
    assert withdrawn.json()["schedule"] == "each"
    assert withdrawn.json()["offered"] == ["each", "threshold"]
