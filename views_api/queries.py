"""Query parameters read with a plain message when they are wrong.

Query numbers are parsed here, not by int(): that accepts "1_000", other scripts'
digits (a superscript two even passes str.isdigit()) and any size; a number SQLite
or PostgreSQL cannot hold fails in the database with a 500.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any

from fastapi import Depends, HTTPException, Query

# The last second of the year 9999: what a date can say and a BIGINT can hold.
MAX_INSTANT = 253_402_300_799
MAX_OFFSET = 1_000_000_000
ROWS = {"default": 100, "low": 1, "high": 1000}


def _bad_query(message: str) -> HTTPException:
    return HTTPException(HTTPStatus.BAD_REQUEST, message)


def _is_ascii_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _in_range(text: str, low: int, high: int) -> int | None:
    """The ASCII number ``text`` if it lies in low..high, read only if it can."""
    if len(text.lstrip("0")) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def _whole_number(text: str, label: str, low: int, high: int) -> int:
    if not _is_ascii_number(text):
        raise _bad_query(f"{label} must be a whole number written with digits 0-9")
    number = _in_range(text, low, high)
    if number is None:
        raise _bad_query(f"{label} must be from {low} to {high}")
    return number


def query_int(name: str, label: str, *, default: int, low: int, high: int) -> Any:
    """A bounded integer query parameter, with a plain message when it is not."""

    def parse(value: str | None = Query(None, alias=name)) -> int:
        if value is None or not value.strip():
            return default
        return _whole_number(value.strip(), label, low, high)

    return Depends(parse)


def _seconds(text: str, *, end_of_day: bool) -> int | None:
    """Unix seconds of an ISO date (midnight UTC) or an ISO datetime, if it is one."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return int((start + timedelta(days=1 if end_of_day else 0)).timestamp())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def instant(value: str | None, label: str, *, end_of_day: bool) -> int | None:
    """Unix seconds, an ISO date (midnight UTC) or an ISO datetime."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if _is_ascii_number(text):
        seconds = _in_range(text, 0, MAX_INSTANT)
        if seconds is None:
            raise _bad_query(f"{label} is out of range")
        return seconds
    if text.isascii() and len(text) <= 40:
        try:
            seconds = _seconds(text, end_of_day=end_of_day)
        except OverflowError:  # the day after 9999-12-31
            raise _bad_query(f"{label} is out of range") from None
    else:
        seconds = None
    if seconds is None:
        raise _bad_query(
            f"{label} must be Unix seconds, a date such as 2024-01-31 or a date "
            "and time such as 2024-01-31T12:00:00Z"
        )
    if not 0 <= seconds <= MAX_INSTANT:
        raise _bad_query(f"{label} is out of range")
    return seconds
