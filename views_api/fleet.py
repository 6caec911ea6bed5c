"""Running a fleet: each machine's notes, cassettes, refills and cash."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import services
from ..models import (
    CassettesUpdate,
    MachineCash,
    MachineNote,
    NoteCreate,
    RefillCreate,
)
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


@router.get("/machines/{machine_id}/cash")
async def api_machine_cash(
    machine_id: str, user: User = Depends(check_user_exists)
) -> MachineCash:
    """Per cassette the last reported count, the estimate now and the fiat
    held; the cashbox; the days until empty or full; the counts with their
    reconciliation; the cashbox batches."""
    return await services.machine_cash(user.id, machine_id)


@router.put("/machines/{machine_id}/cassettes")
async def api_set_cassettes(
    machine_id: str, data: CassettesUpdate, user: User = Depends(check_user_exists)
) -> MachineCash:
    """Every cassette of the machine: a new version of its cassette document."""
    await services.set_cassettes(user.id, machine_id, data)
    return await services.machine_cash(user.id, machine_id)


@router.post("/machines/{machine_id}/refills", status_code=HTTPStatus.CREATED)
async def api_record_refill(
    machine_id: str, data: RefillCreate, user: User = Depends(check_user_exists)
) -> MachineCash:
    """The counts loaded; closes the cashbox batch and opens the next."""
    await services.record_refill(user.id, machine_id, data)
    return await services.machine_cash(user.id, machine_id)
