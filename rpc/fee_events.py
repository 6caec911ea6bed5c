"""Each machine's fee schedule as an addressable event (contract §9.2): ``d`` =
``bitspire-fees:<machine hex>`` (see ``documents`` for when it is published)."""

from __future__ import annotations

from .. import crud
from ..nostr.events import Event
from ..nostr.keys import KeyPair
from .documents import DOCUMENT_KIND, DocumentPublisher, document_event

FEES_KIND = DOCUMENT_KIND
FEES_D_PREFIX = "bitspire-fees:"


def fee_event(
    keys: KeyPair, machine_pubkey: str, schedule_json: str, created_at: int
) -> Event:
    return document_event(
        keys, machine_pubkey, FEES_D_PREFIX, schedule_json, created_at
    )


class FeePublisher(DocumentPublisher):
    """Publishes schedules through one RPC server's pool, with its current key."""

    d_prefix = FEES_D_PREFIX

    async def current(self, machine_id: str) -> str | None:
        current = await crud.current_fee_version(machine_id=machine_id)
        return None if current is None else current.schedule
