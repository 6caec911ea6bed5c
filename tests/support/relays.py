"""Real Nostr relays in subprocesses, for integration tests.

Two implementations, so that the client is tested against more than one relay's
behaviour:

- ``"embedded"``: nostr-sdk's in-memory ``LocalRelay`` (``tools/local_relay.py``, run
  with the current interpreter). Forwards ephemeral events live without storing
  them; keeps only the newest addressable event and rejects older ones.
- ``"nostr-relay"``: the PyPI ``nostr-relay`` package (SQLite storage), installed in
  ``.venv-relay`` by ``make relay-venv`` because its dependencies clash with LNbits'.
  Stores ephemeral events for a while and stores and forwards an addressable event
  older than the one it already has.

    async with RelayProcess("embedded") as relay:
        ... relay.url ... await relay.kill() ... await relay.restart()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

__all__ = [
    "RELAY_KINDS",
    "RelayNotInstalled",
    "RelayProcess",
    "free_port",
    "nostr_relay_binary",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_RELAY_SCRIPT = REPO_ROOT / "tools" / "local_relay.py"
NOSTR_RELAY_VENV = REPO_ROOT / ".venv-relay"
RELAY_KINDS = ("embedded", "nostr-relay")
START_TIMEOUT = 20.0


class RelayNotInstalled(RuntimeError):
    """The relay implementation asked for is not installed here."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nostr_relay_binary() -> Path | None:
    binary = NOSTR_RELAY_VENV / "bin" / "nostr-relay"
    return binary if os.access(binary, os.X_OK) else None


def _nostr_relay_config(workdir: Path, port: int) -> dict:
    """nostr-relay settings (its YAML file; JSON is YAML)."""
    return {
        "DEBUG": False,
        "relay_name": "satmachineadmin test relay",
        "storage": {
            # Four slashes: sqlite+aiosqlite:// and an absolute path.
            "sqlalchemy.url": f"sqlite+aiosqlite:///{workdir / 'nostr.sqlite3'}",
            "validators": [
                "nostr_relay.validators.is_not_too_large",
                "nostr_relay.validators.is_signed",
                "nostr_relay.validators.is_recent",
                "nostr_relay.validators.is_not_hellthread",
            ],
        },
        # --use-uvicorn reads its bind address from the gunicorn section.
        "gunicorn": {"bind": f"127.0.0.1:{port}", "host": "127.0.0.1"},
        "authentication": {"enabled": False},
        "verification": {"nip05_verification": "disabled"},
        "max_event_size": 256 * 1024,
        "subscription_limit": 64,
        "logging": {
            "version": 1,
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": "WARNING", "handlers": ["console"]},
        },
    }


class RelayProcess:
    """A relay in a subprocess on 127.0.0.1; ``start()`` waits until it serves.

    ``RelayNotInstalled`` from the constructor when the implementation is missing.
    The port stays the same across ``restart()``; so does nostr-relay's database.
    """

    def __init__(self, kind: str = "embedded", port: int | None = None) -> None:
        if kind not in RELAY_KINDS:
            raise ValueError(f"relay kind must be one of {RELAY_KINDS}")
        self.kind = kind
        self._binary: Path | None = None
        if kind == "nostr-relay":
            self._binary = nostr_relay_binary()
            if self._binary is None:
                raise RelayNotInstalled(
                    f"nostr-relay is not installed in {NOSTR_RELAY_VENV}"
                )
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self._workdir = Path(tempfile.mkdtemp(prefix=f"relay-{kind}-")).resolve()
        self._log_path = self._workdir / "relay.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"RelayProcess({self.kind!r}, url={self.url!r})"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        if self.kind == "embedded":
            return [
                sys.executable,
                str(LOCAL_RELAY_SCRIPT),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
        config = self._workdir / "config.yaml"
        config.write_text(json.dumps(_nostr_relay_config(self._workdir, self.port)))
        assert self._binary is not None
        return [str(self._binary), "-c", str(config), "serve", "--use-uvicorn"]

    async def start(self) -> RelayProcess:
        if self.running:
            return self
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self._workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await self._wait_until_serving()
        except BaseException:
            await self.kill()
            raise
        return self

    async def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.running:
                raise RuntimeError(f"{self!r} exited at start:\n{self.log_tail()}")
            try:
                async with connect(self.url, open_timeout=1, proxy=None):
                    return
            except Exception:  # refused, reset, timed out: not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self!r} did not accept connections within "
                        f"{START_TIMEOUT:.0f} s:\n{self.log_tail()}"
                    ) from None
                await asyncio.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._process is not None and self._process.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it is still running after ``timeout``."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            if not await self._wait_exit(timeout):
                self._process.kill()
                await self._wait_exit(timeout)
        self._process = None

    async def kill(self) -> None:
        """SIGKILL: the relay vanishes without closing its connections."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            await self._wait_exit(5.0)
        self._process = None

    async def restart(self) -> RelayProcess:
        """Stop if running, then start again on the same port."""
        await self.stop()
        return await self.start()

    async def close(self) -> None:
        """Stop and remove the working directory."""
        await self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    async def __aenter__(self) -> RelayProcess:
        try:
            return await self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


NOT_INSTALLED = "nostr-relay is not installed: run make relay-venv"


def make_relay(kind: str, port: int | None = None) -> RelayProcess:
    """A relay of ``kind`` for a test, which is skipped when that kind is not
    installed (pytest is imported only here: the benchmark uses this module too)."""
    import pytest

    try:
        return RelayProcess(kind, port=port)
    except RelayNotInstalled:
        pytest.skip(NOT_INSTALLED)
