"""What machines announce: beacons (contract §6) and telemetry (§7), as they
arrive from the relays.

Storage keeps the newest beacon per (machine, d) whatever order the relays deliver
them in; the database's conditional upsert decides. (What the operator sees of
them is ``services.beacons``.)
"""

from __future__ import annotations

from .. import crud, helpers


async def record_beacon(
    *, machine_id: str, d_tag: str, event_id: str, created_at: int, content: str
) -> bool:
    stored = await crud.upsert_beacon(
        row={
            "machine_id": machine_id,
            "d_tag": d_tag,
            "event_id": event_id,
            "created_at": created_at,
            "content": content,
            "received_at": helpers.now(),
        }
    )
    return stored == 1


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
