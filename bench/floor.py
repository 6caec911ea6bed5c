"""The floor: bare LNbits internal payments, without this extension.

Boots LNbits in this process (``create_app`` and its lifespan, so LNbits' own
background tasks run as they do in the server: the internal-invoice queue, the
payment notifications) with no extension installed, on the database the
environment names, then times N sequential internal payments from one wallet,
each ``create_invoice(internal=True)`` on a target wallet and ``pay_invoice`` from
the source — the two LNbits calls a payout leg makes — rotating over six target
wallets like a settlement's legs. Prints one JSON object on stdout.

Run by bench/run.py with the environment and working directory of an LNbits home
(see harness.lnbits_env); not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


async def run(payments: int, sats: int, targets: int, owner_wallets: int) -> dict:
    from lnbits.app import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        from lnbits.core.crud import create_account, create_wallet
        from lnbits.core.services import (
            create_invoice,
            pay_invoice,
            update_wallet_balance,
        )

        owner = await create_account()
        source = await create_wallet(user_id=owner.id, wallet_name="source")
        wallets = []
        for n in range(targets):
            # One owner for all (as a fleet's operator owns its machines' and
            # split wallets), or an owner each.
            account = owner if owner_wallets else await create_account()
            wallets.append(await create_wallet(user_id=account.id, wallet_name=f"t{n}"))
        for n in range(max(0, owner_wallets - targets - 1)):
            await create_wallet(user_id=owner.id, wallet_name=f"other {n}")
        warmup = 5
        await update_wallet_balance(source, (payments + warmup) * sats + 1_000)

        async def one(n: int) -> None:
            extra = {"bench": "floor", "n": n}
            invoice = await create_invoice(
                wallet_id=wallets[n % targets].id,
                amount=sats,
                memo=f"floor payment {n}",
                extra=extra,
                internal=True,
            )
            await pay_invoice(
                wallet_id=source.id,
                payment_request=invoice.bolt11,
                extra=extra,
                description=f"floor payment {n}",
            )

        for n in range(warmup):
            await one(-1 - n)
        started, cpu_started = time.perf_counter(), time.process_time()
        for n in range(payments):
            await one(n)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return {
        "payments": payments,
        "owner_wallets": owner_wallets,
        "seconds": elapsed,
        "payments_per_s": payments / elapsed,
        "cpu_s": cpu,  # this process's, all threads (LNbits and its database)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, required=True)
    parser.add_argument("--sats", type=int, default=1_000)
    parser.add_argument("--targets", type=int, default=6)
    parser.add_argument(
        "--owner-wallets",
        type=int,
        default=0,
        help="one owner for the source and the targets, with this many wallets",
    )
    args = parser.parse_args()
    result = asyncio.run(
        run(args.payments, args.sats, args.targets, args.owner_wallets)
    )
    print("FLOOR " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
