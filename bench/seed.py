"""Prepares a new LNbits database before that LNbits first starts: runs LNbits' and
the extension's migrations and writes the extension's super config with the
benchmark's relay and a new server key.

Without it the extension's RPC server, which starts with LNbits, would connect to
its default relay ws://127.0.0.1:7777 until the benchmark sets the relays through
the API — and a developer's ``make run`` may be using that port.

Run by bench/harness.py with the environment and working directory of an LNbits
home (``python bench/seed.py RELAY_URL``), or called in-process with ``seed()``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from pathlib import Path


async def seed(relay_url: str, extensions_dir: Path) -> None:
    from lnbits.core.helpers import migrate_databases, run_migration

    await migrate_databases()
    if str(extensions_dir) not in sys.path:
        sys.path.insert(0, str(extensions_dir))
    migrations = importlib.import_module("satmachineadmin.migrations")
    database = importlib.import_module("satmachineadmin.database")
    crud = importlib.import_module("satmachineadmin.crud")
    keys = importlib.import_module("satmachineadmin.nostr.keys")
    async with database.db.connect() as conn:
        await run_migration(conn, migrations, "satmachineadmin", None)
    pair = keys.KeyPair.generate()
    await crud.create_super_config_if_missing(
        server_private_key=pair.private_key_hex,
        server_pubkey=pair.public_key_hex,
        relays=[relay_url],
        now=int(time.time()),
    )


def main() -> int:
    relay_url = sys.argv[1]
    asyncio.run(seed(relay_url, Path.cwd() / "extensions"))
    print("seeded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
