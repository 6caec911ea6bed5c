"""The operator's audit log."""

from __future__ import annotations

import json

from .. import crud


async def audit_log(operator_id: str, limit: int) -> list[dict]:
    entries = []
    for row in await crud.list_audit(operator_id=operator_id, limit=limit):
        detail = json.loads(row.detail)
        if row.action == "lp.enrol":
            # Enrolments recorded before consent codes kept the LP's user id.
            detail.pop("user_id", None)
        entries.append({**row.dict(), "detail": detail})
    return entries
