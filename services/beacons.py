"""What the operator sees of a machine's beacons (contract §6): online or not, and
the newest beacon's fields.

Parsing is lenient on purpose: an ATM's firmware is older or newer than this
server, so unknown fields are kept raw and a field of the wrong type is ignored,
never fatal. (Receiving and storing beacons is ``rpc.beacons``.)
"""

from __future__ import annotations

from typing import Any

from ..nostr import bounded_json

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
