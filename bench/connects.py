"""Wraps ``connect`` of every LNbits ``Database``, the extension's included.

The probes (``turns.py``, ``profile_inprocess.py``) count and time each turn on a
database by wrapping ``Database.connect``. The extension's SQLite handle is a
subclass with a ``connect`` of its own (``database.py``: one connection kept open),
so each class that defines ``connect`` is wrapped, those defined later too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Connect = Callable[[Any], Any]


def wrap_each_connect(wrap: Callable[[Connect], Connect]) -> None:
    from lnbits.db import Database

    def wrap_own(cls: type) -> None:
        if "connect" in vars(cls):
            cls.connect = wrap(vars(cls)["connect"])  # type: ignore[attr-defined]

    def every_subclass(cls: type) -> list[type]:
        subclasses: list[type] = cls.__subclasses__()
        return [cls, *(found for sub in subclasses for found in every_subclass(sub))]

    for cls in every_subclass(Database):
        wrap_own(cls)

    # LNbits' Database defines no __init_subclass__ of its own to call.
    Database.__init_subclass__ = classmethod(wrap_own)  # type: ignore[assignment]
