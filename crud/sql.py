"""The few SQL helpers every crud module shares.

Every crud function takes keyword-only arguments and an optional connection: given
one, it runs inside the caller's transaction; without one, it opens its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from lnbits.db import Connection
from pydantic import BaseModel

from ..database import db, execute, transaction

S = "satmachineadmin"


M = TypeVar("M", bound=BaseModel)


@asynccontextmanager
async def connection(conn: Connection | None) -> AsyncIterator[Connection]:
    if conn is not None:
        yield conn
    else:
        async with transaction() as own:
            yield own


async def fetch_one(sql: str, values: dict, conn: Connection | None) -> dict | None:
    row: Any = await (conn or db).fetchone(sql, values)
    return dict(row) if row else None


async def fetch_all(sql: str, values: dict, conn: Connection | None) -> list[dict]:
    rows: list[Any] = await (conn or db).fetchall(sql, values)
    return [dict(row) for row in rows]


async def fetch_row(
    model: type[M], sql: str, values: dict, conn: Connection | None
) -> M | None:
    row = await fetch_one(sql, values, conn)
    return None if row is None else model.parse_obj(row)


async def fetch_rows(
    model: type[M], sql: str, values: dict, conn: Connection | None
) -> list[M]:
    return [model.parse_obj(row) for row in await fetch_all(sql, values, conn)]


async def insert_row(conn: Connection, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    params = ", ".join(f":{key}" for key in row)
    await execute(conn, f"INSERT INTO {S}.{table} ({columns}) VALUES ({params})", row)


def values_list(rows: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The ``(…), (…)`` of a many-row VALUES and its bound values: each row's keys
    (the same in every row) numbered by row, so one statement carries them all."""
    values: dict[str, Any] = {}
    tuples = []
    for n, row in enumerate(rows):
        tuples.append("(" + ", ".join(f":{key}_{n}" for key in row) + ")")
        values.update({f"{key}_{n}": value for key, value in row.items()})
    return ", ".join(tuples), values


async def insert_rows(
    conn: Connection, table: str, rows: Sequence[dict[str, Any]]
) -> None:
    """Many rows of the same columns in one statement (a round trip, not one each)."""
    if not rows:
        return
    tuples, values = values_list(rows)
    await execute(
        conn, f"INSERT INTO {S}.{table} ({', '.join(rows[0])}) VALUES {tuples}", values
    )


async def insert_model(conn: Connection, table: str, row: BaseModel) -> None:
    await insert_row(conn, table, row.dict())


def as_int(value: Any) -> int:
    # PostgreSQL returns SUM(BIGINT) as NUMERIC (Decimal); both are exact.
    return int(value or 0)


def ints_except(row: dict, *text_columns: str) -> dict:
    return {
        key: value if key in text_columns else as_int(value)
        for key, value in row.items()
    }


def equal_to(
    columns: dict[str, Any], *, table: str = ""
) -> tuple[list[str], dict[str, Any]]:
    """A ``column = :column`` clause for each column given a value (None: any),
    and the values to bind; ``table`` qualifies the columns in a join."""
    given = {column: value for column, value in columns.items() if value is not None}
    prefix = f"{table}." if table else ""
    return [f"{prefix}{column} = :{column}" for column in given], given


def claimable(*, busy: str = "paying", claimed_at: str = "claimed_at") -> str:
    """The claim rule every payable queue shares (legs, LP payouts, forwards): a
    row is taken when it is new, when its failure's retry is due, or when the
    claim on it (``busy``, made at ``claimed_at``) is older than
    ``:stale_before``, the worker that made it having died. Binds ``:now`` and
    ``:stale_before``."""
    return (
        f"(status = 'pending'"
        f" OR (status = 'failed' AND next_attempt_at <= :now)"
        f" OR (status = '{busy}' AND {claimed_at} < :stale_before))"
    )


def in_list(name: str, values: Sequence[str]) -> tuple[str, dict[str, str]]:
    """``(:name0, :name1, …)`` and the values to bind, for an SQL ``IN``."""
    names = {f"{name}{i}": value for i, value in enumerate(values)}
    return f"({', '.join(f':{n}' for n in names)})", names
