"""Small builders shared by the tests: accounts, machines, LPs, money, waiting.

Importing it imports neither lnbits nor the extension (each function imports what
it needs), so that the tests of processes, bench/ and tools/ may use it too."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

EXT_ID = "satmachineadmin"
API = f"/{EXT_ID}/api/v1"
SIMULATOR_PATH = Path(__file__).resolve().parents[2] / "tools" / "bitspire_sim.py"


@dataclass
class Actor:
    """An LNbits account as the tests drive it: its id, token and wallets."""

    id: str
    username: str
    token: str
    wallets: list[dict] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def wallet_id(self) -> str:
        return self.wallets[0]["id"]


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    what: str = "the condition",
    every: float = 0.05,
) -> Any:
    """Polls ``check`` (plain or async) every ``every`` s until it gives something
    truthy; returns it. Fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


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
    from in_process_rpc import Atm, rpc_server

    return await Atm(await rpc_server(), keys).call("pair", {"token": token})


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
    """Credits a wallet of the in-process LNbits (FakeWallet: money from nowhere),
    in credits no larger than the invoice LNbits allows, which is how it credits."""
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance
    from lnbits.settings import settings

    wallet = await get_wallet(wallet_id)
    assert wallet is not None
    while sats > 0:
        credit = min(sats, settings.lnbits_max_incoming_payment_amount_sats)
        await update_wallet_balance(wallet, credit)
        sats -= credit


async def balance(wallet_id: str) -> int:
    """A wallet's balance in sats, as LNbits has it."""
    from lnbits.core.crud import get_wallet

    wallet = await get_wallet(wallet_id)
    assert wallet is not None
    return wallet.balance


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
    plus a 10_000-sat commission the operator gives (not the schedule's)."""
    body = {
        "machine_id": machine_id,
        "direction": "cash_out",
        "principal_sats": 200_000,
        "fee_sats": 10_000,
        "fee_override_reason": "commission agreed with the customer",
        "fiat_amount": "1000.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
    }
    return {**body, **overrides}
