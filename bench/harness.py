"""Processes and helpers the benchmark runs against: LNbits (uvicorn, FakeWallet,
this extension), the embedded Nostr relay, a local price source and a fresh
PostgreSQL database. Every process runs in its own process group on a free port
(never 5000 or 7777), is bounded in time and is killed at exit.

Importing this module does not import lnbits: the benchmark's own process stays
free of it, and every LNbits runs in a subprocess. What the crash tests' harness
(tests/support/lnbits_process.py) already has — the process registry killed at
exit, the price source, fresh PostgreSQL databases, LNbits' home and environment —
is taken from there. The benchmark drives LNbits' API with
tests/support/lnbits_api.py, found through the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import lnbits_process  # noqa: E402 (found through the path set just above)
from lnbits_process import EXT_ID, _alive, _kill_group  # noqa: E402

RESERVED_PORTS = {5000, 7777}  # a developer's `make run` may be using them


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def lnbits_package() -> Path:
    return lnbits_process._lnbits_package()


def lnbits_version() -> str:
    from importlib.metadata import version

    return version("lnbits")


# --- LNbits' environment ----------------------------------------------------------


def lnbits_home(work_dir: Path, name: str, *, with_extension: bool = True) -> Path:
    """A fresh home in ``work_dir`` laid out as lnbits_process.prepare_home says."""
    home = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))
    lnbits_process.prepare_home(home, with_extension=with_extension)
    return home


def lnbits_env(home: Path, *, port: int, database_url: str | None) -> dict[str, str]:
    return lnbits_process.lnbits_environment(
        home, port=port, database_url=database_url, auth_secret_key=uuid.uuid4().hex
    )


class ProcessError(RuntimeError):
    pass


class LnbitsServer:
    """One LNbits under uvicorn with the extension, FakeWallet, its own port."""

    def __init__(
        self,
        work_dir: Path,
        *,
        database_url: str | None,
        relay_url: str,
        name: str = "lnbits",
        turns_out: Path | None = None,
    ) -> None:
        self.relay_url = relay_url
        self.turns_out = turns_out  # bench/turns.py writes there, if given
        self.port = free_port()
        self.home = lnbits_home(work_dir, name)
        self.database_url = database_url
        self.log_path = self.home / "lnbits.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def sqlite_folder(self) -> Path:
        return self.home / "data"

    async def seed(self, timeout_s: float = 120.0) -> None:
        """Migrations and the extension's relay set before LNbits starts
        (bench/seed.py says why)."""
        env = lnbits_env(self.home, port=self.port, database_url=self.database_url)
        with open(self.log_path, "ab") as log:
            seeding = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH_DIR / "seed.py"),
                self.relay_url,
                cwd=self.home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                code = await asyncio.wait_for(seeding.wait(), timeout_s)
            except asyncio.TimeoutError:
                seeding.kill()
                await seeding.wait()
                raise
        if code:
            raise ProcessError(f"seeding the database failed:\n{self.tail()}")

    async def start(self, timeout_s: float = 90.0) -> None:
        await self.seed()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                self._command(),
                cwd=self.home,
                env=lnbits_env(
                    self.home, port=self.port, database_url=self.database_url
                ),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _alive.add(self.proc)
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise ProcessError(f"LNbits exited while starting:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.get("/api/v1/health")
                    if answer.status_code in (200, 307):
                        return
                if time.monotonic() > deadline:
                    raise ProcessError(f"LNbits did not start in time:\n{self.tail()}")
                await asyncio.sleep(0.2)

    def _command(self) -> list[str]:
        command = lnbits_process.uvicorn_command(self.port, "--log-level", "warning")
        if self.turns_out is None:
            return command
        uvicorn_args = command[command.index("uvicorn") + 1 :]
        turns = [sys.executable, str(BENCH_DIR / "turns.py"), str(self.turns_out)]
        return [*turns, "--", *uvicorn_args]

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, timeout_s: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        _alive.discard(proc)


class RelayProcess:
    """nostr-sdk's embedded relay (tools/local_relay.py) on a free port."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        for _ in range(5):  # a free port can be taken between probe and bind
            self.port = free_port()
            proc = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    str(REPO_ROOT / "tools" / "local_relay.py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            _alive.add(proc)
            line = _readline_within(proc, timeout_s)
            if line.startswith("relay listening"):
                self.proc = proc
                return
            _kill_group(proc)
            _alive.discard(proc)
        raise ProcessError("the embedded relay did not start")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout=10)
        _alive.discard(proc)


def _readline_within(proc: subprocess.Popen, timeout_s: float) -> str:
    result: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(
        target=lambda: result.append(stdout.readline()), daemon=True
    )
    reader.start()
    reader.join(timeout_s)
    return result[0].strip() if result else ""


# --- PostgreSQL ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_postgres_database(server_url: str, purpose: str) -> AsyncIterator[str]:
    """A new database on the server of ``server_url`` (its role needs CREATEDB),
    dropped at the end; yields its ``postgres://`` URL."""
    async with lnbits_process.fresh_postgres_database(
        server_url, prefix=f"{EXT_ID}_bench_{purpose}"
    ) as url:
        yield url


async def postgres_version(server_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
