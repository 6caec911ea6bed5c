"""A real LNbits with this extension, in a subprocess that a test can SIGKILL.

The in-process harness (conftest.py) cannot crash: a crash test needs LNbits in a
process of its own, killed without warning and started again on the same data. The
layout is the one tools/dev_server.py uses: a home folder holding ``data/``,
``extensions/satmachineadmin`` → the repo root and ``lnbits`` → the installed
package (LNbits serves its static files relative to the cwd), with uvicorn run
directly (the ``lnbits`` script would leave its uvicorn child behind when killed).

    async with LnbitsProcess() as lnbits:          # SQLite in its own data folder
        ...  # lnbits.url, lnbits.kill(), await lnbits.restart(), lnbits.log_tail()

    server = os.environ["SATMACHINEADMIN_TEST_DATABASE_URL"]
    async with fresh_postgres_database(server) as url:  # a new database, dropped after
        async with LnbitsProcess(database_url=url) as lnbits: ...

``query()`` reads the LNbits database directly (both the core tables and the
extension's, as ``satmachineadmin.<table>`` on SQLite and PostgreSQL alike), which
also works while the process is down.

Importing this module does not import lnbits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import http.server
import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

EXT_ID = "satmachineadmin"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Processes still running when the test run ends, whatever the way it ends.
_alive: set[subprocess.Popen] = set()


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_alive):
        _kill_group(proc)


# Fixed market prices (fiat per BTC), as conftest.py uses in-process: the tests run
# offline, and LNbits prices every payment in the wallet's currency (USD by default).
# Without a price source each payment waits on DNS failures of eight providers.
BTC_PRICES = {"USD": 100_000.0, "GTQ": 500_000.0}


class _PriceHandler(http.server.BaseHTTPRequestHandler):
    """LNbits' price aggregator API: GET /rate/<CURRENCY> → {"rates": {"median"}}."""

    def do_GET(self) -> None:
        currency = self.path.rstrip("/").rsplit("/", 1)[-1].upper()
        body = json.dumps(
            {"rates": {"median": BTC_PRICES.get(currency, 100_000.0)}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


_price_server: http.server.ThreadingHTTPServer | None = None


def price_aggregator_url() -> str:
    """A local price aggregator for every LNbits this test process starts."""
    global _price_server
    if _price_server is None:
        _price_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PriceHandler)
        _price_server.daemon_threads = True
        threading.Thread(
            target=_price_server.serve_forever, name="price-aggregator", daemon=True
        ).start()
    return f"http://127.0.0.1:{_price_server.server_address[1]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lnbits_package() -> Path:
    spec = importlib.util.find_spec("lnbits")
    if spec is None or spec.origin is None:
        raise RuntimeError("lnbits is not installed in this interpreter")
    return Path(spec.origin).parent


def prepare_home(home: Path, *, with_extension: bool = True) -> None:
    """The layout LNbits is run in: ``home/data``, ``home/extensions/<id>`` → the
    repo (unless not ``with_extension``), ``home/lnbits`` → the package (LNbits
    serves its static files relative to the cwd). Kept when already there."""
    (home / "data").mkdir(parents=True, exist_ok=True)
    (home / "extensions").mkdir(exist_ok=True)
    ext_link = home / "extensions" / EXT_ID
    if with_extension and not ext_link.is_symlink():
        ext_link.symlink_to(REPO_ROOT, target_is_directory=True)
    lnbits_link = home / "lnbits"
    if not lnbits_link.is_symlink():
        lnbits_link.symlink_to(_lnbits_package(), target_is_directory=True)


def lnbits_environment(
    home: Path, *, port: int, database_url: str | None, auth_secret_key: str
) -> dict[str, str]:
    """The environment of an LNbits run in ``home`` (prepare_home): FakeWallet, the
    extension on for new accounts, the local price source; SQLite in ``home/data``
    unless ``database_url``."""
    # Nothing of this process's own LNbits (conftest sets LNBITS_* for the
    # in-process app) may leak into that one.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LNBITS_", "AUTH_", "SUPER_USER", "FIRST_INSTALL"))
        and key not in ("HOST", "PORT", "DEBUG", "PYTHONPATH")
    }
    env.update(
        {
            "LNBITS_DATA_FOLDER": str(home / "data"),
            "LNBITS_EXTENSIONS_PATH": str(home),
            "LNBITS_BACKEND_WALLET_CLASS": "FakeWallet",
            "LNBITS_ADMIN_UI": "true",
            "LNBITS_USER_DEFAULT_EXTENSIONS": json.dumps([EXT_ID]),
            "LNBITS_RATE_LIMIT_NO": "1000000",
            "LNBITS_PRICE_AGGREGATOR_ENABLED": "true",
            "LNBITS_PRICE_AGGREGATOR_URL": price_aggregator_url(),
            "AUTH_HTTPS_ONLY": "false",
            "AUTH_SECRET_KEY": auth_secret_key,
            "ENABLE_LOG_TO_FILE": "false",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            # The public address LNURL-withdraw links are built on.
            "LNBITS_BASEURL": f"http://127.0.0.1:{port}/",
            "DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env["LNBITS_DATABASE_URL"] = database_url
    return env


def uvicorn_command(port: int, *options: str) -> list[str]:
    """LNbits under uvicorn directly, in the cwd of a home made by prepare_home
    (the ``lnbits`` script would leave its uvicorn child behind when killed)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "lnbits.__main__:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def _scratch_dir() -> str | None:
    """RAM (/dev/shm) when there is one: a SIGKILL does not lose the page cache, so
    fsync buys these tests nothing, and SQLite commits several times per payment."""
    shm = Path("/dev/shm")  # noqa: S108 (a private mkdtemp inside it)
    if shm.is_dir() and os.access(shm, os.W_OK):
        return str(shm)
    return None


class LnbitsStartError(RuntimeError):
    pass


class LnbitsProcess:
    """One LNbits (uvicorn, FakeWallet) with the extension, in its own home.

    ``database_url``: a ``postgres://`` URL, or None for SQLite files in the data
    folder. ``auth_secret_key``: give two processes the same one so that a token
    issued by one is accepted by the other. ``home`` is removed at the end unless
    the caller gave it or ``keep_home`` is set.
    """

    def __init__(
        self,
        *,
        database_url: str | None = None,
        name: str = "lnbits",
        port: int | None = None,
        home: Path | None = None,
        auth_secret_key: str | None = None,
        startup_timeout_s: float = 90.0,
        keep_home: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.database_url = database_url
        self.port = port or free_port()
        self._own_home = home is None
        self.keep_home = keep_home
        self.home = (
            Path(tempfile.mkdtemp(prefix=f"{EXT_ID}-{name}-", dir=_scratch_dir()))
            if home is None
            else Path(home)
        )
        self.auth_secret_key = auth_secret_key or uuid.uuid4().hex
        self.startup_timeout_s = startup_timeout_s
        self.extra_env = dict(extra_env or {})
        self.log_path = self.home / "lnbits.log"
        self.starts = 0
        self.kills = 0
        self._proc: subprocess.Popen | None = None
        self._prepare_home()

    # --- layout and environment --------------------------------------------------

    @property
    def data_folder(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _prepare_home(self) -> None:
        prepare_home(self.home)

    def environment(self) -> dict[str, str]:
        env = lnbits_environment(
            self.home,
            port=self.port,
            database_url=self.database_url,
            auth_secret_key=self.auth_secret_key,
        )
        env.update(self.extra_env)
        return env

    # --- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> LnbitsProcess:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(
                f"\n===== {self.name}: start #{self.starts} at {time.time():.3f} "
                f"on port {self.port} =====\n".encode()
            )
            log.flush()
            self._proc = subprocess.Popen(
                uvicorn_command(self.port),
                cwd=self.home,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        _alive.add(self._proc)
        await self.wait_ready()

    async def wait_ready(self) -> None:
        """Until /api/v1/health answers: 200, or 307 before the first install."""
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while True:
                if not self.running:
                    raise LnbitsStartError(
                        f"{self.name} exited with {self._returncode()} while "
                        f"starting:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await http.get("/api/v1/health")
                    if response.status_code in (200, 307):
                        return
                if time.monotonic() > deadline:
                    self.kill()
                    raise LnbitsStartError(
                        f"{self.name} did not answer /api/v1/health within "
                        f"{self.startup_timeout_s:.0f} s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.2)

    def _returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown hook runs."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self.kills += 1
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        _alive.discard(proc)
        self._log_marker(f"SIGKILL (kill #{self.kills})")

    def pause(self) -> None:
        """SIGSTOP: frozen mid-whatever, so a test can look at the database and
        decide to SIGKILL it exactly there (or ``resume()`` it)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    async def stop(
        self, timeout_s: float = 15.0, sig: signal.Signals = signal.SIGTERM
    ) -> bool:
        """SIGTERM (uvicorn shuts down cleanly; SIGINT is a Ctrl-C), SIGKILL if it
        takes too long; whether it exited by itself (uvicorn ends by raising the
        signal again: SIGTERM kills the process, SIGINT is a KeyboardInterrupt)."""
        proc = self._proc
        if proc is None:
            return True
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGCONT)  # in case it was paused
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        exited_cleanly = proc.poll() in (0, -sig)
        # Whatever it left in its group goes too.
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        _alive.discard(proc)
        self._log_marker("stopped")
        return exited_cleanly

    async def restart(self, *, kill: bool = False) -> None:
        """The same home, database and port: stopped (or killed) and started."""
        if kill:
            self.kill()
        else:
            await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        if self._own_home and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def _log_marker(self, what: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "ab") as log:
            log.write(
                f"===== {self.name}: {what} at {time.time():.3f} =====\n".encode()
            )

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- direct database reads --------------------------------------------------------

    async def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a read-only query without parameters. The extension's tables are
        ``satmachineadmin.<table>`` on both databases; the core ones are bare."""
        async with self.reader() as reader:
            return await reader.fetch(sql)

    @contextlib.asynccontextmanager
    async def reader(self, busy_timeout_s: float = 30.0) -> AsyncIterator[DbReader]:
        """One connection for several queries. ``busy_timeout_s``: how long a
        SQLite read waits for a writer's lock (a paused LNbits may hold one)."""
        reader = DbReader(self.database_url, self.data_folder, busy_timeout_s)
        try:
            yield reader
        finally:
            await reader.close()


class DbBusy(Exception):
    """SQLite: a writer holds the lock (e.g. a paused LNbits in mid-commit)."""


class DbReader:
    def __init__(
        self, database_url: str | None, data_folder: Path, busy_timeout_s: float
    ) -> None:
        self.database_url = database_url
        self.data_folder = data_folder
        self.busy_timeout_s = busy_timeout_s
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None

    async def fetch(self, sql: str) -> list[dict[str, Any]]:
        if self.database_url:
            if self._pg is None:
                import asyncpg

                self._pg = await asyncpg.connect(self.database_url, timeout=10)
            return [dict(row) for row in await self._pg.fetch(sql)]
        return await asyncio.to_thread(self._sqlite_fetch, sql)

    def _sqlite_fetch(self, sql: str) -> list[dict[str, Any]]:
        if self._sqlite is None:
            core = self.data_folder / "database.sqlite3"
            ext = self.data_folder / f"ext_{EXT_ID}.sqlite3"
            # Not read-only: after a SIGKILL there may be a hot journal to roll back.
            conn = sqlite3.connect(
                core, timeout=self.busy_timeout_s, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            if ext.exists():
                conn.execute(f"ATTACH DATABASE '{ext}' AS {EXT_ID}")
            self._sqlite = conn
        try:
            return [dict(row) for row in self._sqlite.execute(sql).fetchall()]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise DbBusy(str(exc)) from exc
            raise

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
            self._pg = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


# --- a PostgreSQL database of a test's own --------------------------------------------


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def fresh_postgres_database(
    server_url: str, prefix: str = f"{EXT_ID}_crash"
) -> AsyncIterator[str]:
    """A new, empty database on the server of ``server_url`` (whose role must be
    allowed to CREATEDB), dropped at the end; yields its ``postgres://`` URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        await _drop_database(server_url, name)


async def _drop_database(server_url: str, name: str, attempts: int = 60) -> None:
    import asyncpg

    for attempt in range(attempts):
        admin = await asyncpg.connect(server_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            # FORCE may not end an autovacuum worker (it runs as the superuser),
            # which a bulk load sets off; it finishes on its own in a moment.
            if attempt == attempts - 1:
                raise
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
