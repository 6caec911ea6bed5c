"""Benchmarks of satmachineadmin: `make bench` (see bench/README.md).

    python bench/run.py [--postgres URL | --no-postgres REASON] [--quick]

Runs, on this machine, against real processes (LNbits under uvicorn with this
extension and FakeWallet, nostr-sdk's embedded relay, simulated ATMs on
nostr-sdk), and prints one table of results with PASS/FAIL against the goals,
also written as JSON to bench/results/<UTC time>.json and bench/results/latest.json:

1. NIP-44 v2 encrypt+decrypt of 1 KiB: ours (cached conversation key) vs LNbits'
2. RPC round trip (get_info) through the relay, alone and while unknown keys flood it
3. end to end: cash-outs → settlements → legs paid (latency at 1/s; throughput)
4. the floor: bare LNbits internal payments, and the pipeline's share of it
5. distribution arithmetic for 10, 1 000 and 100 000 LPs
6. the settlement list API over 100 000 stored settlements

3, 4 and 6 run on SQLite and on PostgreSQL (``--postgres URL`` or
``$SATMACHINEADMIN_TEST_DATABASE_URL``: a server URL whose role may CREATEDB; the
benchmark makes databases of its own there and drops them). The goals are goals:
the exit code is 0 whatever they say.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flood
import harness
import httpx
from lnbits_api import (
    API,
    SPLITS,
    Account,
    add_machine,
    call,
    enrol_lp,
    first_install,
    register,
    split_three_ways,
)
from nostr_sdk import Keys, PublicKey
from websockets.asyncio.client import connect as ws_connect

RESULTS = harness.BENCH_DIR / "results"
FIAT, RATE, ATM_FEE_BPS = "200.00", "500000.00", 500  # 40 000 + 2 000 sats
PLATFORM_FEE_BPS = 3000
SUPER_PASSWORD = "bench-super-password"  # noqa: S105
USER_PASSWORD = "bench-password"  # noqa: S105


# --- sizes ----------------------------------------------------------------------------


@dataclass
class Sizes:
    rpc_requests: int = 150
    rpc_concurrent_atms: int = 4
    rpc_concurrent_each: int = 25
    latency_settlements: int = 15
    throughput_machines: int = 3
    throughput_tx_each: int = 2
    lps: int = 20
    stored_settlements: int = 100_000
    list_machines: int = 5
    list_requests: int = 40
    floor_max_payments: int = 400
    micro_seconds: float = 0.3
    flood_requests: int = 150
    flood_rate_per_s: float = 200.0
    flood_max_s: float = 20.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            rpc_requests=60,
            rpc_concurrent_each=15,
            latency_settlements=5,
            throughput_machines=2,
            throughput_tx_each=1,
            lps=5,
            stored_settlements=10_000,
            list_requests=40,
            micro_seconds=0.2,
            flood_requests=60,
        )


# --- numbers --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
    }


def fmt_ms(summary: dict[str, float]) -> str:
    return (
        f"p50/95/99 {summary['p50_ms']:.1f}/{summary['p95_ms']:.1f}/"
        f"{summary['p99_ms']:.1f} ms (n={summary['n']})"
    )


# --- the report -----------------------------------------------------------------------


@dataclass
class Row:
    section: str
    name: str
    db: str
    result: str
    target: str = ""
    verdict: str = ""  # PASS, FAIL, SKIP, ERROR or "" (information)
    data: dict[str, Any] = field(default_factory=dict)


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.meta: dict[str, Any] = {}

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        mark = f" [{row.verdict}]" if row.verdict else ""
        print(
            f"  {row.section:>2} {row.name} ({row.db}): {row.result}{mark}", flush=True
        )
        return row

    def error(self, section: str, name: str, db: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        self.add(
            Row(
                section,
                name,
                db,
                text,
                verdict="ERROR",
                data={"traceback": traceback.format_exc()},
            )
        )

    def table(self) -> str:
        header = ("#", "benchmark", "db", "result", "target", "")
        lines = [header] + [
            (r.section, r.name, r.db, r.result, r.target, r.verdict) for r in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

        def render(line: tuple[str, ...]) -> str:
            return "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            ).rstrip()

        rule = "  ".join("-" * width for width in widths)
        return "\n".join(
            [render(lines[0]), rule, *(render(line) for line in lines[1:])]
        )

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        document = {
            "meta": self.meta,
            "rows": [vars(row) for row in self.rows],
            "table": self.table(),
        }
        text = json.dumps(document, indent=2, default=str)
        path = RESULTS / f"{stamp}.json"
        path.write_text(text)
        (RESULTS / "latest.json").write_text(text)
        return path


def machine_facts() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(  # noqa: S603
                cmd, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "nproc": os.cpu_count(),
        "free_h": run("free", "-h"),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor(),
        "python": platform.python_version(),
        "lnbits": harness.lnbits_version(),
        "nostr_sdk": _version("nostr-sdk"),
        "platform": platform.platform(),
        "git": run("git", "-C", str(harness.REPO_ROOT), "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(
            run("git", "-C", str(harness.REPO_ROOT), "status", "--porcelain")
        ),
        "loadavg_start": os.getloadavg(),
        # What else kept this machine busy when the run started.
        "busiest_processes_at_start": [
            line[:100]
            for line in run(
                "ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"
            ).splitlines()[1:6]
        ],
    }


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# --- the ATM simulator ----------------------------------------------------------------


def load_simulator() -> Any:
    path = harness.REPO_ROOT / "tools" / "bitspire_sim.py"
    spec = importlib.util.spec_from_file_location("bitspire_sim", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bitspire_sim"] = module
    spec.loader.exec_module(module)
    return module


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


# --- LNbits accounts ------------------------------------------------------------------


async def account_wallet(http: httpx.AsyncClient, name: str) -> dict:
    """A new LNbits account with one wallet and no password (``POST
    /api/v1/account``): a customer, who never logs in here. Registering them
    would spend 0.3 s of bcrypt each."""
    return dict(await call(http, "POST", "/api/v1/account", body={"name": name}))


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


async def start_instance(
    work_dir: Path, relay: harness.RelayProcess, database_url: str | None, db: str
) -> Instance:
    server = harness.LnbitsServer(
        work_dir, database_url=database_url, relay_url=relay.url, name=db
    )
    await server.start()
    http = httpx.AsyncClient(base_url=server.url, timeout=60.0)
    try:
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
    except BaseException:
        await http.aclose()
        await server.stop()
        raise
    return Instance(server, relay, http, super_user, fee["server_npub"], db)


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
    for n in range(lps):
        # An LP is enrolled with the one-time code they make (their consent), so
        # each is a user who can log in.
        lp = await register(http, "lp", password=USER_PASSWORD)
        enrolment = await enrol_lp(http, account, lp)
        deposit = await call(
            http,
            "POST",
            f"{API}/lps/{enrolment['id']}/deposits",
            token=account.token,
            body={"fiat_amount": f"{1000 + 37 * n}.00"},
        )
        await call(
            http, "PUT", f"{API}/deposits/{deposit['id']}/confirm", token=account.token
        )
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


# --- 2. RPC round trip ----------------------------------------------------------------


class _Peer(SIM.BitspireSimulator):  # type: ignore[misc,name-defined]
    """A nostr-sdk client that notes when each event for it arrives and, with
    ``echo``, answers it at once, as a server that does no work would."""

    def __init__(self, *, echo: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.echo = echo
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()

    def handle_event(self, event: Any) -> bool:
        self.arrivals.put_nowait(time.perf_counter())
        if self.echo:
            answer = self.build_request_event({"id": "echo", "method": "x"})
            asyncio.get_running_loop().create_task(self._publish(answer))
        return True


async def relay_timings(relay_url: str, count: int) -> tuple[list[float], list[float]]:
    """The relay alone, with nostr-sdk clients at both ends and no LNbits: one
    hop (an ATM's signed, encrypted kind-21000 event from its publish to its
    arrival at a subscribed client) and an echo round trip (that client answers
    at once; the ATM has the answer)."""
    atm_keys, peer_keys = Keys.generate(), Keys.generate()
    common: dict[str, Any] = {"relays": [relay_url], "log": lambda _line: None}
    peer = _Peer(
        echo=True,
        server_pubkey=atm_keys.public_key().to_hex(),
        secret_key=peer_keys.secret_key().to_hex(),
        **common,
    )
    atm = _Peer(
        echo=False,
        server_pubkey=peer_keys.public_key().to_hex(),
        secret_key=atm_keys.secret_key().to_hex(),
        **common,
    )
    hops, echoes = [], []
    try:
        await peer.connect()
        await atm.connect()
        for n in range(count + 10):
            event = atm.build_request_event({"id": str(n), "method": "x"})
            t0 = time.perf_counter()
            publish = asyncio.create_task(atm._publish(event))
            hop = await asyncio.wait_for(peer.arrivals.get(), 10)
            echo = await asyncio.wait_for(atm.arrivals.get(), 10)
            await publish
            if n >= 10:  # warm-up
                hops.append(hop - t0)
                echoes.append(echo - t0)
            await asyncio.sleep(0.005)
    finally:
        await atm.close()
        await peer.close()
    return hops, echoes


def load_test_relays() -> Any:
    """tests/support/relays.py: runs PyPI's nostr-relay from .venv-relay
    (make relay-venv)."""
    path = harness.REPO_ROOT / "tests" / "support" / "relays.py"
    spec = importlib.util.spec_from_file_location("satmachineadmin_test_relays", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def use_relays(instance: Instance, urls: list[str]) -> None:
    """Points the extension at ``urls`` and waits until it is connected to them."""
    await call(
        instance.http,
        "PUT",
        f"{API}/super/config",
        token=instance.super_user.token,
        body={"relays": urls},
    )
    wanted = {url.rstrip("/") for url in urls}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = await call(
            instance.http, "GET", f"{API}/super/relays", token=instance.super_user.token
        )
        connected = {
            r["url"].rstrip("/") for r in status["relays"] if r.get("connected")
        }
        if wanted <= connected and len(status["relays"]) == len(wanted):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the extension did not connect to {sorted(wanted)}")


async def rpc_via_nostr_relay(
    instance: Instance, operator: Operator, sizes: Sizes, report: Report
) -> None:
    """The same sequential get_info through PyPI's nostr-relay (Python) instead:
    the server's round trip without the embedded relay's ~40 ms answer stall."""
    relays = load_test_relays()
    try:
        second = relays.RelayProcess("nostr-relay")
    except relays.RelayNotInstalled as exc:
        report.add(
            Row(
                "2",
                "  via PyPI nostr-relay",
                instance.db,
                f"skipped: {exc}",
                verdict="SKIP",
            )
        )
        return
    async with second:
        try:
            await use_relays(instance, [second.url])
            atm = await add_atm(instance, operator, 0, relay_url=second.url)
            try:
                for _ in range(5):
                    await rpc(atm.sim, "get_info")
                seconds = []
                for _ in range(max(20, sizes.rpc_requests // 2)):
                    t0 = time.perf_counter()
                    await rpc(atm.sim, "get_info")
                    seconds.append(time.perf_counter() - t0)
            finally:
                await close_atms([atm])
            echo = latency_summary((await relay_timings(second.url, 30))[1])
        finally:
            await use_relays(instance, [instance.relay.url])
    summary = latency_summary(seconds)
    report.add(
        Row(
            "2",
            "  1 ATM, sequential, via PyPI nostr-relay",
            instance.db,
            f"{fmt_ms(summary)}; its echo p50 {echo['p50_ms']:.1f} ms",
            data={**summary, "relay_echo": echo},
        )
    )


async def bench_rpc(instance: Instance, sizes: Sizes, report: Report) -> None:
    hop_s, echo_s = await relay_timings(instance.relay.url, 100)
    hops, echoes = latency_summary(hop_s), latency_summary(echo_s)
    operator = await make_operator(instance, lps=0)
    atms = [
        await add_atm(instance, operator, 0) for _ in range(sizes.rpc_concurrent_atms)
    ]
    try:
        first = atms[0].sim
        for _ in range(10):
            await rpc(first, "get_info")
        seconds = []
        started = time.perf_counter()
        for _ in range(sizes.rpc_requests):
            t0 = time.perf_counter()
            await rpc(first, "get_info")
            seconds.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        summary = latency_summary(seconds)
        rate = sizes.rpc_requests / elapsed
        p99 = summary["p99_ms"]
        report.add(
            Row(
                "2",
                "RPC get_info round trip, 1 ATM, sequential",
                instance.db,
                f"{fmt_ms(summary)}; {rate:.0f} req/s",
                "p99 < 50 ms",
                "PASS" if p99 < 50 else "FAIL",
                {**summary, "requests_per_s": rate},
            )
        )
        # The server's own share: rpc_log.latency_ms, from the request event's
        # arrival to its answer handed to the relay pool (whole milliseconds).
        log = await call(
            instance.http,
            "GET",
            f"{API}/rpc/log?machine_id={atms[0].machine['id']}&limit=1000",
            token=operator.account.token,
        )
        handled = [
            row["latency_ms"] / 1000 for row in log if row["method"] == "get_info"
        ][: sizes.rpc_requests]
        server = latency_summary(handled)
        report.add(
            Row(
                "2",
                "  of which server handling (rpc_log)",
                instance.db,
                fmt_ms(server),
                data=server,
            )
        )
        report.add(
            Row(
                "2",
                "  relay alone: echo round trip, no LNbits",
                instance.db,
                fmt_ms(echoes),
                data=echoes,
            )
        )
        report.add(
            Row(
                "2",
                "  relay alone: one hop",
                instance.db,
                fmt_ms(hops),
                data=hops,
            )
        )
        await rpc_via_nostr_relay(instance, operator, sizes, report)

        async def loop(atm: Atm) -> list[float]:
            out = []
            for _ in range(sizes.rpc_concurrent_each):
                t0 = time.perf_counter()
                await rpc(atm.sim, "get_info")
                out.append(time.perf_counter() - t0)
            return out

        started = time.perf_counter()
        per_atm = await asyncio.gather(*(loop(atm) for atm in atms))
        elapsed = time.perf_counter() - started
        seconds = [s for chunk in per_atm for s in chunk]
        summary = latency_summary(seconds)
        rate = len(seconds) / elapsed
        report.add(
            Row(
                "2",
                f"RPC get_info, {len(atms)} ATMs at once",
                instance.db,
                f"{fmt_ms(summary)}; {rate:.0f} req/s",
                data={**summary, "requests_per_s": rate},
            )
        )
    finally:
        await close_atms(atms)


async def bench_flood(instance: Instance, sizes: Sizes, report: Report) -> None:
    """get_info's p99 alone and while unknown keys flood the relay (flood.py)."""
    operator = await make_operator(instance, lps=0)
    atm = await add_atm(instance, operator, 0)

    async def relays() -> dict[str, Any]:
        token = instance.super_user.token
        status = await call(instance.http, "GET", f"{API}/super/relays", token=token)
        return dict(status)

    try:
        for _ in range(10):
            await rpc(atm.sim, "get_info")
        before = await relays()
        figures = await flood.measure(
            lambda: rpc(atm.sim, "get_info"),
            relay_url=instance.relay.url,
            server_hex=PublicKey.parse(instance.server_npub).to_hex(),
            requests=sizes.flood_requests,
            rate_per_s=sizes.flood_rate_per_s,
            max_s=sizes.flood_max_s,
        )
        after = await relays()
    finally:
        await close_atms([atm])
    alone = latency_summary(figures.pop("unloaded_s"))
    loaded = latency_summary(figures.pop("loaded_s"))
    ratio = loaded["p99_ms"] / alone["p99_ms"]
    dropped = {
        key: after["dropped"].get(key, 0) - before["dropped"].get(key, 0)
        for key in after["dropped"]
    }
    answered = after["requests_handled"] - before["requests_handled"]
    report.add(
        Row(
            "2",
            f"RPC get_info p99, {sizes.flood_rate_per_s:.0f}/s unknown-key flood",
            instance.db,
            f"{loaded['p99_ms']:.1f} ms flooded vs {alone['p99_ms']:.1f} ms alone "
            f"({ratio:.2f}x); p50 {loaded['p50_ms']:.1f} vs {alone['p50_ms']:.1f} ms; "
            f"{figures['flood_sent']} events at {figures['flood_rate_per_s']:.0f}/s",
            "< 2x alone",
            "PASS" if ratio < 2 else "FAIL",
            {
                "unloaded": alone,
                "loaded": loaded,
                "ratio": ratio,
                **figures,
                "server_dropped": dropped,
                "server_answered": answered,
            },
        )
    )
    report.add(
        Row(
            "2",
            "  the server meanwhile",
            instance.db,
            f"answered {answered} (the ATM's {2 * sizes.flood_requests + 10} or "
            f"fewer included); dropped "
            + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()) if v),
        )
    )


