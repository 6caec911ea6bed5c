"""Cash-in by LNURL-withdraw when the customer was not paid (contract §9.3, §8):
a link that expired unclaimed or whose payment failed waits in the operator's
abandoned queue, who issues a fresh link or voids it; a claim left behind by a
crash is settled by asking LNbits, never by paying again."""

from __future__ import annotations

import uuid

from in_process_rpc import settlements_of
from lnurl import LnurlWithdrawResponse
from lnurl_wallet import (
    Wallet,
    abandoned,
    create,
    customer_payments,
    expire,
    foreign_invoice,
    priced_machine,
    withdraw_params,
)

from helpers import API
from satmachineadmin.database import db

# --- expiry and the operator ---------------------------------------------------------


async def test_an_expired_link_waits_for_the_operator_who_reissues_or_voids(
    app, server, client, operator, make_user
):
    atm, _ = await priced_machine(server, client, operator)
    wallet = Wallet(app, client, await make_user("cust"))
    reissued, voided = withdraw_params(), withdraw_params()
    for params in (reissued, voided):
        await create(atm, **params)
        await expire(params["tx_id"])
        lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
        assert lookup["result"]["status"] == "expired"
    queue = await abandoned(client, operator)
    assert queue[reissued["tx_id"]]["status"] == "abandoned"
    assert queue[voided["tx_id"]]["direction"] == "cash_in"

    client.cookies.clear()
    fresh = await client.post(
        f"{API}/abandoned/{queue[reissued['tx_id']]['id']}/link",
        json={"expiry_s": 600},
        headers=operator.headers,
    )
    assert fresh.status_code == 200, fresh.text
    shown = fresh.json()
    assert shown["amount_sats"] == 190_000 and shown["lnurl"].startswith("LNURL1")
    assert "qr_svg" not in shown  # the page draws the QR code of the LNURL
    assert reissued["tx_id"] not in await abandoned(client, operator)
    again = await client.post(
        f"{API}/abandoned/{queue[reissued['tx_id']]['id']}/link",
        json={},
        headers=operator.headers,
    )
    assert again.status_code == 409, again.text
    assert await wallet.withdraw(shown["lnurl"]) == {"status": "OK"}
    assert await wallet.balance() == 190_000
    lookup = await atm.call("lookup_invoice", {"tx_id": reissued["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    landed = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] in (reissued["tx_id"], voided["tx_id"])
    ]
    assert [s["tx_id"] for s in landed] == [reissued["tx_id"]]

    void = await client.post(
        f"{API}/abandoned/{queue[voided['tx_id']]['id']}/resolve",
        json={"resolution": "void", "note": "cash refunded at the counter"},
        headers=operator.headers,
    )
    assert void.status_code == 200, void.text
    assert void.json()["status"] == "void"
    assert voided["tx_id"] not in await abandoned(client, operator)
    too_late = await client.post(
        f"{API}/abandoned/{queue[voided['tx_id']]['id']}/link",
        json={},
        headers=operator.headers,
    )
    assert too_late.status_code == 409, too_late.text


async def test_a_fresh_link_is_only_for_an_unpaid_cash_in(
    server, client, operator, make_user
):
    atm, _ = await priced_machine(server, client, operator)
    client.cookies.clear()
    missing = await client.post(
        f"{API}/abandoned/{uuid.uuid4().hex}/link", json={}, headers=operator.headers
    )
    assert missing.status_code == 404, missing.text
    params = withdraw_params()
    await create(atm, **params)
    await expire(params["tx_id"])
    await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    tx = (await abandoned(client, operator))[params["tx_id"]]
    for body in ({"expiry_s": 59}, {"expiry_s": 3601}, {"k1": "x"}):
        bad = await client.post(
            f"{API}/abandoned/{tx['id']}/link", json=body, headers=operator.headers
        )
        assert bad.status_code == 400 or bad.status_code == 422, bad.text
    stranger = await make_user("op")
    theirs = await client.post(
        f"{API}/abandoned/{tx['id']}/link", json={}, headers=stranger.headers
    )
    assert theirs.status_code == 404, theirs.text


# --- a claim left behind -------------------------------------------------------------


async def claim_as_a_dead_callback(tx_id: str, bolt11: str) -> dict:
    """What a callback that died right after winning the claim leaves: the
    link claimed with its invoice recorded, long enough ago to be stale."""
    from lnbits.bolt11 import decode

    await db.execute(
        "UPDATE satmachineadmin.withdraw_links SET status = 'claimed', "
        "bolt11 = :bolt11, payment_hash = :hash, claimed_at = :at "
        "WHERE tx_id = :tx_id",
        {
            "bolt11": bolt11,
            "hash": decode(bolt11).payment_hash,
            "at": 1_000,
            "tx_id": tx_id,
        },
    )
    await db.execute(
        "UPDATE satmachineadmin.atm_transactions SET status = 'paying', "
        "payment_hash = :hash, bolt11 = :bolt11 WHERE tx_id = :tx_id",
        {"bolt11": bolt11, "hash": decode(bolt11).payment_hash, "tx_id": tx_id},
    )
    return {"bolt11": bolt11}


async def test_a_stale_claim_is_settled_by_asking_lnbits_never_by_paying_again(
    app, server, client, operator, make_user
):
    from lnbits.core.services import pay_invoice

    from satmachineadmin.services import withdraw

    atm, machine = await priced_machine(server, client, operator)
    wallet = Wallet(app, client, await make_user("cust"))

    # Died after paying: LNbits shows the payment, the claim lands it once.
    paid = withdraw_params()
    link = await create(atm, **paid)
    bolt11 = await wallet.invoice(190_000)
    await claim_as_a_dead_callback(paid["tx_id"], bolt11)
    await pay_invoice(wallet_id=machine["wallet_id"], payment_request=bolt11)
    await withdraw.sweep_links()
    await withdraw.sweep_links()
    lookup = await atm.call("lookup_invoice", {"tx_id": paid["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    assert await wallet.balance() == 190_000
    landed = [
        s for s in await settlements_of(client, operator) if s["tx_id"] == paid["tx_id"]
    ]
    assert len(landed) == 1
    again = await wallet.withdraw(link["lnurl"])
    assert again["status"] == "ERROR"

    # Died before paying: LNbits knows no payment, the link opens again for the
    # customer's wallet, which is then paid once.
    unpaid = withdraw_params()
    link = await create(atm, **unpaid)
    await claim_as_a_dead_callback(unpaid["tx_id"], await wallet.invoice(190_000))
    lookup = await atm.call("lookup_invoice", {"tx_id": unpaid["tx_id"]})
    assert lookup["result"]["status"] == "pending"
    assert await wallet.balance() == 190_000  # nothing paid to find out
    assert await wallet.withdraw(link["lnurl"]) == {"status": "OK"}
    assert await wallet.balance() == 2 * 190_000
    assert await customer_payments(machine) == 2


async def test_a_failed_payment_waits_for_the_operator_who_issues_a_fresh_link(
    app, server, client, operator, make_user
):
    atm, machine = await priced_machine(server, client, operator)
    wallet = Wallet(app, client, await make_user("cust"))
    params = withdraw_params()
    link = await create(atm, **params)
    offer = LnurlWithdrawResponse.parse_obj(await wallet.request(link["lnurl"]))
    failed = await wallet.callback(offer, foreign_invoice(190_000))
    assert failed["status"] == "ERROR" and "payment failed" in failed["reason"]
    lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert lookup["result"]["status"] == "failed"
    # The link is spent: the customer's wallet cannot try again by itself.
    again = await wallet.withdraw(link["lnurl"])
    assert again["status"] == "ERROR" and "ask the operator" in again["reason"]
    tx = (await abandoned(client, operator))[params["tx_id"]]
    assert tx["status"] == "failed"

    client.cookies.clear()
    fresh = await client.post(
        f"{API}/abandoned/{tx['id']}/link", json={}, headers=operator.headers
    )
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["lnurl"] != link["lnurl"]
    assert (await wallet.request(link["lnurl"]))["status"] == "ERROR"
    assert await wallet.withdraw(fresh.json()["lnurl"]) == {"status": "OK"}
    lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    assert await wallet.balance() == 190_000
    assert await customer_payments(machine) == 1
    landed = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] == params["tx_id"]
    ]
    assert len(landed) == 1
