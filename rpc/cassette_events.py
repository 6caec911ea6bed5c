"""Each machine's cassette document as an addressable event (contract §9.4):
``d`` = ``bitspire-cassettes:<machine hex>``, published at the same moments as
the fee schedule (see ``documents``)."""

from __future__ import annotations

from .. import crud
from .documents import DocumentPublisher

CASSETTES_D_PREFIX = "bitspire-cassettes:"


class CassettePublisher(DocumentPublisher):
    d_prefix = CASSETTES_D_PREFIX

    async def current(self, machine_id: str) -> str | None:
        current = await crud.current_cassette_version(machine_id=machine_id)
        return None if current is None else current.document
