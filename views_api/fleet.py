"""Running a fleet: each machine's notes, cassettes, refills and cash."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import MachineNote, NoteCreate
from .queries import ROWS, query_int
from .routing import concern_router

router = concern_router()


@router.get("/machines/{machine_id}/notes")
async def api_machine_notes(
    machine_id: str,
    limit: int = query_int("limit", "The number of notes (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[MachineNote]:
    """The machine's notes, newest first."""
    return await services.machine_notes(user.id, machine_id, limit)


@router.post("/machines/{machine_id}/notes", status_code=HTTPStatus.CREATED)
async def api_add_machine_note(
    machine_id: str, data: NoteCreate, user: User = Depends(check_user_exists)
) -> MachineNote:
    """Appends a note; notes are never edited or removed."""
    return await services.add_machine_note(user.id, machine_id, data)
