"""The cash in the machine on the wire (contract §9.4): ``get_cassettes``
returns the cassette document the server publishes."""

from __future__ import annotations

from .. import services
from ..models import MachineRow
from .errors import RpcError


async def get_cassettes(machine: MachineRow, params: dict) -> dict:
    current = await services.current_document(machine.id)
    if current is None:
        raise RpcError(
            "not_found", "the operator has set no cassettes for this machine"
        )
    return current[1]
