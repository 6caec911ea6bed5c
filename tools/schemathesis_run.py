"""Schemathesis against a real LNbits with this extension: every API route of the
extension, fuzzed from its own /openapi.json, as an operator and as a liquidity
provider side by side, each for a bounded time. Fails on any 5xx answer and on any
answer the schema does not describe (its status, content type or body).

    .venv/bin/python tools/schemathesis_run.py [--max-time 150] [--seed N]

LNbits runs as tests/support/lnbits_process.py runs it (uvicorn in a subprocess,
FakeWallet, SQLite in a scratch folder, a local price source) and is given data
through its HTTP API first (tests/support/lnbits_api.py): a super user charging a
platform fee, an operator with a three-way split, a funded machine, settled
cash-outs paid to an enrolled LP, a pending deposit, a pairing and an LP balance
settlement, so that the fuzzed GETs answer with real rows and not only empty lists.

The super user's routes are fuzzed only as the two others (a 403): fuzzed as the
super user, PUT /super/config would point the RPC server at random relay URLs,
which it then dials.

Schemathesis (`make schemathesis-venv`, requirements/schemathesis.lock) lives in a
venv of its own and reaches LNbits over HTTP only; this script runs in the LNbits
venv. The reports (JUnit, and LNbits' log) go to --report-dir.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

from lnbits_api import (  # noqa: E402 (found through the path set just above)
    API,
    Account,
    add_machine_through_a_relay,
    call,
    enrol_lp,
    first_install,
    register,
    split_three_ways,
)
from lnbits_process import EXT_ID, LnbitsProcess  # noqa: E402

SCHEMATHESIS = REPO_ROOT / ".venv-schemathesis" / "bin" / "schemathesis"
HOOKS = REPO_ROOT / "tools" / "schemathesis_hooks.py"
# Every route of the extension's API, and nothing of LNbits' own.
EXTENSION_PATHS = rf"^/{EXT_ID}/api/v1/"
# A 5xx; a status, a content type or a body that the schema does not document.
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
# uvicorn's access log: ... "GET /satmachineadmin/api/v1/machines HTTP/1.1" 200
ACCESS_LINE = re.compile(rf'"[A-Z]+ /{EXT_ID}/api/v1/[^"]*" (\d{{3}})')
# Fuzzed Lightning addresses (split rules, LP forwarding) are paid over LNURL, which
# LNbits fetches with httpx: through a proxy that is a closed local port, no such
# request leaves this machine, and none waits on DNS. The price source is local.
NO_WAY_OUT = {
    **{
        name: "http://127.0.0.1:9"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    },
    "NO_PROXY": "127.0.0.1,localhost",
}
RATE = "500000.00"  # GTQ per BTC: 10.00 GTQ is 2000 sats


async def settled(http: httpx.AsyncClient, operator: Account, count: int) -> None:
    """Until the operator's ``count`` settlements are paid (FakeWallet pays at once,
    the payout worker in the background)."""
    deadline = time.monotonic() + 60
    while True:
        page = await call(http, "GET", f"{API}/settlements", token=operator.token)
        if sum(1 for row in page["data"] if row["status"] == "settled") >= count:
            return
        if time.monotonic() > deadline:
            statuses = [row["status"] for row in page["data"]]
            raise RuntimeError(f"settlements not paid within 60 s: {statuses}")
        await asyncio.sleep(0.5)


async def seed(http: httpx.AsyncClient) -> tuple[Account, Account]:
    """A business with data in every table the API reads; returns the operator
    and the LP."""
    super_user = await first_install(http)
    await call(
        http,
        "PUT",
        f"{API}/super/config",
        token=super_user.token,
        body={
            "cash_in_fee_bps": 3000,
            "cash_out_fee_bps": 2000,
            "fee_basis": "commission",
            "super_wallet_id": super_user.wallet_id,
        },
    )
    operator = await register(http, "op")
    token = operator.token
    await split_three_ways(http, operator)
    machine = await add_machine_through_a_relay(
        http, super_user, operator, {"name": "Lobby ATM", "fiat_code": "GTQ"}
    )
    await call(
        http,
        "POST",
        f"{API}/pairings",
        token=token,
        body={"name": "Second ATM", "fiat_code": "GTQ", "location": "Front desk"},
    )
    lp = await register(http, "lp")
    enrolment = await enrol_lp(http, operator, lp)
    deposits = f"{API}/lps/{enrolment['id']}/deposits"
    deposit = await call(
        http, "POST", deposits, token=token, body={"fiat_amount": "100.00"}
    )
    await call(http, "PUT", f"{API}/deposits/{deposit['id']}/confirm", token=token)
    await call(
        http,
        "POST",
        deposits,
        token=token,
        body={"fiat_amount": "25.00", "note": "not yet counted"},
    )
    # The machine pays the cash-outs' legs, the operator the balance settlement.
    for wallet_id in (machine["wallet_id"], operator.wallet_id):
        await call(
            http,
            "PUT",
            "/users/api/v1/balance",
            token=super_user.token,
            body={"id": wallet_id, "amount": 1_000_000},
        )
    for number, direction in enumerate(("cash_out", "cash_out", "cash_in")):
        await call(
            http,
            "POST",
            f"{API}/settlements/manual",
            token=token,
            body={
                "machine_id": machine["id"],
                "direction": direction,
                "principal_sats": 2000,
                "fee_sats": 100,
                "fee_override_reason": "seeded",
                "fiat_amount": "10.00",
                "fiat_code": "GTQ",
                "exchange_rate": RATE,
                "tx_id": f"seed-{number}",
                "note": "seeded",
            },
        )
    await settled(http, operator, 3)
    await call(
        http,
        "POST",
        f"{API}/lps/{enrolment['id']}/settle",
        token=token,
        body={
            "wallet_id": operator.wallet_id,
            "fiat_amount": "5.00",
            "exchange_rate": RATE,
            "note": "part of the balance",
        },
    )
    return operator, lp


def answers_by_status(log: str) -> Counter[str]:
    """The statuses of the extension API's answers in LNbits' access log."""
    return Counter(ACCESS_LINE.findall(log))


def schemathesis_command(
    schemathesis: Path,
    base_url: str,
    token: str,
    *,
    max_time: int,
    seed: int,
    report_dir: Path,
) -> list[str]:
    return [
        str(schemathesis),
        "run",
        f"{base_url}/openapi.json",
        "--include-path-regex",
        EXTENSION_PATHS,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-time",
        str(max_time),
        "--seed",
        str(seed),
        # One worker: with two, Python 3.11.7 sometimes fails inside Schemathesis
        # (ast: "AST constructor recursion depth mismatch"), and LNbits has the
        # second core anyway.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        "--no-color",
    ]


async def fuzz_as(
    role: str, token: str, lnbits_url: str, args: argparse.Namespace
) -> int:
    """Schemathesis as one role; its output is printed in one piece when it ends,
    because the roles run side by side."""
    report_dir = args.report_dir / role
    report_dir.mkdir(exist_ok=True)
    command = schemathesis_command(
        args.schemathesis,
        lnbits_url,
        token,
        max_time=args.max_time,
        seed=args.seed,
        report_dir=report_dir,
    )
    began = time.monotonic()
    # In the report folder: whatever Schemathesis keeps goes there.
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=report_dir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    print(f"=== Schemathesis as the {role} ({args.max_time} s)", flush=True)
    print(done.stdout, flush=True)
    print(
        f"=== as the {role}: exit {done.returncode} in "
        f"{time.monotonic() - began:.0f} s",
        flush=True,
    )
    return done.returncode


async def run(args: argparse.Namespace) -> int:
    args.report_dir.mkdir(parents=True, exist_ok=True)
    async with LnbitsProcess(name="schemathesis", extra_env=NO_WAY_OUT) as lnbits:
        try:
            async with httpx.AsyncClient(base_url=lnbits.url, timeout=30) as http:
                operator, lp = await seed(http)
            roles = {"operator": operator.token, "lp": lp.token}
            # Side by side: each Schemathesis waits on LNbits most of the time.
            codes = await asyncio.gather(
                *(
                    fuzz_as(role, token, lnbits.url, args)
                    for role, token in roles.items()
                )
            )
            answers = answers_by_status(lnbits.log_text())
            statuses = ", ".join(
                f"{count} x {status}" for status, count in sorted(answers.items())
            )
            print(
                f"=== both roles: {sum(answers.values())} requests answered "
                f"({statuses})",
                flush=True,
            )
        finally:
            (args.report_dir / "lnbits.log").write_text(lnbits.log_text())
    failed = [role for role, code in zip(roles, codes, strict=True) if code != 0]
    if failed:
        print(f"Schemathesis failed as: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-time", type=int, default=150, help="seconds for each role"
    )
    parser.add_argument("--seed", type=int, default=11, help="Schemathesis' seed")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=REPO_ROOT / "test-artifacts" / "schemathesis",
    )
    parser.add_argument("--schemathesis", type=Path, default=SCHEMATHESIS)
    args = parser.parse_args()
    if not args.schemathesis.exists():
        sys.exit(f"{args.schemathesis} is missing: run `make schemathesis-venv`")
    # Both are used after LNbits' start has changed the working directory.
    args.report_dir = args.report_dir.resolve()
    args.schemathesis = args.schemathesis.resolve()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
