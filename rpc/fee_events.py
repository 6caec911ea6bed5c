"""Each machine's fee schedule as an addressable event (contract §9.2): kind
30078 by the server, ``d`` = ``bitspire-fees:<machine hex>``, ``p`` the machine,
the schedule JSON NIP-44 encrypted to the machine. Relays keep the newest per
(author, kind, ``d``), so a machine finds its current schedule there.

Published for a machine whenever its schedule gets a new version (added,
paired, an operator's edit, a platform fee change), and for every active
machine once a relay is connected after the server starts or its key is
rotated. A version made while no relay is connected reaches the relays with
the next start or rotation; the machine's ``get_fees`` always answers.
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

FEES_KIND = 30078
FEES_D_PREFIX = "bitspire-fees:"


def fee_event(
    keys: KeyPair, machine_pubkey: str, schedule_json: str, created_at: int
) -> Event:
    conversation_key = nip44.get_conversation_key(keys.private_key_hex, machine_pubkey)
    return sign_event(
        private_key_hex=keys.private_key_hex,
        kind=FEES_KIND,
        content=nip44.encrypt(schedule_json, conversation_key),
        tags=[["d", f"{FEES_D_PREFIX}{machine_pubkey}"], ["p", machine_pubkey]],
        created_at=created_at,
    )


class FeePublisher:
    """Publishes schedules through one RPC server's pool, with its current key."""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self._last_created_at: dict[str, int] = {}
        self._announced_with: str | None = None

    def _created_at(self, machine_id: str) -> int:
        # Strictly increasing per machine, so that two versions issued within
        # one second still replace each other in order on the relays.
        created_at = max(int(time.time()), self._last_created_at.get(machine_id, 0) + 1)
        self._last_created_at[machine_id] = created_at
        return created_at

    async def publish_machine(self, machine_id: str) -> int:
        """The machine's current schedule; how many relays it was sent to."""
        keys, pool = self.server.keys, self.server.pool
        if keys is None or pool is None:
            return 0
        machine = await crud.get_machine(machine_id=machine_id)
        if machine is None or machine.status != MachineStatus.active.value:
            return 0
        current = await crud.current_fee_version(machine_id=machine_id)
        if current is None:
            return 0
        event = fee_event(
            keys, machine.pubkey, current.schedule, self._created_at(machine_id)
        )
        return await pool.publish(event)

    async def publish_all(self) -> None:
        for row in await crud.list_machine_pubkeys():
            if row.status == MachineStatus.active.value:
                await self.publish_machine(row.id)

    async def after_refresh(self) -> None:
        """At start and after a key rotation, once a relay can take them: every
        active machine's schedule, signed with the key the machines now use."""
        keys, pool = self.server.keys, self.server.pool
        if keys is None or pool is None or keys.public_key_hex == self._announced_with:
            return
        if not any(status.connected for status in pool.status()):
            return
        self._announced_with = keys.public_key_hex
        await self.publish_all()