# --- 3. end to end --------------------------------------------------------------------


class LegClock:
    """When LNbits announces each leg's payment: the websocket of the paying
    (machine) wallet pushes every payment of that wallet as it happens, with the
    payment's ``extra`` (which carries the leg's id)."""

    def __init__(self) -> None:
        self.paid_at: dict[str, float] = {}
        self.last_at = 0.0  # the latest leg message (wall clock)
        self._tasks: list[asyncio.Task[None]] = []

    async def watch(self, instance: Instance, inkey: str) -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(self._listen(instance, inkey, ready))
        self._tasks.append(task)
        await asyncio.wait_for(ready.wait(), 10)

    async def _listen(
        self, instance: Instance, inkey: str, ready: asyncio.Event
    ) -> None:
        url = f"{instance.server.ws_url}/api/v1/ws/{inkey}"
        async with ws_connect(url, open_timeout=10, ping_interval=None) as ws:
            ready.set()
            async for message in ws:
                now = time.time()
                try:
                    payment = json.loads(message)["payment"]
                    leg_id = (payment.get("extra") or {}).get("leg_id")
                    outgoing = payment.get("amount", 0) < 0
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if leg_id and outgoing:
                    self.paid_at.setdefault(str(leg_id), now)
                    self.last_at = now

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass
class CashOut:
    machine_id: str
    tx_id: str
    settlement_id: str
    t_dispense: float  # the ATM sends report_dispense (wall clock)
    t_answer: float  # the ATM has the answer


