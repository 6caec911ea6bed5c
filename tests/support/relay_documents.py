"""The documents the extension publishes to a machine on real relays (contract
§9.2 fees, §9.4 cassettes): addressable kind-30078 events under the ``d`` tag
``bitspire-{document}:{machine hex}``, NIP-44 encrypted to the machine. What a
machine asks a relay for, the newest of them, and what it reads in it.

Imports the extension: only for tests that run in the in-process LNbits
(``tests/conftest.py`` boots it first).
"""

from __future__ import annotations

import asyncio
import json

from in_process_rpc import Atm
from super_config import SuperConfigSetter
from websockets.asyncio.client import connect

from helpers import API, wait_until
from satmachineadmin.nostr import nip44

CONNECT_TIMEOUT = 10.0


async def stored_documents(
    url: str, author: str, document: str, machine_hex: str
) -> list[dict]:
    """What the relay hands a machine that asks for its ``document`` (``fees``,
    ``cassettes``) by ``author``."""
    query = {
        "kinds": [30078],
        "authors": [author],
        "#d": [f"bitspire-{document}:{machine_hex}"],
    }
    async with connect(url) as ws:
        await ws.send(json.dumps(["REQ", document, query]))
        events = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
            if message[0] == "EVENT":
                events.append(message[2])
            elif message[0] == "EOSE":
                return events


def newest(events: list[dict]) -> dict | None:
    return max(events, key=lambda e: (e["created_at"], e["id"]), default=None)


def decrypted(event: dict, atm: Atm) -> dict:
    assert ["p", atm.keys.public_key_hex] in event["tags"]
    key = nip44.get_conversation_key(atm.keys.private_key_hex, event["pubkey"])
    return json.loads(nip44.decrypt(event["content"], key))


async def newest_version(url: str, author: str, document: str, atm: Atm) -> int | None:
    """The version of the newest ``document`` the relay keeps for ``atm``."""
    stored = await stored_documents(url, author, document, atm.keys.public_key_hex)
    event = newest(stored)
    return None if event is None else decrypted(event, atm)["version"]


async def server_on(client, config: SuperConfigSetter, url: str) -> str:
    """Points the extension's server at ``url`` and waits until it is connected."""
    updated = await config.set({"relays": [url]})

    async def connected() -> bool:
        response = await client.get(
            f"{API}/super/relays", headers=config.super_user.headers
        )
        status = response.json()
        return status["server_pubkey"] == updated["server_pubkey"] and any(
            r["url"] == url and r["connected"] for r in status["relays"]
        )

    await wait_until(connected, timeout=CONNECT_TIMEOUT, what=f"server on {url}")
    return updated["server_pubkey"]
