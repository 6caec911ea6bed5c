"""The fee schedule on real relays (contract §9.2): the extension's own
``rpc_server`` publishes it; what a relay keeps for the machine's ``d`` tag
decrypts, with the machine's key, to what ``get_fees`` returns, after pairing,
an operator's edit and a key rotation, and the newest replaces the older. The
simulated ATM (tools/bitspire_sim.py) prices with the schedule it fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from in_process_rpc import Atm, pay_from_customer, register, rpc_server, settlements_of
from relay_documents import (
    decrypted,
    newest,
    newest_version,
    server_on,
    stored_documents,
)
from relays import RELAY_KINDS, RelayProcess, make_relay

from helpers import API, load_simulator, wait_until

pytestmark = pytest.mark.slow  # relay processes

bs = load_simulator()


def schedule(out_bps: int) -> dict:
    fees = {"fixed_fee_sats": 0, "min_fiat": None, "max_fiat": None}
    return {
        "cash_out": {"commission_bps": out_bps, **fees},
        "cash_in": {"commission_bps": 300, **fees},
    }


@pytest_asyncio.fixture(loop_scope="session", params=RELAY_KINDS)
async def relay(request) -> AsyncIterator[RelayProcess]:
    async with make_relay(request.param) as process:
        yield process


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
        return await newest_version(relay.url, author, "fees", atm)

    await wait_until(
        lambda: schedule_version(server_hex), what="version 1 on the relay"
    )
    (first,) = await stored_documents(relay.url, server_hex, "fees", machine_hex)
    assert decrypted(first, atm) == (await atm.call("get_fees"))["result"]

    put = await client.put(f"{API}/fees", json=schedule(600), headers=operator.headers)
    assert put.status_code == 200, put.text

    async def version_2_is_newest() -> bool:
        return await schedule_version(server_hex) == 2

    await wait_until(version_2_is_newest, what="version 2 on the relay")
    stored = await stored_documents(relay.url, server_hex, "fees", machine_hex)
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
