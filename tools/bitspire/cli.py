"""The command line of ``tools/bitspire_sim.py``: one command per RPC or flow,
and ``demo``, a machine that pairs and then keeps selling."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .lnbits import lnbits_invoicer, lnbits_payer, lnurl_wallet
from .protocol import DEFAULT_RELAY, RpcError
from .simulator import BitspireSimulator


def _common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after the command name.

    A subcommand's defaults would overwrite what was given before the command
    name, so there they are ``SUPPRESS``ed and only the top level has defaults.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--server",
        default=default(os.environ.get("BITSPIRE_SERVER")),
        help="server npub or hex (env BITSPIRE_SERVER)",
    )
    parser.add_argument(
        "--relay",
        action="append",
        dest="relays",
        metavar="URL",
        default=default(None),
        help=f"relay URL, repeatable (default {DEFAULT_RELAY})",
    )
    parser.add_argument(
        "--nsec",
        default=default(os.environ.get("BITSPIRE_NSEC")),
        help="machine secret key, nsec or hex (env BITSPIRE_NSEC; default: new key)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(10.0),
        help="give up on a call after this many seconds, or after 4 sends "
        "--retry-every apart, whichever comes first (default 10)",
    )
    parser.add_argument(
        "--retry-every",
        type=float,
        default=default(2.0),
        help="seconds without a response before the request is sent again",
    )


def _option_groups() -> tuple[
    argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser
]:
    """Parents of the subcommands: the common options, a transaction's money,
    and the customer's LNbits wallet."""
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, top=False)

    money = argparse.ArgumentParser(add_help=False)
    money.add_argument("--fiat", required=True, help="fiat amount, e.g. 200.00")
    money.add_argument("--rate", required=True, help="fiat per BTC, e.g. 650000.00")
    money.add_argument(
        "--fee-bps",
        type=int,
        default=None,
        help="fee, basis points (default: the server's fee schedule, else 500)",
    )
    money.add_argument("--fiat-code", default="GTQ")

    lnbits = argparse.ArgumentParser(add_help=False)
    lnbits.add_argument(
        "--lnbits-url", help="LNbits base URL, e.g. http://127.0.0.1:5000"
    )
    lnbits.add_argument(
        "--payer-key", help="API key of the customer's LNbits wallet (admin key to pay)"
    )
    return common, money, lnbits


def _add_beacon(sub: Any, common: argparse.ArgumentParser) -> None:
    beacon = sub.add_parser("beacon", parents=[common], help="publish a beacon")
    beacon.add_argument(
        "--cash-in", action=argparse.BooleanOptionalAction, default=True
    )
    beacon.add_argument(
        "--cash-out", action=argparse.BooleanOptionalAction, default=True
    )
    beacon.add_argument("--cash-level", default="ok")
    beacon.add_argument("--fiat-code", default="GTQ")
    beacon.add_argument("--model", default="bitspire-sim")
    beacon.add_argument("--d", default="bitspire-beacon", help="d tag")


def _add_demo(sub: Any, common: Any, lnbits: Any) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common, lnbits],
        help="pair, then loop: beacon, telemetry and a paid cash-out",
    )
    demo.add_argument("--seed-url", help="pair first (else --server and --nsec)")
    demo.add_argument("--count", type=int, default=3, help="transactions")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between")
    demo.add_argument("--fiat", default="100.00")
    demo.add_argument("--rate", default="650000.00")
    demo.add_argument("--fee-bps", type=int, default=None)
    demo.add_argument("--fiat-code", default="GTQ")


