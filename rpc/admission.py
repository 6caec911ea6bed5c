"""Admitting machines' requests: the dedupe claim and the machine, many at once.

Every request from a machine is claimed in the database before it is handled (a
relay replaying stored requests after a restart, or a second LNbits process on
the same database, must not have it handled twice), and its machine is read. A
transaction per request would make each request wait for a turn of its own on
the extension's database, behind the payouts' and everything else's; under a
fleet's load those turns, not the work, are what a request waits for. So the
requests that arrive together are admitted together: one task takes all that
are waiting and, in one transaction, claims them in one statement (which tells
the ids this process won) and reads their machines, with each one's current fee
version, in another; then each request goes on with its own outcome. When
requests are few, each is admitted at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .. import crud, helpers
from ..database import transaction
from ..models import AdmittedMachine
from ..nostr.events import Event

# Requests claimed in one statement: two bound values each, and their distinct
# keys in the machines' IN list, far below every SQLite build's limit.
MAX_BATCH = 200


class AlreadyHandled(Exception):
    """This request was claimed before: by another process, an earlier run, or a
    copy of it that arrived together with it."""


@dataclass
class _Waiting:
    event: Event
    admitted: asyncio.Future[AdmittedMachine | None]


class Admissions:
    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self._admitter: asyncio.Task[None] | None = None

    async def admit(self, event: Event) -> AdmittedMachine | None:
        """Claims ``event`` and returns its author's machine (None if the key is
        no machine's); raises AlreadyHandled if it was claimed before."""
        waiting = _Waiting(event, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._admitter is None or self._admitter.done():
            self._admitter = asyncio.create_task(self._admit_all())
        return await waiting.admitted

    async def _admit_all(self) -> None:
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            try:
                won, machines = await _claim(batch)
            except Exception as exc:  # each request fails as its own claim would
                for waiting in batch:
                    _settle(waiting, exception=exc)
                continue
            for waiting in batch:
                if waiting.event.id in won:
                    won.discard(waiting.event.id)  # a copy in the same batch lost
                    _settle(waiting, machine=machines.get(waiting.event.pubkey))
                else:
                    _settle(waiting, exception=AlreadyHandled())


async def _claim(
    batch: list[_Waiting],
) -> tuple[set[str], dict[str, AdmittedMachine]]:
    event_ids = list(dict.fromkeys(waiting.event.id for waiting in batch))
    pubkeys = list(dict.fromkeys(waiting.event.pubkey for waiting in batch))
    async with transaction() as conn:
        won = await crud.claim_events(event_ids=event_ids, now=helpers.now(), conn=conn)
        rows = await crud.get_admitted_machines(pubkeys=pubkeys, conn=conn)
    return won, {row.pubkey: row for row in rows}


def _settle(
    waiting: _Waiting,
    *,
    machine: AdmittedMachine | None = None,
    exception: Exception | None = None,
) -> None:
    if waiting.admitted.done():  # its handler was cancelled meanwhile
        return
    if exception is not None:
        waiting.admitted.set_exception(exception)
    else:
        waiting.admitted.set_result(machine)
