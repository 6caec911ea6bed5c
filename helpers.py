"""Time, ids, the tag this extension stamps on its payments, and how its
messages write directions and basis points."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

# The tag on every LNbits payment this extension makes or receives: LNbits routes
# invoice-paid events to the extension by it, and operators can filter by it.
EXT_TAG = "satmachineadmin"


def now() -> int:
    """Unix seconds: the unit of every timestamp column."""
    return int(time.time())


def new_id() -> str:
    return uuid.uuid4().hex


def iso_utc(seconds: int | None) -> str:
    """A timestamp as exports write it: ISO 8601, UTC, to the second."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def direction_word(direction: object) -> str:
    """cash_out → cash-out: how people write it (an enum member or its value)."""
    value = getattr(direction, "value", direction)
    return {"cash_out": "cash-out", "cash_in": "cash-in"}.get(str(value or ""), "")


def bps_percent(bps: int | Decimal) -> str:
    """500 → "5.00 %": how messages for people write basis points."""
    return f"{Decimal(bps) / 100:.2f} %"