async def cash_out(
    instance: Instance, atm: Atm, *, dispense_at: float | None = None
) -> CashOut:
    """One customer cash-out as an ATM runs it: make_invoice, the customer pays
    from their LNbits wallet, lookup_invoice until paid, report_dispense."""
    amounts = SIM.compute_amounts(FIAT, RATE, ATM_FEE_BPS)
    tx_id = uuid.uuid4().hex
    invoice = await rpc(
        atm.sim,
        "make_invoice",
        {
            "tx_id": tx_id,
            "amount_sats": amounts.amount_sats,
            "principal_sats": amounts.principal_sats,
            "fee_sats": amounts.fee_sats,
            "fiat_amount": FIAT,
            "fiat_code": "GTQ",
            "exchange_rate": RATE,
            "expiry_s": 600,
        },
    )
    await call(
        instance.http,
        "POST",
        "/api/v1/payments",
        key=atm.customer_key,
        body={"out": True, "bolt11": invoice["bolt11"]},
    )
    for _ in range(200):
        looked = await rpc(
            atm.sim, "lookup_invoice", {"payment_hash": invoice["payment_hash"]}
        )
        if looked.get("status") == "paid":
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"cash-out {tx_id} was never paid")
    if dispense_at is not None:
        await asyncio.sleep(max(0.0, dispense_at - time.time()))
    t_dispense = time.time()
    answer = await rpc(
        atm.sim, "report_dispense", {"tx_id": tx_id, "dispensed_fiat": FIAT}
    )
    return CashOut(
        atm.machine["id"], tx_id, str(answer["settlement_id"]), t_dispense, time.time()
    )


