"""What a phase runs against: one LNbits with the extension and its relay (an
``Instance``), operators with their splits and LPs, and simulated ATMs
(tools/bitspire_sim.py) paired with them. The money of every cash-out is fixed
here too: 200.00 GTQ at 500 000.00 GTQ/BTC, a 5 % ATM fee."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import httpx
from accounts import SUPER_PASSWORD, USER_PASSWORD, account_wallet, enrol_lps
from lnbits_api import API, Account, call, first_install, register, split_three_ways
from phases import BUDGET

from helpers import load_simulator

FIAT, RATE, ATM_FEE_BPS = "200.00", "500000.00", 500  # 40 000 + 2 000 sats
PLATFORM_FEE_BPS = 3000

SIM = load_simulator()


def new_atm(server_npub: str, relay_url: str) -> Any:
    return SIM.BitspireSimulator(
        server_pubkey=server_npub,
        relays=[relay_url],
        # A resend would blur the latency being measured: wait long for one answer.
        timeout=30.0,
        retry_every=15.0,
        log=lambda _line: None,
    )


async def rpc(atm: Any, method: str, params: dict | None = None) -> dict:
    response = await atm.call(method, params, retries=1)
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    result = response.get("result")
    return result if isinstance(result, dict) else {}


@dataclass
class Instance:
    """One LNbits with the extension, the relay it uses, its super user."""

    server: harness.LnbitsServer
    relay: harness.RelayProcess
    http: httpx.AsyncClient
    super_user: Account
    server_npub: str
    db: str

    async def customer(self, sats: int) -> str:
        """A customer's wallet holding ``sats``; returns its admin key."""
        wallet = await account_wallet(self.http, "customer")
        await call(
            self.http,
            "PUT",
            "/users/api/v1/balance",
            token=self.super_user.token,
            body={"id": wallet["id"], "amount": sats},
        )
        return str(wallet["adminkey"])

    async def relays_status(self) -> dict[str, Any]:
        """The extension's relays and its RPC server's counters."""
        token = self.super_user.token
        return dict(await call(self.http, "GET", f"{API}/super/relays", token=token))


async def _install(http: httpx.AsyncClient) -> tuple[Account, str]:
    """The first install's super user, the platform's fees, the server's npub."""
    super_user = await first_install(http, password=SUPER_PASSWORD)
    token = super_user.token
    await call(
        http,
        "PUT",
        f"{API}/super/config",
        token=token,
        body={
            "cash_in_fee_bps": PLATFORM_FEE_BPS,
            "cash_out_fee_bps": PLATFORM_FEE_BPS,
            "fee_basis": "commission",
            "super_wallet_id": super_user.wallets[0]["id"],
        },
    )
    fee = await call(http, "GET", f"{API}/platform-fee", token=token)
    return super_user, fee["server_npub"]


_STARTED = itertools.count(1)  # names each LNbits' turns file apart


async def start_instance(
    work_dir: Path, relay: harness.RelayProcess, database_url: str | None, db: str
) -> Instance:
    turns_dir = BUDGET.turns_dir
    if turns_dir is not None:
        turns_dir.mkdir(parents=True, exist_ok=True)
    server = harness.LnbitsServer(
        work_dir,
        database_url=database_url,
        relay_url=relay.url,
        name=db,
        turns_out=turns_dir / f"{db}-{next(_STARTED)}-turns.txt" if turns_dir else None,
    )
    await server.start()
    http = httpx.AsyncClient(base_url=server.url, timeout=60.0)
    try:
        super_user, server_npub = await _install(http)
    except BaseException:
        await http.aclose()
        await server.stop()
        raise
    return Instance(server, relay, http, super_user, server_npub, db)


async def stop_instance(instance: Instance) -> None:
    await instance.http.aclose()
    await instance.server.stop()


@dataclass
class Operator:
    account: Account
    lp_count: int = 0


async def make_operator(instance: Instance, *, lps: int) -> Operator:
    """An operator splitting 50/30/20 over three wallets, with ``lps`` LPs whose
    deposits (1 000.00 GTQ and up) are confirmed."""
    http = instance.http
    account = await register(http, "op", password=USER_PASSWORD)
    await split_three_ways(http, account)
    # The commission the simulated ATMs charge is the operator's schedule.
    fees = {"commission_bps": ATM_FEE_BPS, "fixed_fee_sats": 0}
    await call(
        http,
        "PUT",
        f"{API}/fees",
        token=account.token,
        body={"cash_out": fees, "cash_in": fees},
    )
    await enrol_lps(http, account, lps)
    return Operator(await account.refresh(http), lp_count=lps)


@dataclass
class Atm:
    sim: Any
    machine: dict
    inkey: str
    customer_key: str


async def add_atm(
    instance: Instance,
    operator: Operator,
    customer_sats: int,
    relay_url: str | None = None,
) -> Atm:
    sim = new_atm(instance.server_npub, relay_url or instance.relay.url)
    expected = await call(
        instance.http,
        "POST",
        f"{API}/machines",
        token=operator.account.token,
        body={"npub": sim.npub, "name": f"ATM {sim.npub[-6:]}", "fiat_code": "GTQ"},
    )
    await sim.connect()
    # Added by npub, the machine is bound once it redeems the one-time token.
    token = expected["seed_url"].split("token=")[1].split("&")[0]
    paired = await sim.pair(token)
    machine = await call(
        instance.http,
        "GET",
        f"{API}/machines/{paired['machine_id']}",
        token=operator.account.token,
    )
    await operator.account.refresh(instance.http)
    inkey = operator.account.wallet(machine["wallet_id"])["inkey"]
    customer_key = await instance.customer(customer_sats) if customer_sats else ""
    await rpc(sim, "get_info")  # the server answers this machine: warmed up
    return Atm(sim, machine, inkey, customer_key)


async def close_atms(atms: list[Atm]) -> None:
    for atm in atms:
        with contextlib.suppress(Exception):
            await atm.sim.close()
