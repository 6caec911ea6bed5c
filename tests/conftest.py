"""Boots a stock LNbits in-process with this extension mounted.

LNbits reads its settings, picks SQLite or PostgreSQL and writes its auth key when it
is first imported, so everything below up to the fixtures runs before any import of
``lnbits`` or of the extension. That is also why ``tests/`` has no ``__init__.py``.

The tests are grouped by what they need: ``unit/`` (pure code, no LNbits),
``api/`` (this in-process LNbits), ``integration/`` (relay and LNbits processes) and
``browser/`` (headless Chromium). What they share is in ``support/``, which this file
puts on ``sys.path``: its modules are imported by their names (``from helpers import
API``), as ``bench/`` and ``tools/`` import them too. Test modules never import each
other, and their basenames are unique across the folders.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

EXT_ID = "satmachineadmin"
REPO_ROOT = Path(__file__).resolve().parent.parent

_workdir = Path(tempfile.mkdtemp(prefix=f"{EXT_ID}-test-"))
(_workdir / "data").mkdir()
(_workdir / "extensions").mkdir()
(_workdir / "extensions" / EXT_ID).symlink_to(REPO_ROOT, target_is_directory=True)
_lnbits_spec = importlib.util.find_spec("lnbits")
assert _lnbits_spec and _lnbits_spec.origin, "lnbits is not installed"
# create_app() mounts lnbits/static and lnbits/templates relative to the cwd.
(_workdir / "lnbits").symlink_to(Path(_lnbits_spec.origin).parent)

os.environ.update(
    {
        "LNBITS_DATA_FOLDER": str(_workdir / "data"),
        "LNBITS_EXTENSIONS_PATH": str(_workdir),
        "LNBITS_BACKEND_WALLET_CLASS": "FakeWallet",
        "LNBITS_ADMIN_UI": "true",
        "AUTH_HTTPS_ONLY": "false",
        "LNBITS_RATE_LIMIT_NO": "1000000",
        "DEBUG": "false",
    }
)


def _database_of_this_process(server_url: str) -> str:
    """The PostgreSQL database this test process's LNbits runs on. Under
    pytest-xdist every worker boots an LNbits of its own, and two of them on one
    database would see each other's rows, so each worker gets an empty database
    of its own on the same server (the role may CREATEDB, tools/postgres.sh)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return server_url
    import asyncio
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    parts = urlsplit(server_url)
    name = f"{parts.path.lstrip('/')}_{worker}"

    async def recreate() -> None:
        admin = await asyncpg.connect(server_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(recreate())
    return urlunsplit(parts._replace(path=f"/{name}"))


if os.environ.get("SATMACHINEADMIN_TEST_DATABASE_URL"):
    os.environ["LNBITS_DATABASE_URL"] = _database_of_this_process(
        os.environ["SATMACHINEADMIN_TEST_DATABASE_URL"]
    )
else:
    os.environ.pop("LNBITS_DATABASE_URL", None)
sys.path.insert(0, str(_workdir / "extensions"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import httpx  # noqa: E402
from super_config import SuperConfigSetter  # noqa: E402

from helpers import Actor  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_workdir, ignore_errors=True)


# Fixed market prices (fiat per BTC): the tests run offline, and LNbits prices
# every payment in the wallet's currency.
BTC_PRICES = {"USD": 100_000.0, "GTQ": 500_000.0}
# The relay the in-process server is pointed at unless a test sets others.
TEST_RELAY = "ws://127.0.0.1:7777"


async def _fixed_btc_price(currency: str) -> float:
    return BTC_PRICES.get(currency.upper(), 100_000.0)


def _cheap_salt(rounds: int = 4, prefix: bytes = b"2b") -> bytes:
    """bcrypt's cheapest cost for the passwords of the accounts the tests register:
    at LNbits' default cost (12) each of the hundreds of them takes a quarter of a
    second, and how hard a password hash is to crack is LNbits' concern, not this
    extension's. Registering and logging in run LNbits' code all the same."""
    import bcrypt

    return bcrypt.gensalt(rounds, prefix)


@pytest.fixture(scope="session")
async def app():
    from lnbits.app import create_app
    from lnbits.core.models import users
    from lnbits.utils import exchange_rates

    exchange_rates.btc_price = _fixed_btc_price
    users.gensalt = _cheap_salt

    # Chdir only now: pytest resolves its test paths against the cwd at start-up.
    os.chdir(_workdir)
    application = create_app()
    with _one_copy_of_the_extension():
        async with application.router.lifespan_context(application):
            yield application


@contextlib.contextmanager
def _one_copy_of_the_extension():
    """LNbits purges an extension's modules from sys.modules and imports them anew
    when it registers the extension. The test modules imported it already, so the
    app would run a second copy (its own db handle, worker and module globals) and
    a test's monkeypatch would miss the code the app runs. This hands LNbits back
    the modules the tests hold."""
    loaded = {
        name: module
        for name, module in sys.modules.items()
        if name == EXT_ID or name.startswith(f"{EXT_ID}.")
    }
    real_import_module = importlib.import_module

    def import_module(name: str, package: str | None = None):
        if name == EXT_ID or name.startswith(f"{EXT_ID}."):
            for key, module in loaded.items():
                sys.modules.setdefault(key, module)
        return real_import_module(name, package)

    importlib.import_module = import_module  # type: ignore[assignment]
    try:
        yield
    finally:
        importlib.import_module = real_import_module


@pytest.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http


async def _actor_from_token(
    client: httpx.AsyncClient, token: str, username: str
) -> Actor:
    # Auth endpoints set a session cookie; drop it so that every request in the
    # tests says explicitly who makes it (and anonymous ones stay anonymous).
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    enabled = await client.put(f"/api/v1/extension/{EXT_ID}/enable", headers=headers)
    assert enabled.status_code == 200, enabled.text
    me = await client.get("/api/v1/auth", headers=headers)
    assert me.status_code == 200, me.text
    body = me.json()
    return Actor(id=body["id"], username=username, token=token, wallets=body["wallets"])


@pytest.fixture(scope="session")
async def super_user(client) -> Actor:
    response = await client.put(
        "/api/v1/auth/first_install",
        json={
            "username": "superuser",
            "password": "secret-password",
            "password_repeat": "secret-password",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    actor = await _actor_from_token(client, token, "superuser")
    # A fresh install has no relay; the tests' machines pair over this local one.
    configured = await client.put(
        f"/{EXT_ID}/api/v1/super/config",
        json={"relays": [TEST_RELAY], "local_only": True},
        headers=actor.headers,
    )
    assert configured.status_code == 200, configured.text
    return actor


@pytest.fixture(scope="session")
def make_user(client, super_user):
    """Registers a fresh LNbits account with the extension enabled."""

    async def _make(prefix: str = "user") -> Actor:
        username = f"{prefix[:8]}{uuid.uuid4().hex[:8]}"
        response = await client.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "password": "user-password",
                "password_repeat": "user-password",
            },
        )
        assert response.status_code == 200, response.text
        return await _actor_from_token(
            client, response.json()["access_token"], username
        )

    return _make


@pytest_asyncio.fixture(loop_scope="session")
async def super_config(client, super_user) -> AsyncIterator[SuperConfigSetter]:
    """Sets the super config for one test and puts the previous one back after."""
    setter = SuperConfigSetter(client, super_user)
    await setter.remember()
    yield setter
    await setter.restore()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def super_config_for_module(
    client, super_user
) -> AsyncIterator[SuperConfigSetter]:
    """``super_config`` for a whole module (its module-scoped fixtures)."""
    setter = SuperConfigSetter(client, super_user)
    await setter.remember()
    yield setter
    await setter.restore()


@pytest.fixture
def paused_worker(monkeypatch) -> Callable[[], None]:
    """Keeps the app's payout worker from paying anything (it starts no lane)
    for the test; the callable it gives lets the worker pay again."""
    from satmachineadmin.services import payouts

    real = payouts.start_lanes

    async def paused() -> int:
        return 0

    monkeypatch.setattr(payouts, "start_lanes", paused)
    return lambda: monkeypatch.setattr(payouts, "start_lanes", real)


@pytest_asyncio.fixture(loop_scope="session")
async def server(app):
    """The RPC server's request handling, in process: events are handed to it as
    the relay pool would, and what it publishes is captured
    (support/in_process_rpc.py)."""
    from in_process_rpc import rpc_server

    return await rpc_server()


@pytest_asyncio.fixture(loop_scope="session")
async def operator(super_config, super_user, make_user) -> Actor:
    """A fresh operator, on a platform that charges 30 % of the commission in both
    directions into the super user's wallet, with the default tolerances."""
    await super_config.set(
        {
            "cash_out_fee_bps": 3000,
            "cash_in_fee_bps": 3000,
            "fee_basis": "commission",
            "super_wallet_id": super_user.wallet_id,
            "amount_tolerance_bps": 200,
            "dispense_timeout_s": 900,
        }
    )
    return await make_user("op")