async def wait_settled(
    instance: Instance,
    operator: Operator,
    ids: set[str],
    clock: LegClock,
    timeout_s: float,
) -> dict[str, dict]:
    """Waits until every settlement is settled or failed, then reads each one
    with its legs. It asks the server (one list request) only once no leg has
    been paid for a second, so as not to load it while it is paying."""
    deadline = time.monotonic() + timeout_s
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        if time.time() - clock.last_at < 1.0:
            continue
        page = await call(
            instance.http,
            "GET",
            f"{API}/settlements?limit=500",
            token=operator.account.token,
        )
        for row in page["data"]:
            if row["id"] in pending and row["status"] in ("settled", "failed"):
                pending.discard(row["id"])
    details = {}
    for settlement_id in ids:
        details[settlement_id] = await call(
            instance.http,
            "GET",
            f"{API}/settlements/{settlement_id}",
            token=operator.account.token,
        )
    return details


@dataclass
class Outcome:
    latencies: list[float]
    legs_paid: int
    not_settled: int
    missing_clock: int
    first_dispense: float
    last_leg: float
    last_dispense: float
    answer_latencies: list[float]
    paid_at_skew_s: float  # largest |legs' paid_at (DB, whole seconds) - clock|
    first_leg: list[float]  # report_dispense sent → its settlement's first leg paid
    leg_gaps: list[float]  # between consecutive legs of one settlement

    def timings(self) -> dict[str, Any]:
        """The run's clock figures and latency distributions, for a row's data."""
        return {
            "missing_clock": self.missing_clock,
            "paid_at_skew_s": self.paid_at_skew_s,
            "report_dispense_answer": latency_summary(self.answer_latencies),
            "first_leg_paid": latency_summary(self.first_leg),
            "between_legs": latency_summary(self.leg_gaps),
            "latencies_ms": [round(x * 1000, 1) for x in self.latencies],
        }

    @property
    def window(self) -> float:
        return self.last_leg - self.first_dispense


def outcome(
    cash_outs: list[CashOut], details: dict[str, dict], clock: LegClock
) -> Outcome:
    latencies, legs_paid, not_settled, missing, skew = [], 0, 0, 0, 0.0
    last_leg = 0.0
    first_leg: list[float] = []
    leg_gaps: list[float] = []
    for tx in cash_outs:
        settlement = details[tx.settlement_id]
        if settlement["status"] != "settled":
            not_settled += 1
            continue
        times = []
        for leg in settlement["legs"] or []:
            if leg["status"] != "paid":
                continue
            legs_paid += 1
            at = clock.paid_at.get(leg["id"])
            if at is None:
                missing += 1
                continue
            times.append(at)
            if leg.get("paid_at"):
                # paid_at is written after the payment, in whole seconds.
                skew = max(skew, abs(leg["paid_at"] + 0.5 - at) - 0.5)
        if times:
            times.sort()
            latencies.append(times[-1] - tx.t_dispense)
            last_leg = max(last_leg, times[-1])
            first_leg.append(times[0] - tx.t_dispense)
            leg_gaps += [b - a for a, b in itertools.pairwise(times)]
    return Outcome(
        latencies=latencies,
        legs_paid=legs_paid,
        not_settled=not_settled,
        missing_clock=missing,
        first_dispense=min(tx.t_dispense for tx in cash_outs),
        last_dispense=max(tx.t_dispense for tx in cash_outs),
        last_leg=last_leg,
        answer_latencies=[tx.t_answer - tx.t_dispense for tx in cash_outs],
        paid_at_skew_s=skew,
        first_leg=first_leg,
        leg_gaps=leg_gaps,
    )


