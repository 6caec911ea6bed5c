"""The cassette document on real relays (contract §9.4): the extension's own
``rpc_server`` publishes it; what a relay keeps for the machine's ``d`` tag
decrypts, with the machine's key, to what ``get_cassettes`` returns, after the
operator sets the cassettes, a refill and a key rotation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from in_process_rpc import Atm, register, rpc_server
from relays import RELAY_KINDS, RelayProcess, make_relay
from super_config import SuperConfigSetter
from websockets.asyncio.client import connect

from helpers import API, wait_until
from satmachineadmin.nostr import nip44

pytestmark = pytest.mark.slow  # relay processes

CONNECT_TIMEOUT = 10.0


async def stored_events(url: str, author: str, machine_hex: str) -> list[dict]:
    """What the relay hands a machine that asks for its cassettes."""
    query = {
        "kinds": [30078],
        "authors": [author],
        "#d": [f"bitspire-cassettes:{machine_hex}"],
    }
    async with connect(url) as ws:
        await ws.send(json.dumps(["REQ", "cassettes", query]))
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


async def test_the_relay_keeps_the_newest_cassette_document(
    relay, client, operator, super_config, super_user
):
    server_hex = await server_on(client, super_config, relay.url)
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    machine_hex = atm.keys.public_key_hex
    client.cookies.clear()
    put = await client.put(
        f"{API}/machines/{machine['id']}/cassettes",
        json={"cassettes": [{"position": "1", "denomination": "100", "capacity": 500}]},
        headers=operator.headers,
    )
    assert put.status_code == 200, put.text

    async def version(author: str) -> int | None:
        event = newest(await stored_events(relay.url, author, machine_hex))
        return None if event is None else decrypted(event, atm)["version"]

    await wait_until(lambda: version(server_hex), what="version 1 on the relay")
    (first,) = await stored_events(relay.url, server_hex, machine_hex)
    assert decrypted(first, atm) == (await atm.call("get_cassettes"))["result"]

    refilled = await client.post(
        f"{API}/machines/{machine['id']}/refills",
        json={"loaded": {"1": 450}},
        headers=operator.headers,
    )
    assert refilled.status_code == 201, refilled.text

    async def version_2_is_newest() -> bool:
        return await version(server_hex) == 2

    await wait_until(version_2_is_newest, what="version 2 on the relay")
    latest = newest(await stored_events(relay.url, server_hex, machine_hex))
    assert latest is not None
    document = decrypted(latest, atm)
    assert document == (await atm.call("get_cassettes"))["result"]
    assert document["positions"]["1"] == {
        "denomination": "100.00",
        "count": 450,
        "capacity": 500,
    }

    rotated = await client.post(f"{API}/super/rotate-key", headers=super_user.headers)
    assert rotated.status_code == 200, rotated.text
    new_hex = rotated.json()["server_pubkey"]

    async def republished() -> bool:
        return await version(new_hex) == 2

    await wait_until(republished, what="the cassettes under the new key")
