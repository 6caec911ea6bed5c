"""Counting the turns taken on a database handle, by the code that asks for them.

Every LNbits ``Database`` hands out one connection at a time, so what a piece of
code costs the others is its turns. The counting tests wrap the handle's
``connect`` and ask a ``key`` of the asking code's frames which count, if any, a
turn goes to: LNbits' and the app's own tasks take turns at any moment, and
only the code under test is to be counted.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Hashable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any


def count_turns(
    monkeypatch: Any,
    database: Any,
    key: Callable[[FrameType | None], Hashable | None],
    counted: Counter,
) -> None:
    """Adds one to ``counted[key(frame)]`` for each turn on ``database``, where
    ``frame`` is the innermost frame of the code that asked for it (a None key
    is not counted)."""
    real = database.connect

    @asynccontextmanager
    async def connect():
        asked = key(sys._getframe(2))
        if asked is not None:
            counted[asked] += 1
        async with real() as conn:
            yield conn

    monkeypatch.setattr(database, "connect", connect)
