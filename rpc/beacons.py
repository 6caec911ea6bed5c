"""What machines announce: beacons (contract §6) and telemetry (§7), as they
arrive from the relays.

Storage keeps the newest beacon per (machine, d) whatever order the relays deliver
them in; the database's conditional upsert decides. (What the operator sees of
them is ``services.beacons``.)
"""

from __future__ import annotations

from .. import crud, helpers
from ..database import transaction
from ..models import BeaconRow
from ..services import push


async def record_beacon(
    *,
    machine_id: str,
    d_tag: str,
    event_id: str,
    created_at: int,
    content: str,
    operator_id: str | None = None,
    offline_after_s: int,
) -> bool:
    """Stores the beacon if it is the newest; the operator's pages hear of it when
    it shows them something new: the machine back online (silent for more than
    ``offline_after_s``), or what it announces changed (not every beacon of a
    machine that stays the same)."""
    async with transaction() as conn:
        before = await crud.latest_beacons(machine_ids=[machine_id], conn=conn)
        stored = await crud.upsert_beacon(
            row={
                "machine_id": machine_id,
                "d_tag": d_tag,
                "event_id": event_id,
                "created_at": created_at,
                "content": content,
                "received_at": helpers.now(),
            },
            conn=conn,
        )
    if stored == 1 and operator_id and _news(before, d_tag, content, offline_after_s):
        push.notify([operator_id], push.MACHINES)
    return stored == 1


def _news(
    before: list[BeaconRow], d_tag: str, content: str, offline_after_s: int
) -> bool:
    previous = next((row for row in before if row.d_tag == d_tag), None)
    if previous is None or previous.content != content:
        return True
    return helpers.now() - previous.received_at > offline_after_s


async def record_telemetry(
    *, machine_id: str, d_tag: str, event_id: str, created_at: int, content: str
) -> bool:
    stored = await crud.insert_telemetry(
        row={
            "event_id": event_id,
            "machine_id": machine_id,
            "d_tag": d_tag,
            "created_at": created_at,
            "content": content,
            "received_at": helpers.now(),
        }
    )
    return stored == 1


async def purge_telemetry(*, retention_days: int) -> int:
    cutoff = helpers.now() - retention_days * 86400
    return await crud.delete_telemetry_before(before=cutoff)
