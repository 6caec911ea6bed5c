"""What machines announce: beacons (contract §6) and telemetry (§7).

Parsing is lenient on purpose: an ATM's firmware is older or newer than this
server, so unknown fields are kept raw and a field of the wrong type is ignored,
never fatal. Storage keeps the newest beacon per (machine, d) whatever order the
relays deliver them in; the database's conditional upsert decides.
"""

from __future__ import annotations

import time
from typing import Any

from . import crud
from .nostr import bounded_json

# field → the JSON types it may have; anything else is ignored.
_BEACON_FIELDS: dict[str, tuple[type, ...]] = {
    "cash_in": (bool,),
    "cash_out": (bool,),
    "cash_level": (str, int, float, dict),
    "fiat": (str,),
    "model": (str,),
    "name": (str,),
    "location": (str,),
    "fees": (dict, list),
    "limits": (dict,),
    "denominations": (list,),
}


def parse_beacon(content: str) -> dict[str, Any]:
    """The known fields with the right types, plus everything as ``raw``."""
    try:
        data = bounded_json.loads(content)
    except ValueError:
        return {"raw": content}
    if not isinstance(data, dict):
        return {"raw": data}
    parsed: dict[str, Any] = {}
    for name, types in _BEACON_FIELDS.items():
        value = data.get(name)
        if isinstance(value, types) and not (
            isinstance(value, bool) and bool not in types
        ):
            parsed[name] = value
    parsed["raw"] = data
    return parsed


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
            "received_at": int(time.time()),
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
            "received_at": int(time.time()),
        }
    )
    return stored == 1


async def purge_telemetry(*, retention_days: int) -> int:
    cutoff = int(time.time()) - retention_days * 86400
    return await crud.delete_telemetry_before(before=cutoff)


def beacon_status(rows: list[dict], *, offline_after_s: int, now: int) -> dict:
    """Online/offline and the newest beacon of one machine (rows newest first)."""
    if not rows:
        return {"online": False, "last_seen": None, "beacon": None}
    newest = rows[0]
    return {
        "online": now - newest["created_at"] <= offline_after_s,
        "last_seen": newest["created_at"],
        "beacon": {"d": newest["d_tag"], **parse_beacon(newest["content"])},
    }
