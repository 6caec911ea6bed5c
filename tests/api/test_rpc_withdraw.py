"""Cash-in by LNURL-withdraw (contract §9.3), with the in-process ATM and a test
wallet that speaks LUD-03 over HTTP: it decodes the bech32 LNURL, fetches the
withdrawRequest, has its own LNbits wallet make the invoice through LNbits' API,
and calls the callback. Exactly one payment per link, every refusal with
nothing paid, idempotent ``create_withdraw``, and a link that expired unclaimed
going to the operator's abandoned queue and out of it again."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import lnurl
from in_process_rpc import Atm, register, settlements_of
from lnurl import LnurlWithdrawResponse

from helpers import API
from satmachineadmin.database import db

SCHEDULE = {
    "cash_out": {
        "commission_bps": 500,
        "fixed_fee_sats": 0,
        "min_fiat": None,
        "max_fiat": None,
    },
    "cash_in": {
        "commission_bps": 500,
        "fixed_fee_sats": 0,
        "min_fiat": None,
        "max_fiat": "2000.00",
    },
}


def withdraw_params(**overrides) -> dict:
    # 1000.00 GTQ at 500000.00 GTQ/BTC is exactly 200_000 sats; 5 % is 10_000.
    params = {
        "tx_id": uuid.uuid4().hex,
        "principal_sats": 200_000,
        "fiat_amount": "1000.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
    }
    return {**params, **overrides}


class Wallet:
    """A customer's LNURL wallet: LUD-03 over HTTP, invoices from its own LNbits
    wallet through LNbits' payments API."""

    def __init__(self, app, client: httpx.AsyncClient, user) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        self.client = client
        self.user = user

    async def invoice(self, sats: int) -> str:
        self.client.cookies.clear()
        response = await self.client.post(
            "/api/v1/payments",
            json={"out": False, "amount": sats, "memo": "cash-in"},
            headers={"X-Api-Key": self.user.wallets[0]["inkey"]},
        )
        assert response.status_code == 201, response.text
        return response.json()["bolt11"]

    async def request(self, link: str) -> dict:
        url = str(lnurl.decode(link).url)
        return (await self.http.get(url)).json()

    async def withdraw(self, link: str, bolt11: str | None = None) -> dict:
        """The whole exchange: fetch, invoice for the maximum, call back (or
        the refusal of the first step)."""
        first = await self.request(link)
        if first.get("status") == "ERROR":
            return first
        offer = LnurlWithdrawResponse.parse_obj(first)
        pr = bolt11 or await self.invoice(offer.max_sats)
        return await self.callback(offer, pr)

    async def callback(self, offer: LnurlWithdrawResponse, pr: str) -> dict:
        answer = await self.http.get(
            str(offer.callback), params={"k1": offer.k1, "pr": pr}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def balance(self) -> int:
        from lnbits.core.crud import get_wallet

        wallet = await get_wallet(self.user.wallet_id)
        assert wallet is not None
        return wallet.balance


async def machine_balance(machine) -> int:
    from lnbits.core.crud import get_wallet

    wallet = await get_wallet(machine["wallet_id"])
    assert wallet is not None
    return wallet.balance


async def customer_payments(machine) -> int:
    """How many payments of a customer's 190_000 sats the machine's wallet
    made (it pays its payout legs too: a few thousand sats each)."""
    from lnbits.core.crud import get_payments

    sent = await get_payments(wallet_id=machine["wallet_id"], outgoing=True)
    return sum(1 for p in sent if p.amount == -190_000_000 and not p.failed)


async def fund(machine, sats: int = 1_000_000) -> None:
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    wallet = await get_wallet(machine["wallet_id"])
    assert wallet is not None
    await update_wallet_balance(wallet, sats)


async def priced_machine(server, client, operator, *, funded=True):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    client.cookies.clear()
    response = await client.put(f"{API}/fees", json=SCHEDULE, headers=operator.headers)
    assert response.status_code == 200, response.text
    if funded:
        await fund(machine)
    return atm, machine


async def create(atm, **overrides) -> dict:
    answer = await atm.call("create_withdraw", withdraw_params(**overrides))
    assert "result" in answer, answer
    return answer["result"]


async def expire(tx_id: str) -> None:
    await db.execute(
        "UPDATE satmachineadmin.withdraw_links SET expires_at = expires_at - 3601 "
        "WHERE tx_id = :tx_id",
        {"tx_id": tx_id},
    )


async def abandoned(client, operator) -> dict[str, dict]:
    client.cookies.clear()
    response = await client.get(f"{API}/abandoned", headers=operator.headers)
    assert response.status_code == 200, response.text
    return {tx["tx_id"]: tx for tx in response.json()}


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


async def test_a_machine_without_a_schedule_charges_no_fee(server, client, operator):
    atm = Atm(server)
    await register(client, operator, atm)
    link = await create(atm)
    assert (link["amount_sats"], link["fee_sats"], link["fee_version"]) == (
        200_000,
        0,
        None,
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
    atm, _ = await priced_machine(server, client, operator)
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
    assert shown["qr_svg"].startswith("<svg")
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
