"""Cash-in by LNURL-withdraw (contract §9.3), with the in-process ATM and a test
wallet that speaks LUD-03 over HTTP (tests/support/lnurl_wallet.py): it decodes
the bech32 LNURL, fetches the withdrawRequest, has its own LNbits wallet make the
invoice through LNbits' API, and calls the callback. The exchange, idempotent
``create_withdraw``, exactly one payment per link, and every refusal with
nothing paid. What becomes of a link nobody was paid by is in
test_withdraw_abandoned.py."""

from __future__ import annotations

import asyncio

import lnurl
from in_process_rpc import Atm, register, settlements_of
from lnurl import LnurlWithdrawResponse
from lnurl_wallet import (
    SCHEDULE,
    Wallet,
    abandoned,
    create,
    customer_payments,
    expire,
    fund,
    machine_balance,
    priced_machine,
    withdraw_params,
)

from helpers import API
from satmachineadmin.database import db

# --- the exchange --------------------------------------------------------------------


async def test_the_lud03_exchange_pays_the_customer_once_and_lands(
    app, server, client, operator, make_user
):
    atm, machine = await priced_machine(server, client, operator)
    info = (await atm.call("get_info"))["result"]
    assert "withdraw" in info["features"]
    params = withdraw_params()
    answer = await atm.call("create_withdraw", params)
    link = answer["result"]
    assert set(link) == {
        "lnurl",
        "url",
        "amount_sats",
        "fee_sats",
        "fee_version",
        "expires_at",
    }
    assert (link["amount_sats"], link["fee_sats"]) == (190_000, 10_000)
    assert link["fee_version"] == info["fee_version"] is not None
    assert link["lnurl"].startswith("LNURL1")
    assert str(lnurl.decode(link["lnurl"]).url) == link["url"]
    pending = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert pending["result"]["status"] == "pending"

    wallet = Wallet(app, client, await make_user("cust"))
    offer = await wallet.request(link["lnurl"])
    assert offer["tag"] == "withdrawRequest"
    assert offer["minWithdrawable"] == offer["maxWithdrawable"] == 190_000_000
    assert len(offer["k1"]) == 64 and offer["defaultDescription"]
    assert await wallet.withdraw(link["lnurl"]) == {"status": "OK"}
    assert await wallet.balance() == 190_000
    assert await customer_payments(machine) == 1

    paid = (await atm.call("lookup_invoice", {"tx_id": params["tx_id"]}))["result"]
    assert paid["status"] == "paid" and paid["amount_sats"] == 190_000
    assert paid["paid_at"] is not None
    (settlement,) = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] == params["tx_id"]
    ]
    assert settlement["direction"] == "cash_in"
    assert settlement["source"] == "lnurl"
    assert settlement["commission_sats"] == 10_000
    # Single use: the link is spent for every later call.
    again = await wallet.withdraw(link["lnurl"])
    assert again["status"] == "ERROR" and "already used" in again["reason"]
    assert await wallet.balance() == 190_000
    cancel = await atm.call("cancel_transaction", {"tx_id": params["tx_id"]})
    assert cancel["result"]["status"] == "paid"


async def test_a_replay_returns_the_same_link_and_other_params_conflict(
    server, client, operator, make_user
):
    atm, _ = await priced_machine(server, client, operator)
    params = withdraw_params()
    first = await atm.call("create_withdraw", params)
    replay = await atm.call("create_withdraw", params)
    assert replay["result"] == first["result"]
    other = await atm.call("create_withdraw", {**params, "principal_sats": 199_000})
    assert other["error"]["code"] == "conflict"
    expiry = await atm.call("create_withdraw", {**params, "expiry_s": 600})
    assert expiry["error"]["code"] == "conflict"
    # The tx_id of a cash-out is not a link's either.
    cash_out = withdraw_params()
    invoice = await atm.call(
        "make_invoice",
        {
            **cash_out,
            "amount_sats": 210_000,
            "fee_sats": 10_000,
        },
    )
    assert "result" in invoice, invoice
    taken = await atm.call("create_withdraw", cash_out)
    assert taken["error"]["code"] == "conflict"


async def test_until_the_operator_sets_a_schedule_a_link_charges_no_fee(
    server, client, operator
):
    atm = Atm(server)
    await register(client, operator, atm, builtin_fees=True)
    link = await create(atm)
    assert (link["amount_sats"], link["fee_sats"], link["fee_version"]) == (
        200_000,
        0,
        1,
    )