def _build_parser() -> argparse.ArgumentParser:
    common, money, lnbits = _option_groups()
    parser = argparse.ArgumentParser(
        prog="bitspire_sim.py",
        description="bitSpire ATM simulator: the machine side of the bitSpire RPC "
        "over Nostr (v1), built on rust-nostr (nostr_sdk).",
    )
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", parents=[common], help="get_info")
    sub.add_parser("balance", parents=[common], help="get_balance")
    pair = sub.add_parser(
        "pair", parents=[common], help="pair this machine key with a seed URL"
    )
    pair.add_argument("--seed-url", required=True)
    _add_beacon(sub, common)
    cash_out = sub.add_parser(
        "cash-out", parents=[common, money, lnbits], help="one cash-out transaction"
    )
    cash_out.add_argument("--dispensed", help="fiat dispensed (default: all)")
    cash_out.add_argument(
        "--pay-timeout", type=float, help="seconds to wait for the payment"
    )
    cash_in = sub.add_parser(
        "cash-in", parents=[common, money, lnbits], help="one cash-in transaction"
    )
    cash_in.add_argument(
        "--invoice",
        help="the customer's bolt11 for principal - fee sats "
        "(or give --lnbits-url and --payer-key to create it there)",
    )
    cash_in.add_argument(
        "--lnurl",
        action="store_true",
        help="show an LNURL-withdraw QR code instead (create_withdraw, priced by "
        "the server); with --lnbits-url and --payer-key that wallet scans it",
    )
    cash_in.add_argument(
        "--expiry", type=int, help="--lnurl: seconds the link lives (60..3600)"
    )
    sub.add_parser("cassettes", parents=[common], help="get_cassettes")
    report = sub.add_parser(
        "report-cash",
        parents=[common],
        help="report_cash: the counts of the cassettes as fetched",
    )
    report.add_argument("--report-id", help="the idempotency key (default: new)")
    _add_demo(sub, common, lnbits)
    return parser


def _sim_from_args(args: argparse.Namespace) -> BitspireSimulator:
    if not args.server:
        raise SystemExit("--server NPUB is required (or a --seed-url)")
    return BitspireSimulator(
        server_pubkey=args.server,
        relays=args.relays or [DEFAULT_RELAY],
        secret_key=args.nsec,
        timeout=args.timeout,
        retry_every=args.retry_every,
    )


def _print_identity(sim: BitspireSimulator, new_key: bool) -> None:
    print(f"machine npub {sim.npub}")
    if new_key:
        print(f"machine nsec {sim.nsec}  (reuse it with --nsec)")


async def _pair_from_seed(args: argparse.Namespace) -> BitspireSimulator:
    kw: dict[str, Any] = {
        "secret_key": args.nsec,
        "timeout": args.timeout,
        "retry_every": args.retry_every,
    }
    sim, token = BitspireSimulator.from_seed_url(args.seed_url, **kw)
    if args.relays:
        sim.relays = list(args.relays)
    _print_identity(sim, new_key=not args.nsec)
    if sim.operator:
        print(f"operator     {sim.operator}")
    await sim.connect()
    try:
        try:
            await sim.pair(token)
        except RpcError:
            # A key paired before cannot use a token again: carry on if it is known.
            await sim.get_info()
    except BaseException:
        await sim.close()
        raise
    return sim


async def _cash_out(sim: BitspireSimulator, args: argparse.Namespace) -> None:
    pay = None
    if args.lnbits_url and args.payer_key:
        pay = lnbits_payer(args.lnbits_url, args.payer_key)
    summary = await sim.cash_out(
        fiat_amount=args.fiat,
        exchange_rate=args.rate,
        fee_bps=args.fee_bps,
        fiat_code=args.fiat_code,
        pay=pay,
        dispensed_fiat=args.dispensed,
        paid_timeout=args.pay_timeout,
    )
    print(json.dumps(summary, indent=2))


async def _cash_in_lnurl(sim: BitspireSimulator, args: argparse.Namespace) -> None:
    withdraw = None
    if args.lnbits_url and args.payer_key:
        withdraw = lnurl_wallet(lnbits_invoicer(args.lnbits_url, args.payer_key))
    summary = await sim.cash_in_lnurl(
        fiat_amount=args.fiat,
        exchange_rate=args.rate,
        fiat_code=args.fiat_code,
        withdraw=withdraw,
        expiry_s=args.expiry,
    )
    print(json.dumps(summary, indent=2))


