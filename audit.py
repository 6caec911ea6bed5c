"""The audit log: who or what changed which object, and how."""

from __future__ import annotations

import json
from typing import Any

from lnbits.db import Connection

from . import crud
from .helpers import new_id, now


async def record(
    conn: Connection | None,
    *,
    actor: str,
    operator_id: str | None,
    action: str,
    object_type: str,
    object_id: str,
    detail: dict[str, Any],
) -> None:
    await crud.insert_audit(
        row={
            "id": new_id(),
            "created_at": now(),
            "actor": actor,
            "operator_id": operator_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "detail": json.dumps(detail, sort_keys=True, default=str),
        },
        conn=conn,
    )
