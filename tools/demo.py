"""A demo business on a running `make run`: run by `make demo`, or by hand.

As the super user it sets a 30 % cash-out platform fee (if none is set) and funds a
"Demo customer" wallet; it creates a demo operator with three split wallets
(50/30/20), a fee schedule (5 % cash-out, 4 % cash-in) and an LP with a
5000.00 GTQ deposit, pairs a simulated bitSpire ATM
through a seed URL, and then runs cash-out transactions through the RPC, which
land on the operator's dashboard. The demo operator's login is printed and kept in
.data/demo-operator.json.

    python tools/demo.py --lnbits-url http://127.0.0.1:5000 \\
        --credentials .data/super-user.json [--count 5] [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

TOOLS = Path(__file__).resolve().parent
EXT = "/satmachineadmin/api/v1"


class Demo:
    def __init__(self, http: httpx.AsyncClient, home: Path) -> None:
        self.http = http
        self.home = home

    async def _ok(self, response_awaitable) -> dict | list:
        response = await response_awaitable
        if response.status_code >= 400:
            sys.exit(f"demo: {response.request.url} answered {response.text}")
        return response.json()

    async def login(self, username: str, password: str) -> dict[str, str]:
        data = await self._ok(
            self.http.post(
                "/api/v1/auth", json={"username": username, "password": password}
            )
        )
        assert isinstance(data, dict)
        self.http.cookies.clear()
        return {"Authorization": f"Bearer {data['access_token']}"}

    async def operator(self) -> tuple[dict[str, str], dict[str, str]]:
        """The demo operator's headers and login, registered on the first run."""
        path = self.home / "demo-operator.json"
        if path.exists():
            login = json.loads(path.read_text())
            return await self.login(**login), login
        login = {"username": "demooperator", "password": secrets.token_urlsafe(12)}
        data = await self._ok(
            self.http.post(
                "/api/v1/auth/register",
                json={**login, "password_repeat": login["password"]},
            )
        )
        assert isinstance(data, dict)
        self.http.cookies.clear()
        path.write_text(json.dumps(login))
        path.chmod(0o600)
        return {"Authorization": f"Bearer {data['access_token']}"}, login

    async def wallet(self, headers: dict[str, str], name: str) -> dict:
        wallets = await self._ok(self.http.get("/api/v1/wallets", headers=headers))
        assert isinstance(wallets, list)
        for wallet in wallets:
            if wallet["name"] == name:
                return wallet
        created = await self._ok(
            self.http.post("/api/v1/wallet", json={"name": name}, headers=headers)
        )
        assert isinstance(created, dict)
        return created


async def prepare(lnbits_url: str, credentials: Path) -> tuple[str, str, dict]:
    """Returns (seed URL, customer wallet admin key, demo operator login)."""
    async with httpx.AsyncClient(base_url=lnbits_url, timeout=30) as http:
        demo = Demo(http, credentials.parent)
        superuser = await demo.login(**json.loads(credentials.read_text()))
        super_wallet = await demo.wallet(superuser, "Platform fees")
        config = await demo._ok(http.get(f"{EXT}/super/config", headers=superuser))
        assert isinstance(config, dict)
        if not config["super_wallet_id"]:
            await demo._ok(
                http.put(
                    f"{EXT}/super/config",
                    json={
                        "cash_out_fee_bps": 3000,
                        "cash_in_fee_bps": 3000,
                        "super_wallet_id": super_wallet["id"],
                    },
                    headers=superuser,
                )
            )
        customer = await demo.wallet(superuser, "Demo customer")
        await demo._ok(
            http.put(
                "/users/api/v1/balance",
                json={"id": customer["id"], "amount": 5_000_000},
                headers=superuser,
            )
        )

        operator, login = await demo.operator()
        splits = await demo._ok(http.get(f"{EXT}/splits", headers=operator))
        assert isinstance(splits, dict)
        if not splits["rules"]:
            rules = []
            for label, weight in (
                ("Self", 5000),
                ("Employee", 3000),
                ("Maintenance", 2000),
            ):
                wallet = await demo.wallet(operator, label)
                rules.append(
                    {"label": label, "wallet_id": wallet["id"], "weight_bps": weight}
                )
            await demo._ok(
                http.put(f"{EXT}/splits", json={"rules": rules}, headers=operator)
            )
        fees = await demo._ok(http.get(f"{EXT}/fees", headers=operator))
        assert isinstance(fees, dict)
        if not fees["is_set"]:  # 5 % on cash-out, 4 % on cash-in, 20-5000 GTQ
            limits = {"fixed_fee_sats": 0, "min_fiat": "20", "max_fiat": "5000"}
            schedule = {
                "cash_out": {"commission_bps": 500, **limits},
                "cash_in": {"commission_bps": 400, **limits},
            }
            await demo._ok(http.put(f"{EXT}/fees", json=schedule, headers=operator))
        lps = await demo._ok(http.get(f"{EXT}/lps", headers=operator))
        if not lps:
            lp_headers, _ = await demo.operator()  # the operator is its own first LP
            # The LP's consent: a one-time code from their page, given to the operator.
            code = await demo._ok(
                http.post(f"{EXT}/lp/code", json={}, headers=lp_headers)
            )
            assert isinstance(code, dict)
            enrolment = await demo._ok(
                http.post(
                    f"{EXT}/lps",
                    json={"code": code["code"], "fiat_code": "GTQ"},
                    headers=operator,
                )
            )
            assert isinstance(enrolment, dict)
            deposit = await demo._ok(
                http.post(
                    f"{EXT}/lps/{enrolment['id']}/deposits",
                    json={"fiat_amount": "5000.00", "note": "demo float"},
                    headers=operator,
                )
            )
            assert isinstance(deposit, dict)
            await demo._ok(
                http.put(f"{EXT}/deposits/{deposit['id']}/confirm", headers=operator)
            )
        pairing = await demo._ok(
            http.post(
                f"{EXT}/pairings",
                json={"name": "Demo ATM", "fiat_code": "GTQ", "location": "Lobby"},
                headers=operator,
            )
        )
        assert isinstance(pairing, dict)
        return pairing["seed_url"], customer["adminkey"], login


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lnbits-url", default="http://127.0.0.1:5000")
    parser.add_argument(
        "--credentials", type=Path, default=Path(".data/super-user.json")
    )
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    seed_url, payer_key, login = asyncio.run(prepare(args.lnbits_url, args.credentials))
    print(
        f"\n  Demo operator: {login['username']} / {login['password']}"
        f"  — log in at {args.lnbits_url} and open SatMachine Admin\n",
        flush=True,
    )
    return subprocess.call(
        [
            sys.executable,
            str(TOOLS / "bitspire_sim.py"),
            "demo",
            "--seed-url",
            seed_url,
            "--lnbits-url",
            args.lnbits_url,
            "--payer-key",
            payer_key,
            "--count",
            str(args.count),
            "--interval",
            str(args.interval),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
