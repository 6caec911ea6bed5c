"""Runs LNbits 1.6.2 with this extension on embedded defaults, for local use.

SQLite and FakeWallet in ./.data, http://127.0.0.1:5000, the extension enabled for
every new account, a super user ready to log in (created on the first start with a
generated password, which is printed at every start), and nostr-sdk's embedded
relay on ws://127.0.0.1:7777. A fresh install of the extension has no relay: at
every start this sets the embedded relay, on the port it started, as the
extension's relay (in place of any other loopback relay) and marks the instance
local-only, so that seed URLs may carry it. LNbits' base URL, on which
LNURL-withdraw links are built, is the address it is served on (LNbits' own default
is port 5000 whatever the port), unless LNBITS_BASEURL says otherwise.

    python tools/dev_server.py [--demo]

``--demo`` also runs tools/demo.py once LNbits is up: a demo operator and a
simulated ATM whose transactions appear on the dashboard.

Environment overrides: SATMACHINEADMIN_HOST, SATMACHINEADMIN_PORT,
SATMACHINEADMIN_DATA (folder), SATMACHINEADMIN_RELAY_PORT (0: start no relay and
leave the relays alone, for when the super user points the extension at real
relays), and any LNBITS_* setting (LNBITS_BASEURL: the address customers' phones
reach, for LNURL-withdraw).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

EXT_ID = "satmachineadmin"
REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("SATMACHINEADMIN_HOST", "127.0.0.1")
PORT = int(os.environ.get("SATMACHINEADMIN_PORT", "5000"))
HOME = Path(os.environ.get("SATMACHINEADMIN_DATA", REPO_ROOT / ".data")).resolve()
CREDENTIALS = HOME / "super-user.json"
RELAY_PORT = int(os.environ.get("SATMACHINEADMIN_RELAY_PORT", "7777"))
RELAY_URL = f"ws://127.0.0.1:{RELAY_PORT}"


def lnbits_base_url(environ: Mapping[str, str], host: str, port: int) -> str:
    """LNbits' public address: the user's LNBITS_BASEURL, else where it is served."""
    return environ.get("LNBITS_BASEURL") or f"http://{host}:{port}/"


def prepare_home() -> None:
    """The folder layout LNbits expects, before anything imports lnbits."""
    (HOME / "data").mkdir(parents=True, exist_ok=True)
    (HOME / "extensions").mkdir(exist_ok=True)
    link = HOME / "extensions" / EXT_ID
    if not link.is_symlink():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    spec = importlib.util.find_spec("lnbits")
    if spec is None or spec.origin is None:
        sys.exit("lnbits is not installed: run `make run`, which installs it")
    lnbits_link = HOME / "lnbits"
    if not lnbits_link.is_symlink():
        # LNbits serves its static files and templates relative to the cwd.
        lnbits_link.symlink_to(Path(spec.origin).parent, target_is_directory=True)
    defaults = {
        "LNBITS_DATA_FOLDER": str(HOME / "data"),
        "LNBITS_EXTENSIONS_PATH": str(HOME),
        "LNBITS_BACKEND_WALLET_CLASS": "FakeWallet",
        "LNBITS_ADMIN_UI": "true",
        "LNBITS_USER_DEFAULT_EXTENSIONS": json.dumps([EXT_ID]),
        "AUTH_HTTPS_ONLY": "false",
        "HOST": HOST,
        "PORT": str(PORT),
        "LNBITS_BASEURL": lnbits_base_url(os.environ, HOST, PORT),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.chdir(HOME)


def credentials() -> dict[str, str]:
    if CREDENTIALS.exists():
        return json.loads(CREDENTIALS.read_text())
    created = {"username": "super", "password": secrets.token_urlsafe(12)}
    CREDENTIALS.write_text(json.dumps(created))
    CREDENTIALS.chmod(0o600)
    return created


async def prepare_super_user(base_url: str) -> None:
    """Claims the first install and enables the extension for the super user."""
    import httpx

    login = credentials()
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                # Before the first install every page redirects (307) to it.
                if (await http.get("/api/v1/health")).status_code in (200, 307):
                    break
            await asyncio.sleep(0.5)
        claimed = await http.put(
            "/api/v1/auth/first_install",
            json={**login, "password_repeat": login["password"]},
        )
        if claimed.status_code == 200:
            token = claimed.json()["access_token"]
        else:
            signed_in = await http.post("/api/v1/auth", json=login)
            if signed_in.status_code != 200:
                print(
                    f"Could not sign in as the super user with {CREDENTIALS}: "
                    f"{signed_in.text}",
                    file=sys.stderr,
                )
                return
            token = signed_in.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        await http.put(f"/api/v1/extension/{EXT_ID}/enable", headers=headers)
        await use_base_url(http, headers, os.environ["LNBITS_BASEURL"])
        if RELAY_PORT:
            await use_embedded_relay(http, headers)
    print(
        "\n"
        f"  LNbits with {EXT_ID}: {base_url}\n"
        f"  Super user: {login['username']} / {login['password']}"
        f"  (kept in {CREDENTIALS})\n"
        f"  Operator dashboard: {base_url}/{EXT_ID}/  API docs: {base_url}/docs\n",
        flush=True,
    )


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def use_base_url(http, headers: dict[str, str], wanted: str) -> None:
    """Once LNbits' admin settings are stored they win over LNBITS_BASEURL: a
    loopback base URL there (LNbits' default, or an earlier run's on another port)
    is replaced by ``wanted``; an address the super user set elsewhere stays."""
    path = "/admin/api/v1/settings"
    current = await http.get(path, headers=headers)
    if current.status_code != 200:  # no admin UI: LNbits reads LNBITS_BASEURL
        return
    stored = current.json().get("lnbits_baseurl") or ""
    if stored == wanted or not is_loopback_url(stored):
        return
    updated = await http.patch(path, json={"lnbits_baseurl": wanted}, headers=headers)
    if updated.status_code != 200:
        print(f"Could not set LNbits' base URL: {updated.text}", file=sys.stderr)


async def use_embedded_relay(http, headers: dict[str, str]) -> None:
    """The embedded relay, on the port it started, replaces any loopback relay in
    the extension's list (one of an earlier run on another port); relays the super
    user added elsewhere stay."""
    path = f"/{EXT_ID}/api/v1/super/config"
    current = await http.get(path, headers=headers)
    if current.status_code != 200:
        print(f"Could not read the extension's relays: {current.text}", file=sys.stderr)
        return
    kept = [url for url in current.json()["relays"] if not is_loopback_url(url)]
    body = {"relays": [RELAY_URL, *kept], "local_only": True}
    updated = await http.put(path, json=body, headers=headers)
    if updated.status_code != 200:
        print(f"Could not set the embedded relay: {updated.text}", file=sys.stderr)


def start_relay() -> subprocess.Popen | None:
    """The embedded relay in its own process, so LNbits restarts do not drop it."""
    if RELAY_PORT == 0:
        return None
    relay = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "local_relay.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(RELAY_PORT),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None
    line = relay.stdout.readline().strip()
    if not line.startswith("relay listening"):
        relay.kill()
        sys.exit(f"the embedded relay did not start on port {RELAY_PORT}: {line!r}")
    print(f"  Embedded Nostr {line}", flush=True)
    return relay


async def main(demo: bool) -> None:
    prepare_home()
    import uvicorn

    relay = start_relay()
    config = uvicorn.Config("lnbits.__main__:app", host=HOST, port=PORT)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        await prepare_super_user(f"http://{HOST}:{PORT}")
        if demo:
            demo_run = await asyncio.create_subprocess_exec(
                sys.executable,
                str(REPO_ROOT / "tools" / "demo.py"),
                "--lnbits-url",
                f"http://{HOST}:{PORT}",
                "--credentials",
                str(CREDENTIALS),
            )
            await asyncio.wait(
                [serving, asyncio.create_task(demo_run.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        await serving
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(timeout=10)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(demo="--demo" in sys.argv[1:]))
