"""The extension's database handle and a real transaction on top of it.

LNbits' ``Connection.execute/insert/update`` commit after every statement, so
``db.connect()`` alone is not atomic. Money needs several statements to commit
together (a settlement and all of its legs, or none), so the statements here run on
the underlying SQLAlchemy connection and commit once, at the end of ``transaction()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from threading import Thread
from typing import Any

import aiosqlite
from lnbits.db import DB_TYPE, SQLITE, Connection, Database
from lnbits.settings import settings
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


class _DaemonAiosqlite:
    """aiosqlite, with each connection's worker thread a daemon, so that a
    connection kept open never holds the process at its exit (LNbits does not
    stop its extensions when it shuts down). SQLAlchemy 1.4 means to do this: it
    sets ``daemon`` on the connection, which was the thread itself before
    aiosqlite 0.20 and is not since."""

    def __getattr__(self, name: str) -> Any:
        return getattr(aiosqlite, name)

    def connect(self, *args: Any, **kwargs: Any) -> aiosqlite.Connection:
        connection = aiosqlite.connect(*args, **kwargs)
        worker = getattr(connection, "_thread", None)
        if isinstance(worker, Thread):
            worker.daemon = True
        return connection


class _KeptConnectionsDatabase(Database):
    """LNbits' ``Database``, its turns running nothing but their own statements.

    LNbits 1.6.2 readies every turn's connection for the extension's schema:
    - on SQLite it opens a connection for each turn (a thread, ``sqlite3.connect``
      and an ``ATTACH``) and closes it again: about 2 ms a turn on an idle
      machine, 10 ms under a fleet's load, two thirds of the lock's time (P7);
    - on PostgreSQL it runs ``CREATE SCHEMA IF NOT EXISTS`` and a commit in every
      turn: half of a one-``SELECT`` turn's time (P9).
    All while holding the database's lock. Here each connection is readied once,
    when it opens, and kept open between turns by the pool; the pool rolls back
    whatever a turn left uncommitted when it hands the connection back, as closing
    it did. A schema dropped with the extension's data (after LNbits stopped the
    extension, which closes the connections: ``close``) is made again by the next
    connection, as LNbits' own handle would.
    """

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        async with self.lock, self.engine.connect() as conn:
            yield Connection(conn, self.type, self.name, self.schema)


class _SQLiteDatabase(_KeptConnectionsDatabase):
    """One connection, attached once when it opens. The lock lets one turn in at a
    time, so one serves them all; should a connection ever not come back (a turn
    cut short at the wrong moment), the next turn opens another rather than
    waiting for it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.engine = create_async_engine(
            f"sqlite+aiosqlite:///{self.path}",
            echo=settings.debug_database,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=-1,
        )
        self.engine.dialect.dbapi.aiosqlite = _DaemonAiosqlite()
        event.listen(self.engine.sync_engine, "connect", self._attach)

    def _attach(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"ATTACH '{self.path}' AS {self.schema}")
        cursor.close()


class _PostgresDatabase(_KeptConnectionsDatabase):
    """LNbits' engine and its pool, the schema made sure of once per connection."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        event.listen(self.engine.sync_engine, "connect", self._make_schema)

    def _make_schema(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        cursor.close()
        dbapi_connection.commit()


def open_database(name: str) -> Database:
    """The handle of LNbits' database ``name`` ("ext_<id>" for an extension's)."""
    return _SQLiteDatabase(name) if DB_TYPE == SQLITE else _PostgresDatabase(name)


db = open_database("ext_satmachineadmin")


async def close() -> None:
    """Closes the connections kept open; the next turn opens one again. Run when
    LNbits stops the extension, before an upgrade or an uninstall (which may
    delete the SQLite file). Under the lock: a turn still running hands its
    connection back first, and it is closed with the rest."""
    async with db.lock:
        await db.engine.dispose()


@asynccontextmanager
async def transaction() -> AsyncIterator[Connection]:
    """One database transaction: commits if the block succeeds, else rolls back."""
    async with db.connect() as conn:
        try:
            yield conn
        except BaseException:
            await conn.conn.rollback()
            raise
        await conn.conn.commit()


async def execute(conn: Connection, sql: str, values: dict[str, Any]) -> int:
    """Runs one statement inside the caller's transaction; returns rows affected."""
    result = await conn.conn.execute(
        text(conn.rewrite_query(sql)), conn.rewrite_values(values)
    )
    return result.rowcount


async def fetch_returning(
    conn: Connection, sql: str, values: dict[str, Any]
) -> dict | None:
    """Runs one ``… RETURNING`` statement inside the caller's transaction; returns
    the first row it returned, or None. (SQLite ≥ 3.35 and PostgreSQL both have
    RETURNING; a write and the read of its result are then one round trip.)"""
    result = await conn.conn.execute(
        text(conn.rewrite_query(sql)), conn.rewrite_values(values)
    )
    rows = result.mappings().all()
    return dict(rows[0]) if rows else None