async def _cash_in(sim: BitspireSimulator, args: argparse.Namespace) -> None:
    if args.lnurl:
        return await _cash_in_lnurl(sim, args)
    invoice_for: Callable[[int], Awaitable[str]]
    if args.invoice:
        bolt11 = args.invoice

        async def given(sats: int) -> str:
            print(f"(the invoice must be for {sats} sats)")
            return bolt11

        invoice_for = given
    elif args.lnbits_url and args.payer_key:
        invoice_for = lnbits_invoicer(args.lnbits_url, args.payer_key)
    else:
        raise SystemExit("cash-in needs --invoice BOLT11")
    summary = await sim.cash_in(
        fiat_amount=args.fiat,
        exchange_rate=args.rate,
        fee_bps=args.fee_bps,
        fiat_code=args.fiat_code,
        invoice_for=invoice_for,
    )
    print(json.dumps(summary, indent=2))


async def _command(sim: BitspireSimulator, args: argparse.Namespace) -> None:
    """One of the commands that need a connected machine and nothing else."""
    command = args.command
    if command == "info":
        await sim.get_info()
    elif command == "balance":
        await sim.get_balance()
    elif command == "beacon":
        await sim.publish_beacon(
            cash_in=args.cash_in,
            cash_out=args.cash_out,
            cash_level=args.cash_level,
            fiat=args.fiat_code,
            model=args.model,
            d=args.d,
        )
    elif command == "cassettes":
        print(json.dumps(await sim.cassettes(), indent=2))
    elif command == "report-cash":
        if await sim.cassettes() is None:
            raise SystemExit("the operator has set no cassettes for this machine")
        print(json.dumps(await sim.report_cash(args.report_id), indent=2))
    elif command in ("cash-out", "cash-in"):
        if args.fee_bps is None:  # priced by the server's schedule, if any
            await sim.fee_schedule()
        if command == "cash-out":  # the bills dispensed, if it has cassettes
            await sim.cassettes()
        await (_cash_out if command == "cash-out" else _cash_in)(sim, args)


async def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "pair":
        sim = await _pair_from_seed(args)
        await sim.close()
        return 0
    if command == "demo":
        return await _demo(args)
    sim = _sim_from_args(args)
    if not args.nsec:
        _print_identity(sim, new_key=True)
    async with sim:
        await _command(sim, args)
    return 0


async def _demo_transaction(
    sim: BitspireSimulator,
    args: argparse.Namespace,
    fiat_code: str,
    pay: Callable[[str], Awaitable[None]] | None,
    telemetry: Callable[[], dict[str, Any]],
) -> bool:
    """A beacon, telemetry and one cash-out; whether the customer paid."""
    await sim.publish_beacon(fiat=fiat_code)
    await sim.publish_telemetry(telemetry())
    if args.fee_bps is None:  # the schedule may have changed since the last one
        await sim.fee_schedule()
    summary = await sim.cash_out(
        fiat_amount=args.fiat,
        exchange_rate=args.rate,
        fee_bps=args.fee_bps,
        fiat_code=fiat_code,
        pay=pay,
    )
    return bool(summary["paid"])


async def _demo(args: argparse.Namespace) -> int:
    if args.seed_url:
        sim = await _pair_from_seed(args)
    else:
        sim = _sim_from_args(args)
        await sim.connect()
    pay = None
    if args.lnbits_url and args.payer_key:
        pay = lnbits_payer(args.lnbits_url, args.payer_key)
    else:
        print("no --lnbits-url/--payer-key: each invoice waits for a manual payment")
    started = time.monotonic()
    done = failed = 0
    try:
        info = await sim.get_info()
        fiat_code = info.get("fiat_code") or args.fiat_code
        for n in range(1, args.count + 1):
            print(f"--- transaction {n}/{args.count}")

            def telemetry(done: int = done, failed: int = failed) -> dict[str, Any]:
                return {
                    "uptime_s": round(time.monotonic() - started),
                    "transactions": done,
                    "errors": failed,
                    "cash_level": "ok",
                }

            try:
                if await _demo_transaction(sim, args, fiat_code, pay, telemetry):
                    done += 1
                else:
                    failed += 1
            except (RpcError, TimeoutError, ConnectionError, RuntimeError) as exc:
                failed += 1
                print(f"{'failed':<12} {exc}")
            if n < args.count:
                await asyncio.sleep(args.interval)
    finally:
        await sim.close()
    print(f"done: {done} settled, {failed} failed")
    return 0 if failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (RpcError, TimeoutError, ConnectionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
