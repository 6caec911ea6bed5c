"""The people of a benchmark: the super user's and the users' passwords, LPs
enrolled with funded deposits, customers' wallets. Shared by run.py's phases and
profile_inprocess.py (which drives LNbits in its own process)."""

from __future__ import annotations

from typing import Any

import harness  # noqa: F401 (puts tests/, where lnbits_api is, on the path)
from lnbits_api import API, Account, call, enrol_lp, register

SUPER_PASSWORD = "bench-super-password"  # noqa: S105
USER_PASSWORD = "bench-password"  # noqa: S105


async def enrol_lps(http: Any, operator: Account, count: int) -> None:
    """``count`` LPs of ``operator``, each with a confirmed deposit of 1 000.00
    GTQ and up (37.00 more each, so that no two balances are alike)."""
    for n in range(count):
        # An LP is enrolled with the one-time code they make (their consent), so
        # each is a user who can log in.
        lp = await register(http, "lp", password=USER_PASSWORD)
        enrolment = await enrol_lp(http, operator, lp)
        deposit = await call(
            http,
            "POST",
            f"{API}/lps/{enrolment['id']}/deposits",
            token=operator.token,
            body={"fiat_amount": f"{1000 + 37 * n}.00"},
        )
        await call(
            http, "PUT", f"{API}/deposits/{deposit['id']}/confirm", token=operator.token
        )


async def account_wallet(http: Any, name: str) -> dict:
    """A new LNbits account with one wallet and no password (``POST
    /api/v1/account``): a customer, who never logs in here. Registering them
    would spend 0.3 s of bcrypt each."""
    return dict(await call(http, "POST", "/api/v1/account", body={"name": name}))
