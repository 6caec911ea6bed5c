"""Each machine's log of notes: append-only, the operator's own."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from .. import crud
from ..errors import Conflict
from ..helpers import new_id, now
from ..models import MachineNote, MachineNoteRow, NoteCreate
from .accounts import person_name
from .machines import operator_machine


def _note(row: MachineNoteRow) -> MachineNote:
    return MachineNote(
        id=row.id,
        machine_id=row.machine_id,
        author=row.author_name,
        created_at=row.created_at,
        text=row.text,
    )


async def add_machine_note(
    operator_id: str, machine_id: str, data: NoteCreate
) -> MachineNote:
    machine = await operator_machine(machine_id, operator_id)
    # The name as it was when written: the log is not rewritten later.
    author_name = await person_name(operator_id)
    for _ in range(3):  # a note written at the same moment may take the seq
        row = MachineNoteRow(
            id=new_id(),
            machine_id=machine.id,
            seq=await crud.last_note_seq(machine_id=machine.id) + 1,
            operator_id=operator_id,
            author_id=operator_id,
            author_name=author_name,
            text=data.text,
            created_at=now(),
        )
        try:
            await crud.insert_machine_note(row=row)
        except IntegrityError:
            continue
        return _note(row)
    raise Conflict("notes are being written by someone else; try again")


async def machine_notes(
    operator_id: str, machine_id: str, limit: int
) -> list[MachineNote]:
    """Newest first."""
    await operator_machine(machine_id, operator_id)
    rows = await crud.list_machine_notes(
        machine_id=machine_id, operator_id=operator_id, limit=limit
    )
    return [_note(row) for row in rows]
