"""A settlement's legs are paid concurrently, the platform fee first."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from payout_business import Business

from helpers import fund
from satmachineadmin import crud
from satmachineadmin.models import LegRow
from satmachineadmin.services import payouts


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


@pytest.mark.slow
async def test_legs_overlap_after_the_platform_fee(
    client, business, monkeypatch, paused_worker
):
    real_pay_leg = payouts.pay_leg
    events: list[tuple[str, str]] = []
    in_flight = 0
    most = 0

    async def recorded(leg: LegRow) -> None:
        nonlocal in_flight, most
        events.append(("start", leg.kind))
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0)  # let the others start, if they may
            await real_pay_leg(leg)
        finally:
            in_flight -= 1
            events.append(("end", leg.kind))

    monkeypatch.setattr(payouts, "pay_leg", recorded)
    await fund(business.machine["wallet_id"], 100_100)
    before = await business.balances()
    settlement = await business.cash_out()
    assert await payouts.process_settlement(settlement["id"]) == "settled"

    assert events[:2] == [("start", "platform_fee"), ("end", "platform_fee")]
    assert 1 < most <= payouts.CONCURRENT_LEGS
    after = await business.balances()
    gained = {wallet: after[wallet] - before[wallet] for wallet in after}
    assert gained[business.super_user.wallet_id] == 30
    assert gained[business.lps[0].wallet_id] == 60_000
    assert gained[business.machine["wallet_id"]] == -100_100
    assert sum(gained.values()) == 0
    legs = await crud.legs_of(settlement_id=settlement["id"])
    assert all(leg.status == "paid" and leg.attempts == 1 for leg in legs)
