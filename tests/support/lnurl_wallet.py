"""Cash-in by LNURL-withdraw in the tests: a customer's LNURL wallet speaking
LUD-03 over HTTP to the in-process app (it shares no code with the extension:
the bech32 is decoded by the ``lnurl`` library and the invoice comes from LNbits'
payments API), and the machine, links and queue around it. Imports the
extension: only for tests that run in the in-process LNbits."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from hashlib import sha256

import httpx
import lnurl
from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags, encode
from in_process_rpc import Atm, register
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
    """A machine added and paired under the operator's default ``SCHEDULE``."""
    client.cookies.clear()
    response = await client.put(f"{API}/fees", json=SCHEDULE, headers=operator.headers)
    assert response.status_code == 200, response.text
    atm = Atm(server)
    machine = await register(client, operator, atm)
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


def foreign_invoice(sats: int) -> str:
    """An invoice of another node: FakeWallet fails to pay it (it pays only its
    own), as a route that fails would."""
    tags = Tags()
    tags.add(TagChar.description, "elsewhere")
    tags.add(TagChar.payment_secret, os.urandom(32).hex())
    tags.add(TagChar.payment_hash, sha256(os.urandom(32)).hexdigest())
    invoice = Bolt11(
        currency="bc",
        amount_msat=MilliSatoshi(sats * 1000),
        date=int(datetime.now().timestamp()),
        tags=tags,
    )
    return encode(invoice, os.urandom(32).hex())
