"""Production defaults: what a seed URL may carry, and what an unconfigured
platform tells its users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

API = "/satmachineadmin/api/v1"
TEST_RELAY = "ws://127.0.0.1:7777"


async def put_config(client, super_user, **fields) -> dict:
    response = await client.put(
        f"{API}/super/config", json=fields, headers=super_user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


RESTORED = (
    "relays",
    "local_only",
    "super_wallet_id",
    "cash_in_fee_bps",
    "cash_out_fee_bps",
)


@pytest_asyncio.fixture(loop_scope="session")
async def restored(client, super_user) -> AsyncIterator[None]:
    """The settings the other tests found, whatever a test here set."""
    response = await client.get(f"{API}/super/config", headers=super_user.headers)
    assert response.status_code == 200, response.text
    before = {key: response.json()[key] for key in RESTORED}
    yield
    await put_config(client, super_user, **before)


async def pair(client, operator):
    return await client.post(
        f"{API}/pairings",
        json={"name": "Lobby", "fiat_code": "GTQ"},
        headers=operator.headers,
    )


def seed_relays(seed_url: str) -> list[str]:
    return parse_qs(urlsplit(seed_url).query)["relay"]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("ws://127.0.0.1:7777", True),
        ("ws://localhost:7777", True),
        ("ws://[::1]:7777", True),
        ("ws://10.1.2.3", True),
        ("ws://192.168.0.10:7000", True),
        ("ws://172.16.5.4", True),
        ("ws://169.254.1.1", True),
        ("ws://0.0.0.0:7777", True),
        ("ws://relay:7777", True),
        ("ws://atm-relay.local", True),
        ("wss://relay.lan", True),
        ("wss://relay.example.com", False),
        ("wss://8.8.8.8", False),
        ("wss://[2001:4860:4860::8888]", False),
    ],
)
def test_which_relays_only_a_local_network_reaches(url, local):
    from satmachineadmin.services.pairing import is_local_relay

    assert is_local_relay(url) is local


async def test_local_only_relays_are_refused_unless_the_instance_is_local_only(
    client, super_user, make_user, restored
):
    operator = await make_user("op")
    local = ["ws://127.0.0.1:7777", "ws://192.168.1.20:7777"]
    await put_config(client, super_user, relays=local, local_only=False)

    refused = await pair(client, operator)
    assert refused.status_code == 409, refused.text
    assert (
        "reachable only from the server's own computer or network"
        in (refused.json()["detail"])
    )
    assert "local-only" in refused.json()["detail"]

    await put_config(client, super_user, local_only=True)
    paired = await pair(client, operator)
    assert paired.status_code == 201, paired.text
    assert seed_relays(paired.json()["seed_url"]) == local


async def test_a_seed_carries_every_relay_once_one_is_public(
    client, super_user, make_user, restored
):
    operator = await make_user("op")
    relays = ["ws://192.168.1.20:7777", "wss://relay.example.com"]
    await put_config(client, super_user, relays=relays, local_only=False)
    paired = await pair(client, operator)
    assert paired.status_code == 201, paired.text
    assert seed_relays(paired.json()["seed_url"]) == relays


async def test_without_relays_the_platform_is_not_configured(
    client, super_user, make_user, restored
):
    operator = await make_user("op")
    config = await put_config(client, super_user, relays=[])
    assert config["relays"] == []

    fee = await client.get(f"{API}/platform-fee", headers=operator.headers)
    assert fee.status_code == 200, fee.text
    assert fee.json()["configured"] is False
    refused = await pair(client, operator)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].startswith("the platform is not yet configured")
    by_npub = await client.post(
        f"{API}/machines",
        json={"name": "Lobby", "fiat_code": "GTQ", "npub": machine_npub()},
        headers=operator.headers,
    )
    assert by_npub.status_code == 409, by_npub.text


def machine_npub() -> str:
    from satmachineadmin.nostr.keys import KeyPair

    return KeyPair.generate().npub


async def test_with_relays_and_a_fee_wallet_the_platform_is_configured(
    client, super_user, make_user, restored
):
    operator = await make_user("op")
    await put_config(
        client, super_user, relays=[TEST_RELAY], super_wallet_id=super_user.wallet_id
    )
    fee = await client.get(f"{API}/platform-fee", headers=operator.headers)
    assert fee.json()["configured"] is True
    await put_config(
        client, super_user, super_wallet_id=None, cash_out_fee_bps=0, cash_in_fee_bps=0
    )
    fee = await client.get(f"{API}/platform-fee", headers=operator.headers)
    assert fee.json()["configured"] is False
