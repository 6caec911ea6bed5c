"""Where the time goes, measured in-process (not part of `make bench`; the
README's explanations come from it). Two questions:

``payouts``: a payout leg against a bare LNbits payment.

Boots LNbits in this process with the extension (SQLite, or PostgreSQL with
``--postgres URL``), stops the extension's payout worker, lands cash-out
settlements through the API and pays them by calling ``payouts.process_settlement``
itself under pyinstrument (async mode: time awaiting the database is charged to
the awaiting line). Then it makes as many bare internal payments
(``create_invoice`` + ``pay_invoice``) the same way. For both it counts the
database connections opened (``lnbits.db.Database.connect``) per leg/payment.

``list``: ``GET /settlements`` (machine + direction filter, 50 a page) over
``--stored`` settlements inserted with direct SQL, as figure 6 does, profiled
the same way over ``--requests`` random offsets.

    .venv/bin/python bench/profile_inprocess.py payouts [--lps 20] [--settlements 4]
    .venv/bin/python bench/profile_inprocess.py list [--stored 100000]
        (either with [--postgres URL-of-an-empty-database] [--out DIR])

pyinstrument is installed with LNbits (an LNbits dependency), not by this project.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import harness
from accounts import SUPER_PASSWORD, USER_PASSWORD, enrol_lps
from connects import Connect, wrap_each_connect
from lnbits_api import API, call, first_install, register, split_three_ways

EXT_ID = harness.EXT_ID


def prepare(database_url: str | None) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"{EXT_ID}-profile-"))
    home = harness.lnbits_home(work, "inprocess")
    os.environ.update(
        harness.lnbits_env(home, port=harness.free_port(), database_url=database_url)
    )
    if not database_url:
        os.environ.pop("LNBITS_DATABASE_URL", None)
    os.chdir(home)
    sys.path.insert(0, str(home / "extensions"))
    return work


class ConnectCounter:
    """Counts ``Database.connect()`` per database while ``active``, and the
    statements run on those connections once opened (``<name> statements``;
    SQLite's ``ATTACH`` of each new connection is not among them)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.active = False

    def install(self) -> None:
        from sqlalchemy.ext.asyncio import AsyncConnection

        real_execute = AsyncConnection.execute
        counter = self

        def wrap(real: Connect) -> Connect:
            @contextlib.asynccontextmanager
            async def connect(self: Any):  # type: ignore[no-untyped-def]
                if counter.active:
                    counter.counts[self.name] += 1
                async with real(self) as conn:
                    conn.conn.info["database"] = self.name
                    yield conn

            return connect

        async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            if counter.active:
                name = self.info.get("database", "other")
                counter.counts[f"{name} statements"] += 1
            return await real_execute(self, *args, **kwargs)

        wrap_each_connect(wrap)
        AsyncConnection.execute = execute  # type: ignore[method-assign]


async def profile(args: argparse.Namespace) -> None:
    import httpx
    from lnbits.app import create_app
    from lnbits.task_manager import task_manager
    from pyinstrument import Profiler
    from seed import seed

    relay = f"ws://127.0.0.1:{harness.free_port()}"  # nothing listens: no relay
    await seed(relay, Path.cwd() / "extensions")
    counter = ConnectCounter()
    counter.install()
    app = create_app()
    async with app.router.lifespan_context(app):
        for name in (f"{EXT_ID}_payouts", f"{EXT_ID}_rpc", f"{EXT_ID}_outgoing"):
            task = task_manager.get_task(name)
            if task is not None:
                task_manager.cancel_task(task)
        payouts = sys.modules[f"{EXT_ID}.services.payouts"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            if args.what == "list":
                await profile_list(http, args, out)
                return
            ids, machine_wallet = await business(http, args)

            counter.counts.clear()
            counter.active = True
            profiler = Profiler(async_mode="enabled", interval=0.0005)
            started = time.perf_counter()
            with profiler:
                for settlement_id in ids:
                    status = await payouts.process_settlement(settlement_id)
                    assert status == "settled", status
            pipeline_s = time.perf_counter() - started
            counter.active = False
            legs = await count_paid_legs(http, args, ids)
            pipeline_counts = dict(counter.counts)
            (out / "pipeline.txt").write_text(
                profiler.output_text(unicode=True, color=False, show_all=False)
            )

            bare_s, bare_counts, bare_profile = await bare(legs, counter)
            (out / "bare.txt").write_text(bare_profile)

    print(f"pipeline: {len(ids)} settlements, {legs} legs in {pipeline_s:.2f} s")
    print(f"  {pipeline_s / legs * 1000:.1f} ms/leg, {legs / pipeline_s:.1f} legs/s")
    for name, n in sorted(pipeline_counts.items()):
        print(f"  {n / legs:.2f} {_per(name, 'leg')}")
    print(f"bare: {legs} payments in {bare_s:.2f} s")
    print(f"  {bare_s / legs * 1000:.1f} ms/payment, {legs / bare_s:.1f} payments/s")
    for name, n in sorted(bare_counts.items()):
        print(f"  {n / legs:.2f} {_per(name, 'payment')}")
    print(f"ratio {(legs / pipeline_s) / (legs / bare_s):.2f}")
    print(f"profiles: {out / 'pipeline.txt'}, {out / 'bare.txt'}")
    del machine_wallet


def _per(name: str, unit: str) -> str:
    if name.endswith(" statements"):
        return f"statements/{unit} on {name.removesuffix(' statements')}"
    return f"connections/{unit} to {name}"


async def confirmed_machine(http: Any, token: str, body: dict) -> dict:
    """Adds a machine by npub, then the machine confirms it with ``pair``, signed
    and encrypted as an ATM would send it (handled in process, no relay)."""
    from helpers import machine_confirms, pairing_token
    from satmachineadmin.nostr.keys import KeyPair

    keys = KeyPair.generate()
    path = f"{API}/machines"
    expected = await call(
        http, "POST", path, token=token, body={**body, "npub": keys.npub}
    )
    answer = await machine_confirms(keys, pairing_token(expected["seed_url"]))
    machine_id = answer["result"]["machine_id"]
    return await call(http, "GET", f"{path}/{machine_id}", token=token)


async def profile_list(http: Any, args: argparse.Namespace, out: Path) -> None:
    import random

    from pyinstrument import Profiler
    from scenarios.settlement_list import (
        insert_postgres,
        insert_sqlite,
        settlement_rows,
    )

    await first_install(http, username="su", password=SUPER_PASSWORD)
    operator = await register(http, "op", password=USER_PASSWORD)
    token = operator.token
    machines = []
    for n in range(5):
        body = {"name": f"Stored {n}", "fiat_code": "GTQ"}
        machines.append((await confirmed_machine(http, token, body))["id"])
    rows = settlement_rows(operator.id, machines, args.stored)
    if args.postgres:
        await insert_postgres(args.postgres, rows)
    else:
        insert_sqlite(Path(os.environ["LNBITS_DATA_FOLDER"]), rows)
    base = f"{API}/settlements?machine_id={machines[0]}&direction=cash_out&limit=50"
    total = (await call(http, "GET", base, token=token))["total"]
    rng = random.Random(60)  # noqa: S311 (benchmark data)
    offsets = [rng.randrange(0, max(1, total - 50)) for _ in range(args.requests)]
    profiler = Profiler(async_mode="enabled", interval=0.0002)
    started = time.perf_counter()
    with profiler:
        for offset in offsets:
            await call(http, "GET", f"{base}&offset={offset}", token=token)
    elapsed = time.perf_counter() - started
    (out / "list.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False)
    )
    (out / "list-all.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=True)
    )
    print(
        f"list: {args.requests} pages of {total} matching in {elapsed:.2f} s, "
        f"{elapsed / args.requests * 1000:.1f} ms each; profile: {out / 'list.txt'}"
    )


async def business(http: Any, args: argparse.Namespace) -> tuple[list[str], str]:
    su = await first_install(http, username="su", password=SUPER_PASSWORD)
    await call(
        http,
        "PUT",
        f"{API}/super/config",
        token=su.token,
        body={
            "cash_out_fee_bps": 3000,
            "fee_basis": "commission",
            "super_wallet_id": su.wallet_id,
        },
    )
    op = await register(http, "op", password=USER_PASSWORD)
    await split_three_ways(http, op)
    machine = await confirmed_machine(
        http, op.token, {"name": "Profiled ATM", "fiat_code": "GTQ"}
    )
    await enrol_lps(http, op, args.lps)
    await call(
        http,
        "PUT",
        "/users/api/v1/balance",
        token=su.token,
        body={"id": machine["wallet_id"], "amount": 50_000 * args.settlements},
    )
    ids = []
    for _ in range(args.settlements):
        landed = await call(
            http,
            "POST",
            f"{API}/settlements/manual",
            token=op.token,
            body={
                "machine_id": machine["id"],
                "direction": "cash_out",
                "principal_sats": 40_000,
                "fee_sats": 2_000,
                "fee_override_reason": "profiled commission",
                "fiat_amount": "200.00",
                "fiat_code": "GTQ",
                "exchange_rate": "500000.00",
                "tx_id": uuid.uuid4().hex,
            },
        )
        ids.append(landed["id"])
    args.operator_token = op.token
    return ids, machine["wallet_id"]


async def count_paid_legs(http: Any, args: argparse.Namespace, ids: list[str]) -> int:
    paid = 0
    for settlement_id in ids:
        detail = await call(
            http, "GET", f"{API}/settlements/{settlement_id}", token=args.operator_token
        )
        paid += sum(1 for leg in detail["legs"] if leg["status"] == "paid")
    return paid


async def bare(count: int, counter: ConnectCounter) -> tuple[float, dict, str]:
    from lnbits.core.crud import create_account, create_wallet
    from lnbits.core.services import create_invoice, pay_invoice, update_wallet_balance
    from pyinstrument import Profiler

    owner = await create_account()
    source = await create_wallet(user_id=owner.id, wallet_name="source")
    targets = [
        await create_wallet(user_id=(await create_account()).id, wallet_name=f"t{n}")
        for n in range(6)
    ]
    await update_wallet_balance(source, count * 1_000 + 1_000)
    counter.counts.clear()
    counter.active = True
    profiler = Profiler(async_mode="enabled", interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for n in range(count):
            invoice = await create_invoice(
                wallet_id=targets[n % 6].id, amount=1, memo=f"bare {n}", internal=True
            )
            await pay_invoice(wallet_id=source.id, payment_request=invoice.bolt11)
    elapsed = time.perf_counter() - started
    counter.active = False
    return (
        elapsed,
        dict(counter.counts),
        profiler.output_text(unicode=True, color=False, show_all=False),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["payouts", "list"])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--lps", type=int, default=20)
    parser.add_argument("--settlements", type=int, default=4)
    parser.add_argument("--postgres", metavar="URL", help="a fresh database's URL")
    parser.add_argument("--out", default="bench/results/profile")
    args = parser.parse_args()
    args.out = str(Path(args.out).resolve())
    work = prepare(args.postgres)
    try:
        asyncio.run(profile(args))
    finally:
        harness.remove_tree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
