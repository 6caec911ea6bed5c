"""Small builders shared by the API tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

API = "/satmachineadmin/api/v1"
SIMULATOR_PATH = Path(__file__).resolve().parent.parent / "tools" / "bitspire_sim.py"


def machine_key() -> tuple[str, str]:
    """A fresh machine identity: (hex pubkey, npub)."""
    from satmachineadmin.nostr.keys import KeyPair

    keys = KeyPair.generate()
    return keys.public_key_hex, keys.npub


def pairing_token(seed_url: str) -> str:
    """The one-time token a seed URL carries (what the ATM scans)."""
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(seed_url).query)["token"][0]


async def machine_confirms(keys, token: str) -> dict:
    """The ATM's side of pairing, in process: a ``pair`` request signed with the
    machine's key and NIP-44 encrypted to the server, handled by an RPC server as
    one arriving from a relay; returns the decrypted response."""
    import json
    import time
    import uuid

    from satmachineadmin import crud, services
    from satmachineadmin.nostr import nip44
    from satmachineadmin.nostr.events import sign_event
    from satmachineadmin.nostr.keys import KeyPair
    from satmachineadmin.rpc import RpcServer

    class Capture:
        def __init__(self) -> None:
            self.published: list = []

        async def publish(self, event) -> int:
            self.published.append(event)
            return 1

        def status(self) -> list:
            return []

    await services.get_super_config()
    private_key = await crud.get_server_private_key()
    assert private_key is not None
    server = RpcServer()
    server.keys = KeyPair.from_private_key(private_key)
    capture = Capture()
    server.pool = capture  # type: ignore[assignment]
    shared = nip44.get_conversation_key(
        keys.private_key_hex, server.keys.public_key_hex
    )
    request = {
        "id": uuid.uuid4().hex[:12],
        "method": "pair",
        "params": {"token": token},
    }
    event = sign_event(
        private_key_hex=keys.private_key_hex,
        kind=21000,
        content=nip44.encrypt(json.dumps(request), shared),
        tags=[["p", server.keys.public_key_hex]],
        created_at=int(time.time()),
    )
    await server.handle_event(event, "test-relay")
    [answer] = capture.published
    return json.loads(nip44.decrypt(answer.content, shared))


async def add_machine(client, actor, *, keys=None, **body) -> dict:
    """Adds a machine by npub as an operator does, then confirms it from the
    machine as a real ATM would; returns the bound machine (GET /machines/{id})."""
    from satmachineadmin.nostr.keys import KeyPair

    keys = keys or KeyPair.generate()
    body = {"npub": keys.npub, "name": "ATM", **body}
    client.cookies.clear()
    expected = await client.post(f"{API}/machines", json=body, headers=actor.headers)
    assert expected.status_code == 201, expected.text
    assert expected.json()["status"] == "waiting", expected.text
    answer = await machine_confirms(keys, pairing_token(expected.json()["seed_url"]))
    assert "result" in answer, answer
    machine = await client.get(
        f"{API}/machines/{answer['result']['machine_id']}", headers=actor.headers
    )
    assert machine.status_code == 200, machine.text
    return machine.json()


async def lp_code(client, lp, wallet_id: str | None = None) -> str:
    """The LP makes a one-time enrolment code on their page."""
    client.cookies.clear()
    made = await client.post(
        f"{API}/lp/code",
        json={} if wallet_id is None else {"wallet_id": wallet_id},
        headers=lp.headers,
    )
    assert made.status_code == 201, made.text
    return made.json()["code"]


async def enrol_lp(client, operator, lp, fiat_code: str = "GTQ") -> dict:
    """Enrols ``lp`` with the LP's consent: the LP's code, given to the operator."""
    code = await lp_code(client, lp)
    enrolled = await client.post(
        f"{API}/lps",
        json={"code": code, "fiat_code": fiat_code},
        headers=operator.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    return enrolled.json()


async def fund(wallet_id: str, sats: int) -> None:
    """Credits a wallet of the in-process LNbits (FakeWallet: money from nowhere)."""
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    wallet = await get_wallet(wallet_id)
    assert wallet is not None
    await update_wallet_balance(wallet, sats)


def load_simulator() -> ModuleType:
    """tools/bitspire_sim.py, the ATM simulator. tools/ is not a package, so the file
    is loaded by path, once per session: the module must be in sys.modules while it
    runs (for its dataclasses) and every test must see the same classes."""
    loaded = sys.modules.get("bitspire_sim")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("bitspire_sim", SIMULATOR_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cash_out_body(machine_id: str, **overrides) -> dict:
    """A manual cash-out: 1000.00 GTQ at 500000.00 GTQ/BTC is exactly 200_000 sats,
    plus a 10_000-sat commission."""
    body = {
        "machine_id": machine_id,
        "direction": "cash_out",
        "principal_sats": 200_000,
        "fee_sats": 10_000,
        "fiat_amount": "1000.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
    }
    return {**body, **overrides}
