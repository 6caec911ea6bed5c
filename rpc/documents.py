"""A machine's documents as addressable events (contract §9.2, §9.4): kind 30078
by the server, ``d`` = ``<prefix><machine hex>``, ``p`` the machine, the JSON
NIP-44 encrypted to the machine. Relays keep the newest per (author, kind,
``d``), so a machine finds its current document there.

Published for a machine whenever its document gets a new version, and for every
active machine once a relay is connected after the server starts or its key is
rotated. A version made while no relay is connected reaches the relays with the
next start or rotation; the RPC that returns the document always answers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import crud
from ..models import MachineStatus
from ..nostr import nip44
from ..nostr.events import Event, sign_event
from ..nostr.keys import KeyPair

if TYPE_CHECKING:
    from .server import RpcServer

DOCUMENT_KIND = 30078


def document_event(
    keys: KeyPair, machine_pubkey: str, d_prefix: str, document: str, created_at: int
) -> Event:
    conversation_key = nip44.get_conversation_key(keys.private_key_hex, machine_pubkey)
    return sign_event(
        private_key_hex=keys.private_key_hex,
        kind=DOCUMENT_KIND,
        content=nip44.encrypt(document, conversation_key),
        tags=[["d", f"{d_prefix}{machine_pubkey}"], ["p", machine_pubkey]],
        created_at=created_at,
    )


class DocumentPublisher:
    """Publishes one kind of document through one RPC server's pool, with its
    current key; ``current`` gives a machine's document as published JSON."""

    d_prefix = ""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self._last_created_at: dict[str, int] = {}
        self._announced_with: str | None = None

    async def current(self, machine_id: str) -> str | None:
        raise NotImplementedError

    def _created_at(self, machine_id: str) -> int:
        # Strictly increasing per machine, so that two versions issued within
        # one second still replace each other in order on the relays.
        created_at = max(int(time.time()), self._last_created_at.get(machine_id, 0) + 1)
        self._last_created_at[machine_id] = created_at
        return created_at

    async def publish_machine(self, machine_id: str) -> int:
        """The machine's current document; how many relays it was sent to."""
        keys, pool = self.server.keys, self.server.pool
        if keys is None or pool is None:
            return 0
        machine = await crud.get_machine(machine_id=machine_id)
        if machine is None or machine.status != MachineStatus.active.value:
            return 0
        document = await self.current(machine_id)
        if document is None:
            return 0
        event = document_event(
            keys, machine.pubkey, self.d_prefix, document, self._created_at(machine_id)
        )
        return await pool.publish(event)

    async def publish_all(self) -> None:
        for row in await crud.list_machine_pubkeys():
            if row.status == MachineStatus.active.value:
                await self.publish_machine(row.id)

    async def after_refresh(self) -> None:
        """At start and after a key rotation, once a relay can take them: every
        active machine's document, signed with the key the machines now use."""
        keys, pool = self.server.keys, self.server.pool
        if keys is None or pool is None or keys.public_key_hex == self._announced_with:
            return
        if not any(status.connected for status in pool.status()):
            return
        self._announced_with = keys.public_key_hex
        await self.publish_all()
