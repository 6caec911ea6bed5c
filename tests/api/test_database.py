"""The extension's database handle (``database.py``): turns share one connection
instead of opening one each, and sharing it changes nothing a turn can see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from satmachineadmin import database
from satmachineadmin.database import db

TURNS = 20


@contextmanager
def pool_events(name: str) -> Iterator[list[object]]:
    """The DBAPI connections of each pool event ``name`` ("connect", "close")
    while inside."""
    seen: list[object] = []

    def note(dbapi_connection: object, _record: object) -> None:
        seen.append(dbapi_connection)

    event.listen(db.engine.sync_engine, name, note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, name, note)


@pytest.fixture
def connections_opened():
    with pool_events("connect") as opened:
        yield opened


async def _count_requests(tx_id: str) -> int:
    row: dict = await db.fetchone(
        "SELECT COUNT(*) AS n FROM satmachineadmin.rpc_requests WHERE tx_id = :tx",
        {"tx": tx_id},
    )
    return row["n"]


async def test_turns_one_after_another_share_one_connection(app, connections_opened):
    for _ in range(TURNS):
        assert await _count_requests("nothing") == 0
    # LNbits' own handle opens one for every turn on SQLite (20 here).
    assert len(connections_opened) <= 1


async def test_what_a_turn_leaves_uncommitted_is_gone_for_the_next(app):
    tx_id = f"uncommitted-{uuid.uuid4().hex}"
    async with db.connect() as conn:
        await database.execute(
            conn,
            """
            INSERT INTO satmachineadmin.rpc_requests
                (id, machine_id, method, tx_id, params_hash, status,
                 created_at, updated_at)
            VALUES (:id, 'm', 'make_invoice', :tx, 'h', 'processing', 0, 0)
            """,
            {"id": uuid.uuid4().hex, "tx": tx_id},
        )
        assert await conn.fetchone(
            "SELECT tx_id FROM satmachineadmin.rpc_requests WHERE tx_id = :tx",
            {"tx": tx_id},
        )
    assert await _count_requests(tx_id) == 0


async def test_a_failed_turn_leaves_the_next_one_working(app):
    with pytest.raises(Exception, match=r"no_such_table|no such table"):
        await db.fetchone("SELECT * FROM satmachineadmin.no_such_table")
    assert await _count_requests("nothing") == 0


async def test_after_closing_the_next_turn_opens_a_connection_again(
    app, connections_opened
):
    await database.close()
    assert await _count_requests("nothing") == 0
    assert await _count_requests("nothing") == 0
    assert len(connections_opened) == 1


async def test_closing_waits_for_a_turn_in_flight_and_closes_its_connection(app):
    """LNbits stops the extension while a task may be in a turn: that turn ends
    first, and its connection is closed with the rest, not kept by a pool that
    is gone (an uninstall may delete the file next)."""
    assert await _count_requests("nothing") == 0  # a connection is open
    in_turn, leave = asyncio.Event(), asyncio.Event()

    async def turn() -> None:
        async with db.connect():
            in_turn.set()
            await leave.wait()

    task = asyncio.create_task(turn())
    try:
        with pool_events("close") as closed:
            await in_turn.wait()
            closing = asyncio.create_task(database.close())
            await asyncio.sleep(0)
            assert not closing.done()  # it waits for the lock the turn holds
            leave.set()
            await task
            await closing
            assert len(closed) == 1
    finally:
        leave.set()
