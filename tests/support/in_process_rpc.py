"""A machine's side of the Nostr RPC in process, without a relay.

Events are built and signed the way an ATM would, handed to an ``RpcServer`` as
the relay pool would hand them over, and the responses it publishes are captured
and decrypted. Imports the extension: only for tests that run in the in-process
LNbits (``tests/conftest.py`` boots it first).
"""

from __future__ import annotations

import json
import time
import uuid

from helpers import API, pairing_token
from satmachineadmin import crud, services
from satmachineadmin.database import db
from satmachineadmin.nostr import nip44
from satmachineadmin.nostr.events import Event, sign_event
from satmachineadmin.nostr.keys import KeyPair
from satmachineadmin.rpc import RpcServer


class CapturingPool:
    """Stands in for the relay pool: records what the server publishes."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    async def start(self, relays) -> None:
        pass

    async def set_relays(self, relays) -> None:
        pass

    async def set_subscriptions(self, subscriptions) -> None:
        pass

    async def publish(self, event: Event) -> int:
        self.published.append(event)
        return 1

    def status(self) -> list:
        return []


async def rpc_server() -> RpcServer:
    """An RPC server with the server's stored key, publishing into a
    ``CapturingPool``."""
    server = RpcServer()
    server.pool = CapturingPool()  # type: ignore[assignment]
    await services.get_super_config()  # creates the server key when there is none
    private_key = await crud.get_server_private_key()
    assert private_key is not None, "get_super_config creates the server key"
    server.keys = KeyPair.from_private_key(private_key)
    return server


class Atm:
    """One machine's side of the wire, built on the project's Nostr code."""

    def __init__(self, server: RpcServer, keys: KeyPair | None = None) -> None:
        self.server = server
        self.keys = keys or KeyPair.generate()
        assert server.keys is not None
        self.conversation_key = nip44.get_conversation_key(
            self.keys.private_key_hex, server.keys.public_key_hex
        )

    @property
    def npub(self) -> str:
        return self.keys.npub

    def event(self, plaintext: str, *, p: str | None = None, age: int = 0) -> Event:
        assert self.server.keys is not None
        return sign_event(
            private_key_hex=self.keys.private_key_hex,
            kind=21000,
            content=nip44.encrypt(plaintext, self.conversation_key),
            tags=[["p", p or self.server.keys.public_key_hex]],
            created_at=int(time.time()) - age,
        )

    def beacon(self, content: dict, *, created_at: int | None = None) -> Event:
        """This machine's beacon (kind 30078, contract §6) announcing ``content``."""
        return sign_event(
            private_key_hex=self.keys.private_key_hex,
            kind=30078,
            content=json.dumps(content),
            tags=[["d", "bitspire-beacon"]],
            created_at=created_at,
        )

    async def send(self, event: Event) -> dict | None:
        pool = self.server.pool
        assert isinstance(pool, CapturingPool)
        before = len(pool.published)
        await self.server.handle_event(event, "test-relay")
        if len(pool.published) == before:
            return None
        answer = pool.published[-1]
        assert answer.pubkey == self.server.keys.public_key_hex
        assert ["p", self.keys.public_key_hex] in answer.tags
        assert ["e", event.id] in answer.tags
        return json.loads(nip44.decrypt(answer.content, self.conversation_key))

    async def call(self, method: str, params: dict | None = None) -> dict:
        request = {
            "id": uuid.uuid4().hex[:12],
            "method": method,
            "params": params or {},
        }
        response = await self.send(self.event(json.dumps(request)))
        assert response is not None
        assert response["id"] == request["id"]
        return response

    async def pair(self, token: str) -> dict:
        """Redeems a pairing token; the result (its ``machine_id``, ...)."""
        paired = await self.call("pair", {"token": token})
        assert "result" in paired, paired
        return paired["result"]


# What cash_out_params charges: 10_000 sats on 200_000 is 5 %.
COMMISSION_BPS = 500


async def set_default_schedule(client, operator, bps: int = COMMISSION_BPS) -> None:
    """The operator's default fee schedule: ``bps`` both ways, nothing else."""
    fees = {"commission_bps": bps, "fixed_fee_sats": 0}
    response = await client.put(
        f"{API}/fees",
        json={"cash_out": fees, "cash_in": fees},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text


async def expect(client, operator, atm, *, builtin_fees=False, **fields) -> dict:
    """The operator adds the machine by its npub: an expected machine. An
    operator without a fee schedule of their own first sets a 5 % default,
    unless the machine is to keep the built-in one (``builtin_fees``)."""
    fees = await client.get(f"{API}/fees", headers=operator.headers)
    assert fees.status_code == 200, fees.text
    if not fees.json()["is_set"] and not builtin_fees:
        await set_default_schedule(client, operator)
    response = await client.post(
        f"{API}/machines",
        json={"npub": atm.npub, "name": "Lobby", "fiat_code": "GTQ", **fields},
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def register(client, operator, atm, *, builtin_fees=False, **fields) -> dict:
    """Added by npub, then confirmed by the machine with the one-time token.

    ``atm`` is this module's ``Atm`` or the simulator (tools/bitspire_sim.py)
    connected to the server's relay: both have an ``npub`` and ``pair(token)``."""
    expected = await expect(client, operator, atm, builtin_fees=builtin_fees, **fields)
    paired = await atm.pair(pairing_token(expected["seed_url"]))
    response = await client.get(
        f"{API}/machines/{paired['machine_id']}", headers=operator.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


# 1000.00 GTQ at 500000.00 GTQ/BTC is exactly 200_000 sats; the fee is 10_000.
SALE = {
    "principal_sats": 200_000,
    "fee_sats": 10_000,
    "fiat_amount": "1000.00",
    "fiat_code": "GTQ",
    "exchange_rate": "500000.00",
}


def cash_out_params(**overrides) -> dict:
    params = {"tx_id": uuid.uuid4().hex, "amount_sats": 210_000, **SALE}
    return {**params, **overrides}


async def cash_in_params(wallet_id: str, **overrides) -> dict:
    """A cash-in of the ``SALE`` paying an invoice of 190_000 sats (its principal
    less its fee) made now in the customer's ``wallet_id``."""
    from lnbits.core.services import create_invoice

    invoice = await create_invoice(wallet_id=wallet_id, amount=190_000, memo="cash-in")
    params = {"tx_id": uuid.uuid4().hex, "bolt11": invoice.bolt11, **SALE}
    return {**params, **overrides}


async def pay_from_customer(make_user, bolt11: str) -> None:
    """A fresh customer, funded, pays ``bolt11``."""
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import pay_invoice, update_wallet_balance

    customer = await make_user("cust")
    wallet = await get_wallet(customer.wallet_id)
    assert wallet is not None
    await update_wallet_balance(wallet, 1_000_000)
    await pay_invoice(wallet_id=customer.wallet_id, payment_request=bolt11)


async def settlements_of(client, operator) -> list[dict]:
    page = await client.get(f"{API}/settlements?limit=500", headers=operator.headers)
    assert page.status_code == 200, page.text
    return page.json()["data"]


async def mark_cancelled_after_payment(tx_id: str) -> None:
    """The state a cash-out cancelled by the machine and paid anyway ends in."""
    await db.execute(
        "UPDATE satmachineadmin.atm_transactions "
        "SET status = 'cancelled_after_payment' WHERE tx_id = :tx_id",
        {"tx_id": tx_id},
    )
