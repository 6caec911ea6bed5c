"""The audit log."""

from __future__ import annotations

from .base import RowModel


class AuditRow(RowModel):
    """Who or what changed which object, and how; ``detail`` is the JSON text
    stored."""

    id: str
    created_at: int
    actor: str
    operator_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: str
