"""Time, ids and the tag this extension stamps on its payments."""

from __future__ import annotations

import time
import uuid

# The tag on every LNbits payment this extension makes or receives: LNbits routes
# invoice-paid events to the extension by it, and operators can filter by it.
EXT_TAG = "satmachineadmin"


def now() -> int:
    """Unix seconds: the unit of every timestamp column."""
    return int(time.time())


def new_id() -> str:
    return uuid.uuid4().hex
