"""A machine's cassettes (contract §9.4): set by its operator, refilled, each
change a new version of the document that ``get_cassettes`` returns and that
is published, encrypted to the machine, as an addressable event."""

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
    def status(self) -> list:
        return [SimpleNamespace(connected=True)]


@pytest.fixture
async def publishing(server):
    services.on_new_cassette_version(server.cassettes.publish_machine)
    yield server
    services.remove_cassette_listener(server.cassettes.publish_machine)


def two_cassettes(**first) -> dict:
    return {
        "cassettes": [
            {"position": "1", "denomination": "100", "capacity": 500, **first},
            {"position": "2", "denomination": "50.5", "capacity": 300},
        ],
        "cashbox_capacity": 1000,
    }


async def put_cassettes(client, actor, machine_id, body):
    client.cookies.clear()
    return await client.put(
        f"{API}/machines/{machine_id}/cassettes", json=body, headers=actor.headers
    )


async def refill(client, actor, machine_id, body):
    client.cookies.clear()
    return await client.post(
        f"{API}/machines/{machine_id}/refills", json=body, headers=actor.headers
    )


async def cash_of(client, actor, machine_id) -> dict:
    client.cookies.clear()
    response = await client.get(
        f"{API}/machines/{machine_id}/cash", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def cassette_events(server: RpcServer, atm: Atm) -> list:
    d_tag = ["d", f"bitspire-cassettes:{atm.keys.public_key_hex}"]
    assert isinstance(server.pool, CapturingPool)
    return [e for e in server.pool.published if e.kind == 30078 and d_tag in e.tags]


def decrypted(event, atm: Atm) -> dict:
    assert ["p", atm.keys.public_key_hex] in event.tags
    key = nip44.get_conversation_key(atm.keys.private_key_hex, event.pubkey)
    return json.loads(nip44.decrypt(event.content, key))


async def test_cassettes_and_a_refill_are_versions_published_to_the_machine(
    publishing, client, operator
):
    server = publishing
    atm = Atm(server)
    machine = await register(client, operator, atm)
    none_yet = await atm.call("get_cassettes")
    assert none_yet["error"]["code"] == "not_found"
    assert cassette_events(server, atm) == []

    response = await put_cassettes(client, operator, machine["id"], two_cassettes())
    assert response.status_code == 200, response.text
    first = response.json()["document"]
    assert first["schema_version"] == 1 and first["version"] == 1
    assert first["positions"] == {
        "1": {"denomination": "100.00", "count": 0, "capacity": 500},
        "2": {"denomination": "50.50", "count": 0, "capacity": 300},
    }
    assert (await atm.call("get_cassettes"))["result"] == first

    loaded = await refill(
        client, operator, machine["id"], {"loaded": {"1": 400, "2": 300}}
    )
    assert loaded.status_code == 201, loaded.text
    second = (await atm.call("get_cassettes"))["result"]
    assert second["version"] == 2
    assert second["positions"]["1"] == {
        "denomination": "100.00",
        "count": 400,
        "capacity": 500,
    }
    events = cassette_events(server, atm)
    assert [decrypted(e, atm) for e in events] == [first, second]
    assert events[0].pubkey == server.keys.public_key_hex
    assert [e.created_at for e in events] == sorted({e.created_at for e in events})

    # Set again: a position keeping its denomination keeps its count.
    changed = await put_cassettes(
        client, operator, machine["id"], two_cassettes(capacity=350)
    )
    third = changed.json()["document"]
    assert third["version"] == 3 and third["positions"]["1"]["count"] == 350
    assert third["positions"]["2"]["count"] == 300
    swapped = await put_cassettes(
        client, operator, machine["id"], two_cassettes(denomination="20")
    )
    assert swapped.json()["document"]["positions"]["1"]["count"] == 0
    assert decrypted(cassette_events(server, atm)[-1], atm)["version"] == 4


async def test_a_refill_closes_the_cashbox_batch_and_opens_the_next(client, operator):
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    await put_cassettes(client, operator, machine["id"], two_cassettes())
    cash = await cash_of(client, operator, machine["id"])
    assert cash["cashbox"]["batch"] == 1 and cash["cashbox"]["capacity"] == 1000
    refilled = await refill(
        client,
        operator,
        machine["id"],
        {"loaded": {"1": 100, "2": 0}, "cashbox_count": 12, "cashbox_fiat": "600"},
    )
    assert refilled.status_code == 201, refilled.text
    cash = refilled.json()
    assert cash["cashbox"]["batch"] == 2 and cash["cashbox"]["count"] == 0
    closed = next(b for b in cash["batches"] if b["batch"] == 1)
    assert closed["closed_at"] is not None
    assert closed["removed_count"] == 12 and closed["removed_fiat"] == "600.00"
    assert [c["kind"] for c in cash["counts"]] == ["refill", "cassettes"]
    assert cash["cassettes"][0]["estimated_count"] == 100
    assert cash["cassettes"][0]["fiat_held"] == "10000.00"
    assert cash["fiat_held"] == "10000.00"


@pytest.mark.parametrize(
    "body, why",
    [
        ({"cassettes": []}, "at least 1"),
        (
            {"cassettes": [{"position": "2", "denomination": "1", "capacity": 1}]},
            "numbered 1 to n",
        ),
        (two_cassettes(position="0"), "a position is"),
        (two_cassettes(denomination="100.001"), "more decimals than GTQ"),
        (two_cassettes(denomination="0"), "more than zero"),
        (two_cassettes(denomination=100), "str"),
        (two_cassettes(denomination="-5"), "negative"),
        (two_cassettes(capacity=0), "greater than or equal to 1"),
        (two_cassettes(capacity=10**12), "less than or equal to"),
        (two_cassettes(capacity="5"), "integer"),
        ({**two_cassettes(), "cashbox_capacity": -1}, "greater than or equal"),
    ],
)
async def test_bad_cassettes_are_refused_in_words(client, operator, body, why):
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    response = await put_cassettes(client, operator, machine["id"], body)
    assert response.status_code == 400, response.text
    assert why in response.text


async def test_bad_refills_are_refused_in_words(client, operator):
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    before = await refill(client, operator, machine["id"], {"loaded": {"1": 1}})
    assert before.status_code == 400 and "set the machine's cassettes" in before.text
    await put_cassettes(client, operator, machine["id"], two_cassettes())
    for body, why in (
        ({"loaded": {"1": 501, "2": 0}}, "at most 500 bills"),
        ({"loaded": {"1": 5}}, "every cassette"),
        ({"loaded": {"1": 5, "2": 1, "3": 1}}, "every cassette"),
        ({"loaded": {"1": 5, "2": 1}, "found": {"9": 1}}, "no cassette at position"),
        ({"loaded": {"1": -1, "2": 1}}, "greater than or equal to 0"),
        ({"loaded": {"1": 1, "2": 1}, "cashbox_fiat": "1.001"}, "more decimals"),
        ({"loaded": {str(n): 1 for n in range(1, 18)}}, "at most 16 cassettes"),
    ):
        response = await refill(client, operator, machine["id"], body)
        assert response.status_code == 400, (body, response.text)
        assert why in response.text, (body, response.text)
    assert (await cash_of(client, operator, machine["id"]))["version"] == 1


async def test_another_operators_machine_has_no_cassettes_to_give(
    client, operator, make_user
):
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    other = await make_user("other")
    for response in (
        await put_cassettes(client, other, machine["id"], two_cassettes()),
        await refill(client, other, machine["id"], {"loaded": {"1": 1}}),
    ):
        assert response.status_code == 404, response.text
    client.cookies.clear()
    read = await client.get(
        f"{API}/machines/{machine['id']}/cash", headers=other.headers
    )
    assert read.status_code == 404
    assert (await cash_of(client, operator, machine["id"]))["version"] is None


async def test_a_restart_and_a_key_rotation_publish_the_cassettes_again(
    client, operator, super_user
):
    atm = Atm(await rpc_server())
    machine = await register(client, operator, atm)
    await put_cassettes(client, operator, machine["id"], two_cassettes())

    restarted = await rpc_server()
    restarted.pool = ConnectedPool()  # type: ignore[assignment]
    await restarted.cassettes.after_refresh()
    (again,) = cassette_events(restarted, atm)
    assert decrypted(again, atm)["version"] == 1
    await restarted.cassettes.after_refresh()  # once per key
    assert len(cassette_events(restarted, atm)) == 1

    client.cookies.clear()
    rotated = await client.post(f"{API}/super/rotate-key", headers=super_user.headers)
    assert rotated.status_code == 200, rotated.text
    after_rotation = await rpc_server()
    after_rotation.pool = ConnectedPool()  # type: ignore[assignment]
    await after_rotation.cassettes.after_refresh()
    (signed_anew,) = cassette_events(after_rotation, atm)
    assert signed_anew.pubkey == rotated.json()["server_pubkey"]
    assert decrypted(signed_anew, atm)["version"] == 1