async def bench_latency(instance: Instance, sizes: Sizes, report: Report) -> None:
    """One ATM, one settlement a second, no LPs: 4 legs each (platform fee and
    the operator's three splits)."""
    n = sizes.latency_settlements
    operator = await make_operator(instance, lps=0)
    atm = await add_atm(instance, operator, customer_sats=(n + 2) * 50_000)
    clock = LegClock()
    try:
        await clock.watch(instance, atm.inkey)
        await cash_out(instance, atm)  # warm-up, not counted
        start = time.time() + 1.0
        cash_outs: list[CashOut] = []

        async def paced(i: int) -> None:
            # The next customer's invoice and payment run in the half second
            # before its dispense, while the previous settlement may still pay.
            await asyncio.sleep(max(0.0, start + i - 0.5 - time.time()))
            cash_outs.append(await cash_out(instance, atm, dispense_at=start + i))

        for i in range(n):
            await paced(i)
        details = await wait_settled(
            instance, operator, {tx.settlement_id for tx in cash_outs}, clock, 60 + n
        )
        result = outcome(cash_outs, details, clock)
    finally:
        await clock.close()
        await close_atms([atm])
    summary = latency_summary(result.latencies)
    answers = latency_summary(result.answer_latencies)
    rate = (n - 1) / max(1e-9, result.last_dispense - result.first_dispense)
    ok = summary["p99_ms"] < 500 and not result.not_settled and not result.missing_clock
    report.add(
        Row(
            "3",
            "dispense → last leg paid, 1/s, 4 legs",
            instance.db,
            fmt_ms(summary)
            + (f"; {result.not_settled} not settled" if result.not_settled else ""),
            "p99 < 500 ms",
            "PASS" if ok else "FAIL",
            {
                **summary,
                "offered_settlements_per_s": rate,
                "legs_paid": result.legs_paid,
                "not_settled": result.not_settled,
                **result.timings(),
            },
        )
    )
    report.add(
        Row(
            "3",
            "  report_dispense answered",
            instance.db,
            fmt_ms(answers),
            data=answers,
        )
    )
    first = latency_summary(result.first_leg)
    gaps = latency_summary(result.leg_gaps)
    report.add(
        Row(
            "3",
            "  first leg paid; then each next leg",
            instance.db,
            f"p50 {first['p50_ms']:.0f} ms; then p50/95 {gaps['p50_ms']:.0f}/"
            f"{gaps['p95_ms']:.0f} ms per leg",
            data={"first_leg_paid": first, "between_legs": gaps},
        )
    )


async def bench_throughput(
    instance: Instance, sizes: Sizes, report: Report
) -> dict[str, Any]:
    """M ATMs, K cash-outs each, back to back; 3 splits and ``sizes.lps`` LPs."""
    m, k = sizes.throughput_machines, sizes.throughput_tx_each
    operator = await make_operator(instance, lps=sizes.lps)
    atms = [
        await add_atm(instance, operator, customer_sats=(k + 2) * 50_000)
        for _ in range(m)
    ]
    clock = LegClock()
    try:
        for atm in atms:
            await clock.watch(instance, atm.inkey)

        async def run(atm: Atm) -> list[CashOut]:
            return [await cash_out(instance, atm) for _ in range(k)]

        batches = await asyncio.gather(*(run(atm) for atm in atms))
        cash_outs = [tx for batch in batches for tx in batch]
        details = await wait_settled(
            instance, operator, {tx.settlement_id for tx in cash_outs}, clock, 240
        )
        result = outcome(cash_outs, details, clock)
    finally:
        await clock.close()
        await close_atms(atms)
    settled = len(cash_outs) - result.not_settled
    window = result.window
    settlements_per_s = settled / window if window > 0 else math.nan
    legs_per_s = result.legs_paid / window if window > 0 else math.nan
    summary = latency_summary(result.latencies)
    legs_each = result.legs_paid / settled if settled else 0
    data = {
        **summary,
        "machines": m,
        "tx_per_machine": k,
        "lps": sizes.lps,
        "settlements": settled,
        "not_settled": result.not_settled,
        "legs_paid": result.legs_paid,
        "legs_per_settlement": legs_each,
        "window_s": window,
        "settlements_per_s": settlements_per_s,
        "legs_per_s": legs_per_s,
        **result.timings(),
    }
    report.add(
        Row(
            "3",
            f"throughput, {m}x{k} cash-outs, {sizes.lps} LPs",
            instance.db,
            f"{settlements_per_s:.2f} settlements/s x {legs_each:.0f} legs = "
            f"{legs_per_s:.1f} legs/s; {fmt_ms(summary)}",
            verdict="" if not result.not_settled else "FAIL",
            data=data,
        )
    )
    return data


# --- 4. the floor ---------------------------------------------------------------------


async def bench_floor(
    work_dir: Path, database_url: str | None, payments: int, db: str
) -> dict[str, Any]:
    home = harness.lnbits_home(work_dir, f"floor-{db}", with_extension=False)
    env = harness.lnbits_env(home, port=harness.free_port(), database_url=database_url)
    log_path = home / "floor.log"
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(harness.BENCH_DIR / "floor.py"),
            "--payments",
            str(payments),
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            async with profiled(proc.pid, f"{db}-floor-process"):
                await asyncio.wait_for(proc.wait(), 300)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                await proc.wait()
    text = log_path.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("FLOOR "):
            return dict(json.loads(line[len("FLOOR ") :]))
    raise RuntimeError("the floor run failed:\n" + "\n".join(text.splitlines()[-20:]))


# --- 6. the settlement list -----------------------------------------------------------


def _settlement_rows(
    operator_id: str, machine_ids: list[str], count: int
) -> list[dict[str, Any]]:
    rng = random.Random(6)  # noqa: S311 (benchmark data)
    now = int(time.time())
    fee_snapshot = json.dumps(
        {
            "cash_in_fee_bps": PLATFORM_FEE_BPS,
            "cash_out_fee_bps": PLATFORM_FEE_BPS,
            "cash_in_fee_basis": "commission",
            "cash_out_fee_basis": "commission",
            "super_wallet_id": uuid.uuid4().hex,
        }
    )
    split_snapshot = json.dumps(
        [
            {
                "id": uuid.uuid4().hex,
                "operator_id": operator_id,
                "position": n,
                "label": label,
                "wallet_id": uuid.uuid4().hex,
                "ln_address": None,
                "weight_bps": weight,
                "created_at": now,
            }
            for n, (label, weight) in enumerate(SPLITS)
        ]
    )
    rows = []
    span = 365 * 86400
    for n in range(count):
        created = now - span + n * span // count
        principal = rng.randint(10_000, 2_000_000)
        commission = principal // 20
        platform = (commission * PLATFORM_FEE_BPS + 5000) // 10_000
        direction = "cash_out" if rng.random() < 0.7 else "cash_in"
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "operator_id": operator_id,
                "machine_id": machine_ids[n % len(machine_ids)],
                "direction": direction,
                "status": "settled" if rng.random() < 0.98 else "failed",
                "source": "rpc",
                "tx_id": uuid.uuid4().hex,
                "payment_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                "gross_sats": principal + commission,
                "principal_sats": principal,
                "commission_sats": commission,
                "platform_fee_sats": platform,
                "operator_fee_sats": commission - platform,
                "discount_sats": 0,
                "lp_allocated_sats": principal if direction == "cash_out" else 0,
                "unallocated_sats": 0,
                "undispensed_sats": 0,
                "fiat_amount_minor": principal // 200,
                "fiat_code": "GTQ",
                "exchange_rate": RATE,
                "fee_bps": PLATFORM_FEE_BPS,
                "fee_basis": "commission",
                "fee_snapshot": fee_snapshot,
                "split_snapshot": split_snapshot,
                "note": None,
                "created_by": "bench",
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def _check_schema(columns: dict[str, bool], row: dict[str, Any]) -> None:
    """``columns``: name → required (NOT NULL without a default)."""
    unknown = set(row) - set(columns)
    missing = {name for name, required in columns.items() if required} - set(row)
    if unknown or missing:
        raise RuntimeError(
            f"settlements schema changed: unknown {sorted(unknown)}, "
            f"missing {sorted(missing)}"
        )


