"""The RPC log, written off the request's path.

Every answered request is a row of the operator's RPC log (and of the alerts'
"last seen"). Written inside the request, each answer would wait for a write of
its own on the extension's database, which the machines' other requests, the
beacons and the payouts take turns on. Rows queue here instead, and one task
writes whatever has queued, many rows to a statement: at once when requests are
few, in batches when many arrive together. A row is in the log a moment after
its answer was sent; rows still queued when the process dies are lost (the
answers were sent; only their log lines are missing).

The queue is bounded: should the database refuse rows for long, the oldest are
dropped (and counted), never the process's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque

from loguru import logger

from .. import crud
from ..models import RpcLogRow

MAX_QUEUED = 10_000
BATCH = 500
RETRY_AFTER_S = 1.0


class RequestLog:
    def __init__(self) -> None:
        self._rows: deque[RpcLogRow] = deque()
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, row: RpcLogRow) -> None:
        """Queues one row; its writer starts if none is running."""
        self._queue([row])
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Waits, up to ``timeout_s``, for what was queued to be written."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=timeout_s)

    def _queue(self, rows: list[RpcLogRow], *, front: bool = False) -> None:
        if front:  # a batch that failed: older than anything queued since
            self._rows.extendleft(reversed(rows))
        else:
            self._rows.extend(rows)
        while len(self._rows) > MAX_QUEUED:
            self._rows.popleft()  # the oldest
            self.dropped += 1

    async def _write_all(self) -> None:
        while self._rows:
            batch = [self._rows.popleft() for _ in range(min(BATCH, len(self._rows)))]
            try:
                await crud.insert_rpc_log(rows=batch)
            except Exception:
                logger.exception("satmachineadmin: writing the RPC log failed")
                self._queue(batch, front=True)
                await asyncio.sleep(RETRY_AFTER_S)
