"""What paying a leg costs LNbits' database.

Every turn on LNbits' database waits for the one before it, the customers'
payments' included, so a leg's invoice and its payment take one turn each: LNbits'
``create_invoice`` and ``pay_invoice`` would open three and two of their own.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from types import FrameType

import pytest
import pytest_asyncio
from payout_business import Business

from helpers import fund
from satmachineadmin import crud
from satmachineadmin.services import payouts, sending


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


def _asked_by_an_attempt() -> bool:
    """Whether the connection is asked for by a leg's own attempt (its invoice,
    its payment), not by LNbits' notifications of the payment, which run in tasks
    of their own."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_attempt" and code.co_filename == sending.__file__:
            return True
        frame = frame.f_back
    return False


@pytest.mark.slow
async def test_a_leg_takes_one_turn_for_its_invoice_and_one_for_its_payment(
    business, monkeypatch
):
    from lnbits.core.db import db as lnbits_db

    async def paused() -> int:
        return 0

    monkeypatch.setattr(payouts, "process_due", paused)  # the app's worker waits
    turns = 0
    real_connect = lnbits_db.connect

    @asynccontextmanager
    async def counted():
        nonlocal turns
        turns += _asked_by_an_attempt()
        async with real_connect() as conn:
            yield conn

    monkeypatch.setattr(lnbits_db, "connect", counted)
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    assert await payouts.process_settlement(settlement["id"]) == "settled"

    legs = await crud.legs_of(settlement_id=settlement["id"])
    assert len(legs) == 6  # the platform's fee, three wallets, two LPs
    assert all(leg.status == "paid" and leg.attempts == 1 for leg in legs)
    assert turns == 2 * len(legs)