def _insert_sqlite(folder: Path, rows: list[dict[str, Any]]) -> None:
    path = folder / f"ext_{harness.EXT_ID}.sqlite3"
    conn = sqlite3.connect(path, timeout=60)
    try:
        info = conn.execute("PRAGMA table_info(settlements)").fetchall()
        _check_schema(
            {
                name: bool(notnull) and default is None
                for _, name, _, notnull, default, _ in info
            },
            rows[0],
        )
        names = list(rows[0])
        sql = (
            f"INSERT INTO settlements ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with conn:
            conn.executemany(sql, [tuple(row[name] for name in names) for row in rows])
    finally:
        conn.close()


async def _insert_postgres(database_url: str, rows: list[dict[str, Any]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        info = await conn.fetch(
            "SELECT column_name, is_nullable, column_default "
            "FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'settlements'",
            harness.EXT_ID,
        )
        _check_schema(
            {
                r["column_name"]: r["is_nullable"] == "NO"
                and r["column_default"] is None
                for r in info
            },
            rows[0],
        )
        names = list(rows[0])
        await conn.copy_records_to_table(
            "settlements",
            schema_name=harness.EXT_ID,
            columns=names,
            records=[tuple(row[name] for name in names) for row in rows],
        )
        # What autovacuum does within a minute of such a load (PostgreSQL 13+ also
        # vacuums after inserts): the statistics, and the visibility map that lets
        # an index-only scan skip the table. A table that grew to this size over
        # months has both; one only COPYed into has neither, and its COUNT(*) is a
        # sequential scan (the README gives both figures).
        await conn.execute(f"VACUUM ANALYZE {harness.EXT_ID}.settlements")
    finally:
        await conn.close()


async def bench_list(
    instance: Instance, database_url: str | None, sizes: Sizes, report: Report
) -> None:
    operator = await make_operator(instance, lps=0)
    machine_ids = []
    for n in range(sizes.list_machines):
        machine = await add_machine(
            instance.http,
            operator.account,
            {"name": f"Stored {n}", "fiat_code": "GTQ"},
        )
        machine_ids.append(machine["id"])
    rows = _settlement_rows(operator.account.id, machine_ids, sizes.stored_settlements)
    t0 = time.perf_counter()
    if database_url:
        await _insert_postgres(database_url, rows)
    else:
        await asyncio.to_thread(_insert_sqlite, instance.server.sqlite_folder, rows)
    insert_s = time.perf_counter() - t0
    machine_id = machine_ids[0]
    base = f"{API}/settlements?machine_id={machine_id}&direction=cash_out&limit=50"
    first = await call(instance.http, "GET", base, token=operator.account.token)
    total = int(first["total"])
    expected = sum(
        1
        for r in rows
        if r["machine_id"] == machine_id and r["direction"] == "cash_out"
    )
    if total != expected or len(first["data"]) != 50:
        raise RuntimeError(f"the list says {total} settlements, expected {expected}")
    rng = random.Random(60)  # noqa: S311 (benchmark data)
    offsets = [rng.randrange(0, max(1, total - 50)) for _ in range(sizes.list_requests)]
    for offset in offsets[:5]:  # warm-up
        await call(
            instance.http,
            "GET",
            f"{base}&offset={offset}",
            token=operator.account.token,
        )
    seconds = []
    for offset in offsets:
        t = time.perf_counter()
        await call(
            instance.http,
            "GET",
            f"{base}&offset={offset}",
            token=operator.account.token,
        )
        seconds.append(time.perf_counter() - t)
    first_pages = []
    for _ in range(min(15, sizes.list_requests)):
        t = time.perf_counter()
        await call(
            instance.http, "GET", f"{base}&offset=0", token=operator.account.token
        )
        first_pages.append(time.perf_counter() - t)
    baseline = []
    for _ in range(min(15, sizes.list_requests)):
        t = time.perf_counter()
        await call(
            instance.http, "GET", f"{API}/platform-fee", token=operator.account.token
        )
        baseline.append(time.perf_counter() - t)
    summary = latency_summary(seconds)
    first_summary = latency_summary(first_pages)
    baseline_summary = latency_summary(baseline)
    report.add(
        Row(
            "6",
            f"list of {sizes.stored_settlements:,}: machine+cash_out, 50 at "
            f"offset < {total:,}",
            instance.db,
            fmt_ms(summary),
            "p95 < 50 ms",
            "PASS" if summary["p95_ms"] < 50 else "FAIL",
            {
                **summary,
                "matching": total,
                "insert_s": insert_s,
                "first_page": first_summary,
            },
        )
    )
    report.add(
        Row(
            "6",
            "  the same at offset 0",
            instance.db,
            fmt_ms(first_summary),
            data=first_summary,
        )
    )
    report.add(
        Row(
            "6",
            "  baseline: GET /platform-fee",
            instance.db,
            fmt_ms(baseline_summary),
            data=baseline_summary,
        )
    )


# --- per database ---------------------------------------------------------------------


Phase = Callable[[], Awaitable[Any]]


async def guarded(
    report: Report,
    section: str,
    name: str,
    db: str,
    phase: Phase,
    timeout_s: float,
    *,
    needs_s: float,
    pid: int | None = None,
) -> Any:
    """Runs one phase within ``timeout_s``, recording an exception as an ERROR
    row; skips it when the time budget cannot hold ``needs_s`` more seconds."""
    if time.monotonic() + needs_s > DEADLINE:
        report.add(
            Row(
                section,
                name,
                db,
                f"skipped: the time budget (--budget {BUDGET_S:.0f} s) is spent",
                verdict="SKIP",
            )
        )
        return None
    first = len(report.rows)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    # Never more than half a minute past the budget, whatever the phase's own bound.
    timeout_s = min(timeout_s, max(needs_s, DEADLINE + 30 - started))
    try:
        async with profiled(pid, f"{db}-{name.replace(' ', '-')}"):
            return await asyncio.wait_for(phase(), timeout_s)
    except Exception as exc:
        report.error(section, name, db, exc)
        return None
    finally:
        for row in report.rows[first:]:
            row.data["loadavg_1m"] = [load_before, os.getloadavg()[0]]
            row.data["phase_s"] = time.monotonic() - started


BUDGET_S = 250.0
DEADLINE = math.inf


PROFILE_DIR: Path | None = None


@contextlib.asynccontextmanager
async def profiled(pid: int | None, name: str) -> AsyncIterator[None]:
    """With ``--profile DIR``: py-spy samples process ``pid`` meanwhile (raw
    collapsed stacks, per thread, into DIR/name.txt; see profile_summary.py)."""
    if PROFILE_DIR is None or pid is None:
        yield
        return
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--threads",
        "--format",
        "raw",
        "--output",
        str(PROFILE_DIR / f"{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            spy.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.wait(), 30)
        except asyncio.TimeoutError:
            spy.kill()
            await spy.wait()


async def run_database(
    db: str,
    database_url: str | None,
    server_url: str | None,
    work_dir: Path,
    sizes: Sizes,
    report: Report,
    *,
    with_rpc: bool,
) -> None:
    async def floor_run(payments: int) -> dict[str, Any]:
        if server_url:
            async with harness.fresh_postgres_database(server_url, "floor") as url:
                return await bench_floor(work_dir, url, payments, db)
        return await bench_floor(work_dir, None, payments, db)

    async def floor_report(
        before: dict[str, Any], payments: int, throughput: dict[str, Any]
    ) -> None:
        after = await floor_run(payments)
        count = before["payments"] + after["payments"]
        rate = count / (before["seconds"] + after["seconds"])
        ratio = throughput["legs_per_s"] / rate
        report.add(
            Row(
                "4",
                f"bare LNbits payments, {count} in a row",
                db,
                f"{rate:.1f} payments/s ({before['payments_per_s']:.1f} before, "
                f"{after['payments_per_s']:.1f} after)",
                data={"payments_per_s": rate, "before": before, "after": after},
            )
        )
        report.add(
            Row(
                "4",
                "  pipeline legs/s ÷ bare payments/s",
                db,
                f"{ratio:.2f} ({throughput['legs_per_s']:.1f} ÷ {rate:.1f})",
                ">= 0.8",
                "PASS" if ratio >= 0.8 else "FAIL",
                {"ratio": ratio, "pipeline_legs_per_s": throughput["legs_per_s"]},
            )
        )

    relay = harness.RelayProcess()
    relay.start()
    throughput: dict[str, Any] | None = None
    try:
        instance = await start_instance(work_dir, relay, database_url, db)
        pid = instance.server.proc.pid if instance.server.proc else None
        try:
            if with_rpc:
                await guarded(
                    report,
                    "2",
                    "RPC",
                    db,
                    lambda: bench_rpc(instance, sizes, report),
                    120,
                    needs_s=30,
                    pid=pid,
                )
                await guarded(
                    report,
                    "2",
                    "RPC under a flood",
                    db,
                    lambda: bench_flood(instance, sizes, report),
                    90,
                    needs_s=20 + sizes.flood_max_s,
                    pid=pid,
                )
            await guarded(
                report,
                "3",
                "latency",
                db,
                lambda: bench_latency(instance, sizes, report),
                120 + 2 * sizes.latency_settlements,
                needs_s=10 + 1.5 * sizes.latency_settlements,
                pid=pid,
            )
            # The floor brackets the throughput run, half just before and half
            # just after, so that a change of load on this shared machine hits
            # both figures of the ratio alike.
            planned = min(
                sizes.throughput_machines * sizes.throughput_tx_each * (4 + sizes.lps),
                sizes.floor_max_payments,
            )
            first_half = max(1, planned // 2)
            floor_before = await guarded(
                report,
                "4",
                "floor",
                db,
                lambda: floor_run(first_half),
                200,
                needs_s=75,
            )
            throughput = await guarded(
                report,
                "3",
                "throughput",
                db,
                lambda: bench_throughput(instance, sizes, report),
                400,
                needs_s=45,
                pid=pid,
            )
            if floor_before and throughput and throughput.get("legs_paid"):
                legs = min(int(throughput["legs_paid"]), sizes.floor_max_payments)
                rest = max(1, legs - first_half)
                await guarded(
                    report,
                    "4",
                    "floor",
                    db,
                    lambda: floor_report(floor_before, rest, throughput),
                    200,
                    needs_s=0,
                )
            await guarded(
                report,
                "6",
                "settlement list",
                db,
                lambda: bench_list(instance, database_url, sizes, report),
                240,
                needs_s=30,
                pid=pid,
            )
        finally:
            await stop_instance(instance)
    finally:
        relay.stop()


async def run_micro(work_dir: Path, sizes: Sizes, report: Report) -> None:
    folder = Path(tempfile.mkdtemp(prefix="micro-", dir=work_dir))
    env = {**os.environ, "LNBITS_DATA_FOLDER": str(folder)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(harness.BENCH_DIR / "micro.py"),
        "--seconds",
        str(sizes.micro_seconds),
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode:
        raise RuntimeError(f"micro.py failed: {err.decode()[-800:]}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    nip = data["nip44"]
    rates = nip["ops_per_s"]
    report.add(
        Row(
            "1",
            "NIP-44 enc+dec 1 KiB, ours (cached key)",
            "-",
            f"{rates['ours']:,.0f} ops/s",
            data={"samples": nip["samples"]["ours"]},
        )
    )
    report.add(
        Row(
            "1",
            "NIP-44 enc+dec 1 KiB, LNbits' NIP44Encryption",
            "-",
            f"{rates['lnbits']:,.0f} ops/s",
            data={"samples": nip["samples"]["lnbits"]},
        )
    )
    report.add(
        Row(
            "1",
            "  ours ÷ LNbits",
            "-",
            f"{nip['ratio']:.2f}x",
            ">= 1.5x",
            "PASS" if nip["ratio"] >= 1.5 else "FAIL",
            {"ratio": nip["ratio"]},
        )
    )
    report.add(
        Row(
            "1",
            "  ours with ECDH per call (no cache)",
            "-",
            f"{rates['ours_uncached']:,.0f} ops/s",
            data={"samples": nip["samples"]["ours_uncached"]},
        )
    )
    dist = data["distribution"]
    per_lp = {n: dist[n]["us_per_lp"] for n in dist}
    growth = per_lp["100000"] / per_lp["1000"]
    for n, values in dist.items():
        report.add(
            Row(
                "5",
                f"distribution math, {int(n):,} LPs",
                "-",
                f"{values['us_per_settlement']:,.1f} µs/settlement "
                f"({values['us_per_lp']:.2f} µs/LP)",
                data=values,
            )
        )
    report.add(
        Row(
            "5",
            "  µs/LP at 100 000 ÷ at 1 000",
            "-",
            f"{growth:.2f} (1.0 = exactly linear)",
            "~linear (< 2)",
            "PASS" if growth < 2 else "FAIL",
            {"growth": growth},
        )
    )


# --- main -----------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    global DEADLINE, BUDGET_S
    sizes = Sizes.quick() if args.quick else Sizes()
    BUDGET_S = args.budget
    DEADLINE = time.monotonic() + args.budget
    report = Report()
    report.meta = machine_facts()
    report.meta["sizes"] = vars(sizes)
    started = time.monotonic()
    work_dir = Path(
        tempfile.mkdtemp(prefix=f"{harness.EXT_ID}-bench-", dir=args.work_dir)
    )
    report.meta["work_dir_filesystem"] = _filesystem(work_dir)
    server_url = None if args.no_postgres else args.postgres
    print(
        f"satmachineadmin benchmarks: {report.meta['nproc']} cores, load "
        f"{report.meta['loadavg_start'][0]:.2f}, work dir {work_dir} "
        f"({report.meta['work_dir_filesystem']})",
        flush=True,
    )
    try:
        if "micro" in args.only:
            print("- micro-benchmarks (NIP-44, distribution)", flush=True)
            await guarded(
                report,
                "1",
                "micro",
                "-",
                lambda: run_micro(work_dir, sizes, report),
                150,
                needs_s=0,
            )
        if "sqlite" in args.only:
            print("- SQLite", flush=True)
            await run_database(
                "sqlite", None, None, work_dir, sizes, report, with_rpc=True
            )
        if "postgres" in args.only:
            if server_url and time.monotonic() + 90 > DEADLINE:
                report.add(
                    Row(
                        "3,4,6",
                        "PostgreSQL rows",
                        "postgres",
                        f"skipped: the time budget (--budget {BUDGET_S:.0f} s) "
                        "is nearly spent",
                        verdict="SKIP",
                    )
                )
            elif server_url:
                print("- PostgreSQL", flush=True)
                try:
                    report.meta["postgres"] = await harness.postgres_version(server_url)
                    async with harness.fresh_postgres_database(
                        server_url, "e2e"
                    ) as url:
                        await run_database(
                            "postgres",
                            url,
                            server_url,
                            work_dir,
                            sizes,
                            report,
                            with_rpc=False,
                        )
                except Exception as exc:
                    report.error("3", "PostgreSQL", "postgres", exc)
            else:
                why = args.no_postgres or (
                    "no --postgres URL and SATMACHINEADMIN_TEST_DATABASE_URL is unset "
                    "(make bench gets one from tools/postgres.sh)"
                )
                report.add(
                    Row(
                        "3,4,6",
                        "PostgreSQL rows",
                        "postgres",
                        f"skipped: {why}",
                        verdict="SKIP",
                    )
                )
    finally:
        if not args.keep:
            harness.remove_tree(work_dir)
    report.meta["loadavg_end"] = os.getloadavg()
    report.meta["seconds"] = time.monotonic() - started
    path = report.write()
    load = report.meta["loadavg_end"]
    print()
    print(report.table())
    print()
    print(
        f"{report.meta['seconds']:.0f} s; load average at the end {load[0]:.2f} "
        f"(2 cores: other work on this machine slows every figure). "
        f"JSON: {path.relative_to(harness.REPO_ROOT)} and bench/results/latest.json"
    )


def _filesystem(path: Path) -> str:
    try:
        out = subprocess.run(  # noqa: S603
            ["df", "--output=source,fstype", str(path)],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.split()
        return " ".join(out[-2:])
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("SATMACHINEADMIN_TEST_DATABASE_URL"),
        help="PostgreSQL server URL (postgres://user:pass@host:port/db; the role "
        "needs CREATEDB). Default: $SATMACHINEADMIN_TEST_DATABASE_URL",
    )
    parser.add_argument(
        "--no-postgres",
        metavar="REASON",
        help="skip the PostgreSQL rows, saying why",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["micro", "sqlite", "postgres"],
        default=["micro", "sqlite", "postgres"],
        help="run only these parts",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (a smoke test)"
    )
    parser.add_argument("--work-dir", help="where the databases go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--budget",
        type=float,
        default=250.0,
        metavar="SECONDS",
        help="start no phase after this many seconds (make bench stays < 5 min)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample LNbits with py-spy (not installed by make) during each phase",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global PROFILE_DIR
    args = parse_args(argv)
    if args.profile:
        PROFILE_DIR = Path(args.profile).resolve()

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Killed (make interrupted, a timeout): unwind, so every process is stopped.
    signal.signal(signal.SIGTERM, interrupted)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
