"""The extension's database handle (``database.py``): turns share one connection
instead of opening one each, run no statement of their own, and sharing changes
nothing a turn can see."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from lnbits.db import SQLITE
from sqlalchemy import event

from satmachineadmin import database
from satmachineadmin.database import db

TURNS = 20


@contextmanager
def engine_events(name: str) -> Iterator[list[tuple]]:
    """The arguments of each event ``name`` of the handle's engine while inside
    (the pool's "connect" and "close": the DBAPI connection first; a
    "before_cursor_execute": the statement third)."""
    seen: list[tuple] = []

    def note(*args: object) -> None:
        seen.append(args)

    event.listen(db.engine.sync_engine, name, note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, name, note)


@pytest.fixture
def connections_opened():
    with engine_events("connect") as opened:
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


async def test_a_turn_runs_only_its_own_statements(app):
    assert await _count_requests("nothing") == 0  # a connection is open
    with engine_events("before_cursor_execute") as run:
        for _ in range(TURNS):
            assert await _count_requests("nothing") == 0
    # The app's own tasks may run statements meanwhile: only the schema's are
    # not the turns'. LNbits' own handle runs a CREATE SCHEMA in every turn on
    # PostgreSQL (20 here).
    statements = [str(args[2]) for args in run]
    assert sum("rpc_requests" in sql for sql in statements) == TURNS
    assert not [sql for sql in statements if "CREATE SCHEMA" in sql.upper()]


async def test_a_schema_deleted_after_a_stop_is_made_again(app):
    """LNbits deletes an extension's data (its schema, or its SQLite file) after
    stopping it, which closes its connections; installed again, the extension
    finds its schema there for its migrations."""
    from lnbits.core.db import db as lnbits_db

    probe = database.open_database(f"ext_probe{uuid.uuid4().hex[:12]}")

    async def delete_data() -> None:
        if probe.type == SQLITE:
            with contextlib.suppress(FileNotFoundError):
                os.remove(probe.path)
        else:
            await lnbits_db.execute(f"DROP SCHEMA IF EXISTS {probe.schema} CASCADE")

    try:
        for _ in range(2):  # installed, data deleted, installed again
            async with probe.connect() as conn:
                await conn.execute(f"CREATE TABLE {probe.schema}.notes (id TEXT)")
                await conn.execute(f"INSERT INTO {probe.schema}.notes VALUES ('a')")
                row = await conn.fetchone(f"SELECT id FROM {probe.schema}.notes")
                assert row["id"] == "a"
            await probe.engine.dispose()  # what stopping the extension does
            await delete_data()
    finally:
        await probe.engine.dispose()
        await delete_data()


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
        with engine_events("close") as closed:
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
