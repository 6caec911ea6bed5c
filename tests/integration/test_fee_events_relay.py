"""The fee schedule on real relays (contract §9.2): the extension's own
``rpc_server`` publishes it; what a relay keeps for the machine's ``d`` tag
decrypts, with the machine's key, to what ``get_fees`` returns, after pairing,
an operator's edit and a key rotation, and the newest replaces the older. The
simulated ATM (tools/bitspire_sim.py) prices with the schedule it fetched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from in_process_rpc import Atm, pay_from_customer, register, rpc_server, settlements_of
from relays import RELAY_KINDS, RelayProcess, make_relay
from super_config import SuperConfigSetter
from websockets.asyncio.client import connect

from helpers import API, load_simulator, wait_until
from satmachineadmin.nostr import nip44

pytestmark = pytest.mark.slow  # relay processes

CONNECT_TIMEOUT = 10.0

bs = load_simulator()


def schedule(out_bps: int) -> dict:
    fees = {"fixed_fee_sats": 0, "min_fiat": None, "max_fiat": None}
    return {
        "cash_out": {"commission_bps": out_bps, **fees},
        "cash_in": {"commission_bps": 300, **fees},
    }


async def stored_fee_events(url: str, author: str, machine_hex: str) -> list[dict]:
    """What the relay hands a machine that asks for its schedule."""
    query = {
        "kinds": [30078],
        "authors": [author],
        "#d": [f"bitspire-fees:{machine_hex}"],
    }
    async with connect(url) as ws:
        await ws.send(json.dumps(["REQ", "fees", query]))
        events = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
            if message[0] == "EVENT":
                events.append(message[2])
            elif message[0] == "EOSE":
                return events


def newest(events: list[dict]) -> dict | None:
    return max(events, key=lambda e: (e["created_at"], e["id"]), default=None)


def decrypted(event: dict, atm: Atm) -> dict:
    assert ["p", atm.keys.public_key_hex] in event["tags"]
    key = nip44.get_conversation_key(atm.keys.private_key_hex, event["pubkey"])
    return json.loads(nip44.decrypt(event["content"], key))


@pytest_asyncio.fixture(loop_scope="session", params=RELAY_KINDS)
async def relay(request) -> AsyncIterator[RelayProcess]:
    async with make_relay(request.param) as process:
        yield process


async def server_on(client, config: SuperConfigSetter, url: str) -> str:
    """Points the extension's server at ``url`` and waits until it is connected."""
    updated = await config.set({"relays": [url]})

    async def connected() -> bool:
        response = await client.get(
            f"{API}/super/relays", headers=config.super_user.headers
        )
        status = response.json()
        return status["server_pubkey"] == updated["server_pubkey"] and any(
            r["url"] == url and r["connected"] for r in status["relays"]
        )

    await wait_until(connected, timeout=CONNECT_TIMEOUT, what=f"server on {url}")
    return updated["server_pubkey"]


async def test_the_relay_keeps_the_newest_schedule_for_the_machine(
    relay, client, operator, super_config, super_user
):
    server_hex = await server_on(client, super_config, relay.url)
    client.cookies.clear()
    put = await client.put(f"{API}/fees", json=schedule(500), headers=operator.headers)
    assert put.status_code == 200, put.text
    atm = Atm(await rpc_server())
    await register(client, operator, atm)  # added and paired: version 1
    machine_hex = atm.keys.public_key_hex

    async def schedule_version(author: str) -> int | None:
        event = newest(await stored_fee_events(relay.url, author, machine_hex))
        return None if event is None else decrypted(event, atm)["version"]

    await wait_until(
        lambda: schedule_version(server_hex), what="version 1 on the relay"
    )
    (first,) = await stored_fee_events(relay.url, server_hex, machine_hex)
    assert decrypted(first, atm) == (await atm.call("get_fees"))["result"]

    put = await client.put(f"{API}/fees", json=schedule(600), headers=operator.headers)
    assert put.status_code == 200, put.text

    async def version_2_is_newest() -> bool:
        return await schedule_version(server_hex) == 2

    await wait_until(version_2_is_newest, what="version 2 on the relay")
    stored = await stored_fee_events(relay.url, server_hex, machine_hex)
    latest = newest(stored)
    assert latest is not None
    assert decrypted(latest, atm) == (await atm.call("get_fees"))["result"]
    assert decrypted(latest, atm)["cash_out"]["commission_bps"] == 600
    if relay.kind == "embedded":  # it keeps only the newest per (author, kind, d)
        assert [event["id"] for event in stored] == [latest["id"]]

    rotated = await client.post(f"{API}/super/rotate-key", headers=super_user.headers)
    assert rotated.status_code == 200, rotated.text
    new_hex = rotated.json()["server_pubkey"]

    async def republished() -> bool:
        return await schedule_version(new_hex) == 2

    await wait_until(republished, what="the schedule under the new key")


async def test_the_simulator_prices_with_the_schedule_it_received(
    relay, client, operator, super_config, make_user
):
    server_hex = await server_on(client, super_config, relay.url)
    client.cookies.clear()
    put = await client.put(f"{API}/fees", json=schedule(400), headers=operator.headers)
    assert put.status_code == 200, put.text
    async with bs.BitspireSimulator(
        server_pubkey=server_hex, relays=[relay.url], timeout=10.0, retry_every=2.0
    ) as sim:
        await register(client, operator, sim)
        assert (await sim.fee_schedule())["version"] == 1

        async def pay(bolt11: str) -> None:
            await pay_from_customer(make_user, bolt11)

        summary = await sim.cash_out(
            fiat_amount="1000.00",
            exchange_rate="500000.00",
            fiat_code="GTQ",
            pay=pay,
            poll_every=0.2,
        )
    assert summary["fee_sats"] == 8000 and summary["settlement_id"], summary
    (settlement,) = [
        row
        for row in await settlements_of(client, operator)
        if row["id"] == summary["settlement_id"]
    ]
    assert settlement["commission_sats"] == 8000
    assert (settlement["fee_version"], settlement["fee_mismatch_sats"]) == (1, 0)
