"""Installed as an LNbits admin installs it: release archive, catalog, upgrade.

A stock LNbits 1.6.2 in a process of its own, which has never seen the extension
(no folder, no database), gets it the way the *Extensions → Manage* dialog does:
the catalog built by tools/dist.py is served over HTTP on 127.0.0.1, set as an
extension source through LNbits' settings API, and the release installed with
``POST /api/v1/extension``. Then, in order, on that one LNbits:

1. an operator enables it and a paired machine runs a cash-out end to end;
2. a tampered archive (its hash not the catalog's) is refused and the installed
   version stays; a release asking for a newer LNbits is refused with LNbits'
   message;
3. version N+1, built from a copy with one more migration, replaces N through the
   same call: the data is intact and the migration ran once (also after a restart);
4. deactivated and activated again: the background tasks stop and start exactly
   once (LNbits' task monitor), and so do LNbits' connections to the relay (read
   from the kernel's socket tables); nothing is lost.

The tests share the LNbits and run in this order.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lnbits_api import (
    API,
    Account,
    call,
    enrol_lp,
    register,
    split_three_ways,
)
from lnbits_process import EXT_ID, REPO_ROOT, LnbitsProcess, prepare_home
from relays import RelayProcess

from helpers import load_simulator

pytestmark = pytest.mark.slow

FIAT, RATE, FEE_BPS = "10.00", "500000.00", 500
WAIT_S = 60.0
MIGRATION = re.compile(r"^async def m(\d{3})_", re.MULTILINE)


def load_dist() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "satmachineadmin_dist", REPO_ROOT / "tools" / "dist.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


dist = load_dist()


class StockLnbits(LnbitsProcess):
    """LNbits as a fresh install has it: no extension folder, and the extension
    on for nobody until installed and enabled."""

    def _prepare_home(self) -> None:
        prepare_home(self.home, with_extension=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ReleaseServer:
    """A folder served over HTTP on 127.0.0.1, as a release host serves dist/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        handler = _make_handler(folder)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="release-server", daemon=True
        )
        self._thread.start()

    @property
    def catalog_url(self) -> str:
        return f"{self.url}/catalog.json"

    def publish(self, *entries: dict) -> None:
        catalog = {"featured": [], "repos": [], "extensions": list(entries)}
        (self.folder / "catalog.json").write_text(json.dumps(catalog))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(folder: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_QuietHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

    return Handler


def source_copy(target: Path) -> Path:
    """The files git tracks here, copied into ``target`` and tracked there: a
    source tools/dist.py builds like the repository."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout.decode()
    for path in filter(None, listed.split("\0")):
        origin = REPO_ROOT / path
        if origin.is_file():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / path)
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=target, check=True, capture_output=True)  # noqa: S607
    return target


def next_version(version: str) -> str:
    *head, last = version.split(".")
    return ".".join([*head, str(int(last) + 1)])


def add_upgrade_migration(source: Path) -> int:
    """One more migration (a table and one row in it) and the next version;
    returns the migration's number."""
    migrations = source / "migrations.py"
    text = migrations.read_text()
    number = max(int(n) for n in MIGRATION.findall(text)) + 1
    migrations.write_text(
        text
        + f"""

async def m{number:03d}_upgrade_check(db):
    await db.execute(
        "CREATE TABLE satmachineadmin.upgrade_check (id TEXT PRIMARY KEY)"
    )
    await db.execute(
        "INSERT INTO satmachineadmin.upgrade_check (id) VALUES ('{uuid.uuid4().hex}')"
    )
"""
    )
    config = json.loads((source / "config.json").read_text())
    config["version"] = next_version(config["version"])
    (source / "config.json").write_text(json.dumps(config, indent=2))
    subprocess.run(["git", "add", "-A"], cwd=source, check=True)  # noqa: S607
    return number


def tampered_copy(archive: Path, target: Path) -> Path:
    """``archive`` with one file changed: what a compromised host would serve."""
    import zipfile

    with zipfile.ZipFile(archive) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == f"{EXT_ID}/tasks.py":
                data += b"\n# changed on the way\n"
            copy.writestr(info, data)
    return target


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def relay_connections(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to ``port``, read from the
    kernel's tables."""
    owned = socket_inodes(pid)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                established = fields[3] == "01"
                if remote_port == port and established and fields[9] in owned:
                    count += 1
    return count


async def eventually(
    read: Callable[[], Awaitable[Any]],
    wanted: Callable[[Any], bool],
    what: str,
    timeout_s: float = WAIT_S,
) -> Any:
    """``read()`` polled until ``wanted`` of it; fails with ``what`` if never."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await read()
        if wanted(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what} (last: {answer!r})")
        await asyncio.sleep(0.2)


# --- the installed LNbits -------------------------------------------------------------


@dataclass
class Site:
    lnbits: StockLnbits
    http: httpx.AsyncClient
    releases: ReleaseServer
    relay: RelayProcess
    admin: Account
    work: Path
    release_n: Any = None
    operator: Account | None = None
    lp: Account | None = None
    customer: dict = field(default_factory=dict)
    machine_keys: dict = field(default_factory=dict)

    async def install(self, entry: dict, *, expect: tuple[int, ...] = (200,)) -> Any:
        body = {
            "ext_id": EXT_ID,
            "archive": entry["archive"],
            "source_repo": self.releases.catalog_url,
            "version": entry["version"],
        }
        return await call(
            self.http,
            "POST",
            "/api/v1/extension",
            token=self.admin.token,
            body=body,
            expect=expect,
        )

    async def installed_version(self) -> str | None:
        rows = await self.lnbits.query(
            f"SELECT meta FROM installed_extensions WHERE id = '{EXT_ID}'"
        )
        if not rows:
            return None
        meta = json.loads(rows[0]["meta"])
        return meta["installed_release"]["version"]

    async def db_version(self) -> int:
        rows = await self.lnbits.query(
            f"SELECT version FROM dbversions WHERE db = '{EXT_ID}'"
        )
        return int(rows[0]["version"])

    async def extension_tasks(self) -> list[str]:
        tasks = await call(
            self.http, "GET", "/admin/api/v1/monitor", token=self.admin.token
        )
        return sorted(t["name"] for t in tasks if t["name"].startswith(EXT_ID))

    async def as_operator(self, method: str, path: str, **kw: Any) -> Any:
        assert self.operator is not None
        return await call(
            self.http, method, f"{API}{path}", token=self.operator.token, **kw
        )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory) -> AsyncIterator[Site]:
    work = tmp_path_factory.mktemp("install")
    (work / "www").mkdir()
    releases = ReleaseServer(work / "www")
    relay = RelayProcess("embedded")
    await relay.start()
    lnbits = StockLnbits(
        name="install", extra_env={"LNBITS_USER_DEFAULT_EXTENSIONS": "[]"}
    )
    try:
        await lnbits.start()
        async with httpx.AsyncClient(base_url=lnbits.url, timeout=60) as http:
            password = "admin-password"
            answer = await call(
                http,
                "PUT",
                "/api/v1/auth/first_install",
                body={
                    "username": "admin",
                    "password": password,
                    "password_repeat": password,
                },
            )
            admin = await Account(answer["access_token"], "admin").refresh(http)
            await call(
                http,
                "PATCH",
                "/admin/api/v1/settings",
                token=admin.token,
                body={"lnbits_extensions_manifests": [releases.catalog_url]},
            )
            yield Site(lnbits, http, releases, relay, admin, work)
    finally:
        await lnbits.close()
        await relay.close()
        releases.close()


async def platform_setup(site: Site) -> None:
    """What the admin does after installing: relays, fee wallet, a customer."""
    admin = site.admin
    config = {
        "relays": [site.relay.url],
        "local_only": True,
        "super_wallet_id": admin.wallet_id,
        "cash_out_fee_bps": 3000,
        "cash_in_fee_bps": 3000,
    }
    await call(
        site.http, "PUT", f"/api/v1/extension/{EXT_ID}/enable", token=admin.token
    )
    await call(site.http, "PUT", f"{API}/super/config", token=admin.token, body=config)
    customer = await call(
        site.http, "POST", "/api/v1/wallet", token=admin.token, body={"name": "cust"}
    )
    await call(
        site.http,
        "PUT",
        "/users/api/v1/balance",
        token=admin.token,
        body={"id": customer["id"], "amount": 1_000_000},
    )
    site.customer = customer


async def operator_business(site: Site) -> None:
    """An operator who enabled the extension, with splits and a funded LP."""
    http = site.http
    operator = await register(http, "op")
    lp = await register(http, "lp")
    for user in (operator, lp):
        await call(http, "PUT", f"/api/v1/extension/{EXT_ID}/enable", token=user.token)
    site.operator, site.lp = operator, lp
    await split_three_ways(http, operator)
    # The commission the machines charge (FEE_BPS) is the operator's schedule.
    fees = {"commission_bps": FEE_BPS, "fixed_fee_sats": 0}
    await site.as_operator("PUT", "/fees", body={"cash_out": fees, "cash_in": fees})
    enrolment = await enrol_lp(http, operator, lp)
    deposit = await site.as_operator(
        "POST",
        f"/lps/{enrolment['id']}/deposits",
        body={"fiat_amount": "5000.00", "note": "float"},
    )
    await site.as_operator("PUT", f"/deposits/{deposit['id']}/confirm")


@contextlib.asynccontextmanager
async def paired_machine(site: Site, name: str) -> AsyncIterator[Any]:
    """A machine paired through a seed URL, connected to the relay."""
    pairing = await site.as_operator(
        "POST", "/pairings", body={"name": name, "fiat_code": "GTQ", "location": "Hall"}
    )
    simulator = load_simulator().BitspireSimulator
    atm, token = simulator.from_seed_url(
        pairing["seed_url"], timeout=WAIT_S, log=lambda _: None
    )
    async with atm:
        paired = await atm.pair(token)
        site.machine_keys[paired["machine_id"]] = atm.nsec
        yield atm


async def reconnected_machine(site: Site, machine_id: str) -> Any:
    simulator = load_simulator().BitspireSimulator
    server = await call(site.http, "GET", f"{API}/super/config", token=site.admin.token)
    return simulator(
        server_pubkey=server["server_pubkey"],
        relays=[site.relay.url],
        secret_key=site.machine_keys[machine_id],
        timeout=WAIT_S,
        log=lambda _: None,
    )


async def cash_out(site: Site, atm: Any) -> dict:
    pay = load_simulator().lnbits_payer(site.lnbits.url, site.customer["adminkey"])
    summary = await atm.cash_out(
        fiat_amount=FIAT,
        exchange_rate=RATE,
        fee_bps=FEE_BPS,
        fiat_code="GTQ",
        pay=pay,
        poll_every=0.3,
    )
    assert summary["paid"] is True, summary
    assert summary["settlement_id"], summary

    path = f"/settlements/{summary['settlement_id']}"
    await eventually(
        lambda: site.as_operator("GET", path),
        lambda row: row["status"] == "settled",
        "the cash-out's payouts all paid",
    )
    return summary


async def counts(site: Site) -> dict[str, int]:
    """Rows of the extension's business tables."""
    result = {}
    for table in (
        "machines",
        "settlements",
        "payout_legs",
        "lp_enrolments",
        "deposits",
    ):
        rows = await site.lnbits.query(f"SELECT COUNT(*) AS n FROM {EXT_ID}.{table}")
        result[table] = int(rows[0]["n"])
    return result


# --- 1. install and a cash-out --------------------------------------------------------


async def test_installs_into_a_stock_lnbits_and_runs_a_paired_cash_out(site):
    assert not (site.lnbits.home / "extensions" / EXT_ID).exists()
    assert await site.installed_version() is None
    site.release_n = dist.build(out=site.releases.folder, base_url=site.releases.url)
    site.releases.publish(site.release_n.entry)

    releases = await call(
        site.http, "GET", f"/api/v1/extension/{EXT_ID}/releases", token=site.admin.token
    )
    assert [r["version"] for r in releases] == [site.release_n.version]
    installed = await site.install(site.release_n.entry)
    assert installed["code"] == EXT_ID
    assert await site.installed_version() == site.release_n.version
    assert (site.lnbits.home / "extensions" / EXT_ID / "config.json").is_file()
    assert not (site.lnbits.home / "extensions" / EXT_ID / "tests").exists()

    # A fresh install points at no relay: nothing to pair over until the admin
    # has set the platform up.
    await operator_business(site)
    fresh = await site.as_operator("GET", "/platform-fee")
    assert (fresh["relays"], fresh["configured"]) == ([], False)
    machine = {"name": "Lobby", "fiat_code": "GTQ"}
    refused = await site.as_operator("POST", "/pairings", body=machine, expect=(409,))
    assert refused["detail"].startswith("the platform is not yet configured")

    await platform_setup(site)
    assert (await site.as_operator("GET", "/platform-fee"))["configured"] is True
    async with paired_machine(site, "Lobby") as atm:
        summary = await cash_out(site, atm)
    legs = await site.lnbits.query(
        f"SELECT status FROM {EXT_ID}.payout_legs WHERE settlement_id = "
        f"'{summary['settlement_id']}'"
    )
    assert legs
    assert {leg["status"] for leg in legs} <= {"paid", "retained"}


# --- 2. refusals ----------------------------------------------------------------------


async def test_a_tampered_archive_is_refused_and_the_installed_version_stays(site):
    before = await counts(site)
    source = source_copy(site.work / "tampered-source")
    add_upgrade_migration(source)
    genuine = dist.build(source=source, out=site.work / "genuine", base_url="http://x")
    tampered_copy(genuine.archive, site.releases.folder / "tampered.zip")
    # The catalog's hash is the genuine one; the host serves something else.
    entry = {**genuine.entry, "archive": f"{site.releases.url}/tampered.zip"}
    site.releases.publish(site.release_n.entry, entry)

    refused = await site.install(entry, expect=(400,))
    assert refused["detail"] == "File hash missmatch. Will not install."
    assert await site.installed_version() == site.release_n.version
    assert await site.db_version() == max_migration(REPO_ROOT)
    assert await counts(site) == before
    machines = await site.as_operator("GET", "/machines")
    assert len(machines) == before["machines"]

    # LNbits' clean-up after a failed install also removes the installed folder;
    # the running code is unaffected, and at the next start LNbits restores the
    # installed version from its archive in the catalog.
    await site.lnbits.restart()
    assert await site.installed_version() == site.release_n.version
    installed = site.lnbits.home / "extensions" / EXT_ID
    assert json.loads((installed / "config.json").read_text())["version"] == (
        site.release_n.version
    )
    assert await site.as_operator("GET", "/machines") == machines


async def test_a_release_for_a_newer_lnbits_is_refused_with_lnbits_message(site):
    entry = {
        **site.release_n.entry,
        "version": "99.0.0",
        "min_lnbits_version": "99.0.0",
    }
    site.releases.publish(site.release_n.entry, entry)
    releases = await call(
        site.http, "GET", f"/api/v1/extension/{EXT_ID}/releases", token=site.admin.token
    )
    shown = {r["version"]: r["is_version_compatible"] for r in releases}
    assert shown == {site.release_n.version: True, "99.0.0": False}

    refused = await site.install(entry, expect=(400,))
    assert refused["detail"] == "Incompatible extension version."
    assert await site.installed_version() == site.release_n.version


# --- 3. upgrade -----------------------------------------------------------------------


def max_migration(source: Path) -> int:
    return max(
        int(n) for n in MIGRATION.findall((source / "migrations.py").read_text())
    )


async def upgrade_check_rows(site: Site) -> int:
    rows = await site.lnbits.query(f"SELECT COUNT(*) AS n FROM {EXT_ID}.upgrade_check")
    return int(rows[0]["n"])


async def test_upgrade_to_the_next_version_keeps_the_data_and_migrates_once(site):
    source = source_copy(site.work / "next-source")
    number = add_upgrade_migration(source)
    upgrade = dist.build(
        source=source, out=site.releases.folder, base_url=site.releases.url
    )
    site.releases.publish(site.release_n.entry, upgrade.entry)
    before = await counts(site)
    [machine] = await site.as_operator("GET", "/machines")

    await site.install(upgrade.entry)
    assert await site.installed_version() == upgrade.version
    assert await site.db_version() == number
    assert await upgrade_check_rows(site) == 1
    assert await counts(site) == before

    # The machine paired under version N works under N+1.
    async with await reconnected_machine(site, machine["id"]) as atm:
        await cash_out(site, atm)
    after = await counts(site)
    assert after["settlements"] == before["settlements"] + 1

    await site.lnbits.restart()
    assert await site.installed_version() == upgrade.version
    assert await site.db_version() == number
    assert await upgrade_check_rows(site) == 1
    assert await counts(site) == after


# --- 4. deactivate and activate -------------------------------------------------------

BACKGROUND_TASKS = sorted(
    f"{EXT_ID}_{name}"
    for name in (
        "invoice_listener",
        "rpc",
        "payouts",
        "maintenance",
        "outgoing",
        "alerts",
    )
)


async def background(site: Site) -> tuple[list[str], int]:
    """The extension's tasks in LNbits' monitor and LNbits' connections to the
    relay."""
    assert site.lnbits.pid is not None
    return await site.extension_tasks(), relay_connections(
        site.lnbits.pid, site.relay.port
    )


SERVING = (BACKGROUND_TASKS, 1)
STOPPED: tuple[list[str], int] = ([], 0)


async def test_deactivate_and_activate_stop_and_start_the_background_work(site):
    def serving_once(state: tuple) -> bool:
        return state == SERVING

    await eventually(lambda: background(site), serving_once, "serving once")
    before = await counts(site)
    [machine] = await site.as_operator("GET", "/machines")

    admin = site.admin.token
    await call(site.http, "PUT", f"/api/v1/extension/{EXT_ID}/deactivate", token=admin)
    await eventually(lambda: background(site), lambda s: s == STOPPED, "stopped")
    await site.as_operator("GET", "/machines", expect=(403, 404))

    await call(site.http, "PUT", f"/api/v1/extension/{EXT_ID}/activate", token=admin)
    await eventually(lambda: background(site), serving_once, "serving once again")
    assert await counts(site) == before
    async with await reconnected_machine(site, machine["id"]) as atm:
        await cash_out(site, atm)
    assert await background(site) == SERVING
    assert (await counts(site))["settlements"] == before["settlements"] + 1
