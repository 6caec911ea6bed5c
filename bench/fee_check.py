"""The added cost of the fee check (contract §9.2) in a request, measured in
process: run by bench/run.py in a process of its own (figure 2's fee rows).

Boots LNbits with this extension on SQLite in this process, as
bench/profile_inprocess.py does, with an operator whose default schedule is 5 %
and one paired machine. Then, one call after another:

- ``rpc.fees.price``: what ``make_invoice`` and ``pay_invoice`` add to a request
  (the machine's current schedule, the rule, the limits), with a fee that
  matches. It is called as they call it: with the super user's settings that
  the request's fiat check read already;
- the whole in-process handling of that machine's ``get_info`` (decrypt, look up
  the machine, answer, encrypt, log), for scale.

Prints one JSON object on stdout.

    python bench/fee_check.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import harness
from accounts import SUPER_PASSWORD, USER_PASSWORD
from lnbits_api import API, call, first_install, register
from measure import latency_summary
from profile_inprocess import prepare

EXT_ID = harness.EXT_ID


async def _machine(http, token: str):
    """A machine of an operator with a 5 % default schedule, paired in process;
    the machine's side of the wire and its stored row."""
    from in_process_rpc import Atm, rpc_server

    from helpers import pairing_token
    from satmachineadmin import crud
    from satmachineadmin.nostr.keys import KeyPair

    fees = {"commission_bps": 500, "fixed_fee_sats": 0, "max_fiat": "5000"}
    body = {"cash_out": fees, "cash_in": fees}
    await call(http, "PUT", f"{API}/fees", token=token, body=body)
    keys = KeyPair.generate()
    expected = await call(
        http,
        "POST",
        f"{API}/machines",
        token=token,
        body={"npub": keys.npub, "name": "Priced ATM", "fiat_code": "GTQ"},
    )
    atm = Atm(await rpc_server(), keys)
    paired = await atm.pair(pairing_token(expected["seed_url"]))
    row = await crud.get_machine(machine_id=paired["machine_id"])
    assert row is not None
    return atm, row


async def _timed(call_once, count: int) -> list[float]:
    for _ in range(20):  # warm: caches, prepared statements
        await call_once()
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        await call_once()
        seconds.append(time.perf_counter() - started)
    return seconds


async def measure(calls: int) -> dict:
    import httpx
    from lnbits.app import create_app
    from lnbits.task_manager import task_manager
    from seed import seed

    relay = f"ws://127.0.0.1:{harness.free_port()}"  # nothing listens: no relay
    await seed(relay, Path.cwd() / "extensions")
    app = create_app()
    async with app.router.lifespan_context(app):
        for name in (f"{EXT_ID}_payouts", f"{EXT_ID}_rpc", f"{EXT_ID}_outgoing"):
            task = task_manager.get_task(name)
            if task is not None:
                task_manager.cancel_task(task)
        from satmachineadmin import services
        from satmachineadmin.models import Direction
        from satmachineadmin.rpc import fees

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
            su = await first_install(http, username="su", password=SUPER_PASSWORD)
            await call(
                http,
                "PUT",
                f"{API}/super/config",
                token=su.token,
                body={"cash_out_fee_bps": 3000, "super_wallet_id": su.wallet_id},
            )
            operator = await register(http, "op", password=USER_PASSWORD)
            atm, machine = await _machine(http, operator.token)

        config = await services.get_super_config()

        async def price() -> None:
            await fees.price(
                machine,
                Direction.cash_out,
                principal_sats=200_000,
                fee_sats=10_000,
                fiat_amount="1000.00",
                fee_version=None,
                config=config,
            )

        async def get_info() -> None:
            answer = await atm.call("get_info")
            assert "result" in answer, answer

        return {
            "price": latency_summary(await _timed(price, calls)),
            "get_info": latency_summary(await _timed(get_info, calls // 2)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    prepare(None)
    result = asyncio.run(measure(args.calls))
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