async def test_bad_requests_are_refused_before_any_link(server, client, operator):
    atm, _ = await priced_machine(server, client, operator)
    for overrides, code in (
        ({"expiry_s": 59}, "bad_request"),
        ({"expiry_s": 3601}, "bad_request"),
        ({"principal_sats": "200000"}, "bad_request"),
        ({"principal_sats": -1}, "inconsistent_amounts"),
        ({"principal_sats": 300_000}, "inconsistent_amounts"),  # not the fiat
        ({"fiat_code": "USD"}, "inconsistent_amounts"),
        (
            {"fiat_amount": "3000.00", "principal_sats": 600_000},
            "limit_exceeded",
        ),
    ):
        answer = await atm.call("create_withdraw", withdraw_params(**overrides))
        assert answer["error"]["code"] == code, (overrides, answer)
    # Nothing would be left for the customer.
    tiny = await atm.call(
        "create_withdraw",
        withdraw_params(fiat_amount="0.00", principal_sats=0),
    )
    assert tiny["error"]["code"] == "inconsistent_amounts"


# --- exactly once --------------------------------------------------------------------


async def test_ten_parallel_callbacks_pay_once(
    app, server, client, operator, make_user
):
    atm, machine = await priced_machine(server, client, operator)
    customers = [Wallet(app, client, await make_user("cust")) for _ in range(10)]

    # The same invoice ten times at once.
    link = await create(atm)
    offer = LnurlWithdrawResponse.parse_obj(await customers[0].request(link["lnurl"]))
    bolt11 = await customers[0].invoice(190_000)
    answers = await asyncio.gather(
        *(customers[0].callback(offer, bolt11) for _ in range(10))
    )
    assert [a["status"] for a in answers].count("OK") == 1, answers
    assert await customers[0].balance() == 190_000

    # Ten different invoices, one from each wallet, at once.
    link = await create(atm)
    offer = LnurlWithdrawResponse.parse_obj(await customers[0].request(link["lnurl"]))
    invoices = [await wallet.invoice(190_000) for wallet in customers]
    answers = await asyncio.gather(
        *(w.callback(offer, pr) for w, pr in zip(customers, invoices, strict=True))
    )
    assert [a["status"] for a in answers].count("OK") == 1, answers
    balances = [await wallet.balance() for wallet in customers]
    assert sum(balances) == 2 * 190_000
    assert await customer_payments(machine) == 2


# --- refusals ------------------------------------------------------------------------


async def test_every_refusal_pays_nothing_and_leaves_the_link_open(
    app, server, client, operator, make_user
):
    from lnbits.core.services import create_invoice, pay_invoice

    atm, machine = await priced_machine(server, client, operator, funded=False)
    wallet = Wallet(app, client, await make_user("cust"))
    link = await create(atm)
    offer = LnurlWithdrawResponse.parse_obj(await wallet.request(link["lnurl"]))

    async def refused(pr: str, words: str) -> None:
        answer = await wallet.callback(offer, pr)
        assert answer["status"] == "ERROR" and words in answer["reason"], answer

    # A machine wallet without the balance: nothing debited, the link stays.
    await refused(await wallet.invoice(190_000), "balance")
    assert await machine_balance(machine) == 0
    await fund(machine)
    await refused(await wallet.invoice(189_999), "exactly 190000 sats")
    await refused(await wallet.invoice(190_001), "exactly 190000 sats")
    await refused("lnbc1notaninvoice", "not a valid")
    # An invoice somebody else paid already.
    payer = await make_user("payer")
    await fund({"wallet_id": payer.wallet_id})
    paid_already = await wallet.invoice(190_000)
    await pay_invoice(wallet_id=payer.wallet_id, payment_request=paid_already)
    await refused(paid_already, "already paid")
    # The machine's own invoice, and another ATM's cash-out invoice: a loop.
    own = await create_invoice(
        wallet_id=machine["wallet_id"], amount=190_000, memo="loop"
    )
    await refused(own.bolt11, "own ATMs")
    other_atm = Atm(server)
    await register(client, operator, other_atm)
    cash_out = await other_atm.call(
        "make_invoice",
        {
            **withdraw_params(principal_sats=180_952, fiat_amount="904.76"),
            "amount_sats": 190_000,
            "fee_sats": 9_048,
        },
    )
    await refused(cash_out["result"]["bolt11"], "own ATMs")
    assert await machine_balance(machine) == 1_000_000
    assert await customer_payments(machine) == 0
    # None of it spent the link.
    assert await wallet.withdraw(link["lnurl"]) == {"status": "OK"}
    assert await customer_payments(machine) == 1


