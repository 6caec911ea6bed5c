"""What the extension's payments cost LNbits' database.

Every turn on LNbits' database waits for the one before it, the customers'
payments' included, so each invoice the extension makes and each payment it makes
takes one turn: LNbits' ``create_invoice`` and ``pay_invoice`` would open three
and two of their own.
"""

from __future__ import annotations

from collections import Counter
from types import FrameType

import pytest
import pytest_asyncio
from in_process_rpc import Atm, cash_in_params, register
from lnurl_wallet import Wallet, priced_machine, withdraw_params
from payout_business import Business
from turn_counting import count_turns

from helpers import fund
from satmachineadmin import crud
from satmachineadmin.rpc import cash_in
from satmachineadmin.services import payouts, sending, withdraw


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


@pytest.fixture
def lnbits_turns(monkeypatch) -> Counter:
    """Turns on LNbits' database by the extension function that asked for them
    (``(file, function)`` of the nearest frame of ``WATCHED``), not LNbits' own
    notifications of a payment, which run in tasks of their own."""
    from lnbits.core.db import db as lnbits_db

    counted: Counter = Counter()
    count_turns(monkeypatch, lnbits_db, _asker, counted)
    return counted


WATCHED = {
    (sending.__file__, "_attempt"),
    (cash_in.__file__, "_pay_customer"),
    (withdraw.__file__, "_pay"),
}


def _asker(frame: FrameType | None) -> tuple[str, str] | None:
    while frame is not None:
        code = (frame.f_code.co_filename, frame.f_code.co_name)
        if code in WATCHED:
            return code
        frame = frame.f_back
    return None


@pytest.mark.slow
async def test_a_leg_takes_one_turn_for_its_invoice_and_one_for_its_payment(
    business, paused_worker, lnbits_turns
):
    await fund(business.machine["wallet_id"], 100_100)
    lnbits_turns.clear()
    settlement = await business.cash_out()
    assert await payouts.process_settlement(settlement["id"]) == "settled"

    legs = await crud.legs_of(settlement_id=settlement["id"])
    assert len(legs) == 6  # the platform's fee, three wallets, two LPs
    assert all(leg.status == "paid" and leg.attempts == 1 for leg in legs)
    assert lnbits_turns == {(sending.__file__, "_attempt"): 2 * len(legs)}


async def test_a_cash_in_pays_its_customer_in_one_turn(
    server, client, operator, make_user, lnbits_turns
):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    await fund(machine["wallet_id"], 200_000)
    params = await cash_in_params((await make_user("cust")).wallet_id)
    lnbits_turns.clear()
    paid = (await atm.call("pay_invoice", params))["result"]
    assert paid["status"] == "paid"
    assert lnbits_turns == {(cash_in.__file__, "_pay_customer"): 1}


async def test_a_withdraw_link_pays_its_customer_in_one_turn_and_checks_in_one(
    app, server, client, operator, make_user, lnbits_turns
):
    atm, _machine = await priced_machine(server, client, operator)
    params = withdraw_params()
    link = (await atm.call("create_withdraw", params))["result"]
    wallet = Wallet(app, client, await make_user("cust"))
    lnbits_turns.clear()
    assert await wallet.withdraw(link["lnurl"]) == {"status": "OK"}
    assert await wallet.balance() == 190_000
    # Its payment, then the check that the customer's invoice, of a wallet of
    # this LNbits here, was credited (``sending.payee_credited``).
    assert lnbits_turns == {(withdraw.__file__, "_pay"): 2}
