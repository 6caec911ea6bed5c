"""Driving an LNbits over its HTTP API, as its users do: requests that say who makes
them, accounts, the first install and an operator's 50/30/20 split.

Shared by the tests that run LNbits in a subprocess (test_crash_recovery.py) and by
the benchmark (bench/), which finds this folder on its path through
bench/harness.py. Like lnbits_process.py beside it, importing it does not import
lnbits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from lnbits_process import EXT_ID

API = f"/{EXT_ID}/api/v1"
# The operator's split: its own wallet and two more, created for it.
SPLITS = (("self", 5000), ("employee", 3000), ("maintenance", 2000))
USER_PASSWORD = "user-password"
SUPER_USERNAME = "superuser"
SUPER_PASSWORD = "secret-password"


class ApiError(AssertionError):
    """An API answer with a status the caller did not expect."""


async def call(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    token: str | None = None,
    key: str | None = None,
    body: Any = None,
    expect: tuple[int, ...] = (200, 201),
) -> Any:
    """One request as the holder of ``token`` (a user's) or ``key`` (a wallet's),
    or anonymous; its JSON answer, None when empty."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["X-Api-Key"] = key
    response = await http.request(method, path, json=body, headers=headers)
    # Auth answers set a session cookie: drop it, every call says who makes it.
    http.cookies.clear()
    if response.status_code not in expect:
        raise ApiError(
            f"{method} {path} → {response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else None


@dataclass
class Account:
    token: str
    username: str = ""
    id: str = ""
    wallets: list[dict] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def wallet_id(self) -> str:
        return self.wallets[0]["id"]

    def wallet(self, wallet_id: str) -> dict:
        return next(w for w in self.wallets if w["id"] == wallet_id)

    async def refresh(self, http: httpx.AsyncClient) -> Account:
        me = await call(http, "GET", "/api/v1/auth", token=self.token)
        self.id, self.wallets = me["id"], me["wallets"]
        return self


async def register(
    http: httpx.AsyncClient, prefix: str, *, password: str = USER_PASSWORD
) -> Account:
    """A new user named ``prefix`` and a random suffix, signed in."""
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    body = {"username": username, "password": password, "password_repeat": password}
    answer = await call(http, "POST", "/api/v1/auth/register", body=body)
    return await Account(answer["access_token"], username).refresh(http)


async def first_install(
    http: httpx.AsyncClient,
    *,
    username: str = SUPER_USERNAME,
    password: str = SUPER_PASSWORD,
) -> Account:
    """Claims the first install as the super user, who enables the extension and
    marks the instance local-only: its relays run on 127.0.0.1."""
    answer = await call(
        http,
        "PUT",
        "/api/v1/auth/first_install",
        body={"username": username, "password": password, "password_repeat": password},
    )
    token = answer["access_token"]
    await call(http, "PUT", f"/api/v1/extension/{EXT_ID}/enable", token=token)
    local = {"local_only": True}
    await call(http, "PUT", f"{API}/super/config", token=token, body=local)
    return await Account(token, username).refresh(http)


async def split_three_ways(http: httpx.AsyncClient, operator: Account) -> list[str]:
    """Gives the operator two more wallets and splits its share over its three
    wallets as SPLITS says; returns their ids, the operator's own first."""
    wallets = [operator.wallet_id]
    for name in ("employee", "maintenance"):
        created = await call(
            http, "POST", "/api/v1/wallet", token=operator.token, body={"name": name}
        )
        wallets.append(created["id"])
    rules = [
        {"label": label, "wallet_id": wallet_id, "weight_bps": weight}
        for (label, weight), wallet_id in zip(SPLITS, wallets, strict=True)
    ]
    token = operator.token
    await call(http, "PUT", f"{API}/splits", token=token, body={"rules": rules})
    return wallets


async def enrol_lp(
    http: httpx.AsyncClient, operator: Account, lp: Account, fiat_code: str = "GTQ"
) -> dict:
    """Enrols ``lp`` with their consent: the one-time code the LP makes on their
    page, given to the operator."""
    made = await call(http, "POST", f"{API}/lp/code", token=lp.token, body={})
    body = {"code": made["code"], "fiat_code": fiat_code}
    return await call(http, "POST", f"{API}/lps", token=operator.token, body=body)


async def add_machine(http: httpx.AsyncClient, operator: Account, body: dict) -> dict:
    """Adds a machine by npub as its operator, then confirms it from a simulated
    ATM (tools/bitspire_sim.py) over the server's relays, as a real ATM does:
    ``pair`` with the one-time token. The server must be on a running relay."""
    from nostr_sdk import Keys

    from helpers import load_simulator

    simulator = load_simulator().BitspireSimulator
    keys = Keys.generate()
    expected = await call(
        http,
        "POST",
        f"{API}/machines",
        token=operator.token,
        body={**body, "npub": keys.public_key().to_bech32()},
    )
    atm, token = simulator.from_seed_url(
        expected["seed_url"],
        secret_key=keys.secret_key().to_hex(),
        timeout=60.0,
        log=lambda _: None,
    )
    async with atm:
        paired = await atm.pair(token)
    path = f"{API}/machines/{paired['machine_id']}"
    return await call(http, "GET", path, token=operator.token)


async def add_machine_through_a_relay(
    http: httpx.AsyncClient, super_user: Account, operator: Account, body: dict
) -> dict:
    """``add_machine`` for a server that has no relay yet: an embedded relay of its
    own for the confirmation, set as the server's relay, closed afterwards (the
    machine stays bound)."""
    from relays import RelayProcess

    relay = RelayProcess("embedded")
    await relay.start()
    try:
        relays = {"relays": [relay.url], "local_only": True}
        await call(
            http, "PUT", f"{API}/super/config", token=super_user.token, body=relays
        )
        return await add_machine(http, operator, body)
    finally:
        await relay.close()