async def test_unknown_cancelled_and_expired_links_are_refused(
    app, server, client, operator, make_user
):
    atm, machine = await priced_machine(server, client, operator)
    wallet = Wallet(app, client, await make_user("cust"))
    unknown = await wallet.http.get(
        "http://127.0.0.1:5000/satmachineadmin/lnurl/cb",
        params={"k1": "0" * 64, "pr": await wallet.invoice(190_000)},
    )
    assert unknown.json() == {"status": "ERROR", "reason": "unknown withdraw link"}

    cancelled = withdraw_params()
    link = await create(atm, **cancelled)
    offer = LnurlWithdrawResponse.parse_obj(await wallet.request(link["lnurl"]))
    cancel = await atm.call(
        "cancel_transaction", {"tx_id": cancelled["tx_id"], "reason": "gave up"}
    )
    assert cancel["result"]["status"] == "cancelled"
    answer = await wallet.callback(offer, await wallet.invoice(190_000))
    assert answer["status"] == "ERROR" and "cancelled" in answer["reason"]
    assert (await wallet.request(link["lnurl"]))["status"] == "ERROR"
    lookup = await atm.call("lookup_invoice", {"tx_id": cancelled["tx_id"]})
    assert lookup["result"]["status"] == "expired"

    late = withdraw_params()
    link = await create(atm, **late)
    offer = LnurlWithdrawResponse.parse_obj(await wallet.request(link["lnurl"]))
    await expire(late["tx_id"])
    answer = await wallet.callback(offer, await wallet.invoice(190_000))
    assert answer["status"] == "ERROR" and "expired" in answer["reason"]
    assert await wallet.balance() == 0
    # Too late to cancel: the customer's cash is in, the operator decides.
    cancel = await atm.call("cancel_transaction", {"tx_id": late["tx_id"]})
    assert cancel["result"]["status"] == "abandoned"
    assert cancelled["tx_id"] not in await abandoned(client, operator)

    # The operator took the machine out of service: its open link pays nothing.
    idle = await create(atm)
    offer = LnurlWithdrawResponse.parse_obj(await wallet.request(idle["lnurl"]))
    client.cookies.clear()
    disabled = await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"status": "disabled"},
        headers=operator.headers,
    )
    assert disabled.status_code == 200, disabled.text
    answer = await wallet.callback(offer, await wallet.invoice(190_000))
    assert answer["status"] == "ERROR" and "out of service" in answer["reason"]
    assert (await wallet.request(idle["lnurl"]))["status"] == "ERROR"
    assert await wallet.balance() == 0


async def test_the_schedule_a_machine_names_prices_it_during_the_grace_period(
    server, client, operator, super_config
):
    await super_config.set({"fee_grace_s": 600})
    atm, machine = await priced_machine(server, client, operator)
    cheaper = {**SCHEDULE, "cash_in": {**SCHEDULE["cash_in"], "commission_bps": 400}}
    client.cookies.clear()
    changed = await client.put(f"{API}/fees", json=cheaper, headers=operator.headers)
    assert changed.status_code == 200, changed.text  # version 2

    named = await create(atm, fee_version=1)
    assert (named["fee_sats"], named["fee_version"]) == (10_000, 1)
    current = await create(atm)
    assert (current["fee_sats"], current["fee_version"]) == (8_000, 2)
    assert current["amount_sats"] == 192_000
    await db.execute(
        "UPDATE satmachineadmin.fee_versions SET replaced_at = replaced_at - 601 "
        "WHERE machine_id = :machine_id AND version = 1",
        {"machine_id": machine["id"]},
    )
    late = await create(atm, fee_version=1)
    assert (late["fee_sats"], late["fee_version"]) == (8_000, 2)


async def test_a_customer_left_uncredited_by_an_interrupted_payment_is_credited(
    app, server, client, operator, make_user, monkeypatch
):
    """The customer's wallet is one of this LNbits, and the process died inside
    LNbits' internal payment: the machine's side paid, the customer's invoice not
    yet marked paid, the link still claimed. Bringing the link up to date (what
    the sweep does after a restart) lands it and credits the customer."""
    from lnbits.core.db import db as lnbits_db

    from satmachineadmin import crud
    from satmachineadmin.services import withdraw

    atm, machine = await priced_machine(server, client, operator)
    params = withdraw_params()
    link = (await atm.call("create_withdraw", params))["result"]
    wallet = Wallet(app, client, await make_user("cust"))

    async def died_before_settling(*args, **kwargs) -> None:
        return None

    monkeypatch.setattr(withdraw, "_settle", died_before_settling)
    assert await wallet.withdraw(link["lnurl"]) == {"status": "OK"}
    monkeypatch.undo()
    row = await crud.get_withdraw_link(machine_id=machine["id"], tx_id=params["tx_id"])
    assert row is not None and row.status == "claimed"
    await lnbits_db.execute(
        "UPDATE apipayments SET status = 'pending' "
        "WHERE payment_hash = :hash AND amount > 0",
        {"hash": row.payment_hash},
    )
    assert await wallet.balance() == 0
    assert await customer_payments(machine) == 1

    fresh = await withdraw.refresh_link(row)
    assert fresh.status == "paid"
    assert await wallet.balance() == 190_000
    assert await customer_payments(machine) == 1
    paid = (await atm.call("lookup_invoice", {"tx_id": params["tx_id"]}))["result"]
    assert paid["status"] == "paid"
