"""The fee schedule published as an addressable event (contract §9.2), captured
from an in-process RPC server: what the machine decrypts is what ``get_fees``
returns, after every change, a key rotation and a restart; an unchanged schedule
is not published again under a new version."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from in_process_rpc import Atm, CapturingPool, register, rpc_server

from helpers import API
from satmachineadmin import services
from satmachineadmin.nostr import nip44
from satmachineadmin.rpc import RpcServer


class ConnectedPool(CapturingPool):
    """A pool with one relay connected, as the server sees it after start."""

    def status(self) -> list:
        return [SimpleNamespace(connected=True)]


@pytest.fixture
async def publishing(server):
    """The in-process server publishes every new schedule version."""
    services.on_new_fee_version(server.fees.publish_machine)
    yield server
    services.remove_fee_listener(server.fees.publish_machine)


def schedule(out_bps=500) -> dict:
    fees = {"fixed_fee_sats": 0, "min_fiat": None, "max_fiat": None}
    return {
        "cash_out": {"commission_bps": out_bps, **fees},
        "cash_in": {"commission_bps": 300, **fees},
    }


def fee_events(server: RpcServer, atm: Atm) -> list:
    d_tag = ["d", f"bitspire-fees:{atm.keys.public_key_hex}"]
    assert isinstance(server.pool, CapturingPool)
    return [
        event
        for event in server.pool.published
        if event.kind == 30078 and d_tag in event.tags
    ]


def decrypted(event, atm: Atm) -> dict:
    assert ["p", atm.keys.public_key_hex] in event.tags
    key = nip44.get_conversation_key(atm.keys.private_key_hex, event.pubkey)
    return json.loads(nip44.decrypt(event.content, key))


async def set_default(client, operator, body) -> None:
    client.cookies.clear()
    response = await client.put(f"{API}/fees", json=body, headers=operator.headers)
    assert response.status_code == 200, response.text


async def test_each_new_version_is_published_to_the_machine(
    publishing, client, operator, super_config
):
    server = publishing
    await set_default(client, operator, schedule())
    atm = Atm(server)
    await register(client, operator, atm)  # added and paired: version 1

    (first,) = fee_events(server, atm)
    assert first.pubkey == server.keys.public_key_hex
    fetched = (await atm.call("get_fees"))["result"]
    assert decrypted(first, atm) == fetched and fetched["version"] == 1

    await set_default(client, operator, schedule())  # unchanged: nothing new
    assert len(fee_events(server, atm)) == 1

    await set_default(client, operator, schedule(out_bps=700))
    await super_config.set(
        {"cash_in_fee_bps": 350, "cash_out_fee_bps": 100, "fee_basis": "principal"}
    )
    events = fee_events(server, atm)
    assert [decrypted(event, atm)["version"] for event in events] == [1, 2, 3]
    assert decrypted(events[-1], atm)["cash_in"]["commission_bps"] == 350
    assert decrypted(events[-1], atm) == (await atm.call("get_fees"))["result"]
    # One address for all of them, each newer than the last: a relay keeps
    # only the newest.
    assert len({json.dumps(e.tags) for e in events}) == 1
    assert [e.created_at for e in events] == sorted({e.created_at for e in events})


async def test_a_restart_and_a_key_rotation_publish_every_schedule_again(
    publishing, client, operator, super_user
):
    await set_default(client, operator, schedule())
    atm = Atm(publishing)
    await register(client, operator, atm)

    restarted = await rpc_server()
    restarted.pool = ConnectedPool()  # type: ignore[assignment]
    await restarted.fees.after_refresh()
    (again,) = fee_events(restarted, atm)
    assert decrypted(again, atm)["version"] == 1
    await restarted.fees.after_refresh()  # once per key, not every second
    assert len(fee_events(restarted, atm)) == 1

    client.cookies.clear()
    rotated = await client.post(f"{API}/super/rotate-key", headers=super_user.headers)
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["server_pubkey"]
    after_rotation = await rpc_server()  # reads the stored key, as refresh does
    after_rotation.pool = ConnectedPool()  # type: ignore[assignment]
    await after_rotation.fees.after_refresh()
    (signed_anew,) = fee_events(after_rotation, atm)
    assert signed_anew.pubkey == new_key
    assert decrypted(signed_anew, atm)["version"] == 1
