"""The cassette document on real relays (contract §9.4): the extension's own
``rpc_server`` publishes it; what a relay keeps for the machine's ``d`` tag
decrypts, with the machine's key, to what ``get_cassettes`` returns, after the
operator sets the cassettes, a refill and a key rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from in_process_rpc import Atm, register, rpc_server
from relay_documents import (
    decrypted,
    newest,
    newest_version,
    server_on,
    stored_documents,
)
from relays import RELAY_KINDS, RelayProcess, make_relay

from helpers import API, wait_until

pytestmark = pytest.mark.slow  # relay processes


@pytest_asyncio.fixture(loop_scope="session", params=RELAY_KINDS)
async def relay(request) -> AsyncIterator[RelayProcess]:
    async with make_relay(request.param) as process:
        yield process


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
        return await newest_version(relay.url, author, "cassettes", atm)

    await wait_until(lambda: version(server_hex), what="version 1 on the relay")
    (first,) = await stored_documents(relay.url, server_hex, "cassettes", machine_hex)
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
    stored = await stored_documents(relay.url, server_hex, "cassettes", machine_hex)
    latest = newest(stored)
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
