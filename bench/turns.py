"""LNbits under uvicorn, counting every turn on each of its databases.

    python bench/turns.py OUT.txt -- <uvicorn's arguments>

Run by the benchmark in place of ``python -m uvicorn`` with ``run.py --turns
DIR``. Every LNbits ``Database`` hands out one connection at a time (an asyncio
lock in ``Database.connect``), so under load what a request waits for is its
turn. For each database and each caller (the nearest frames of this extension
or of LNbits' services, views and decorators) this writes, every 10 s and at
exit, how many turns were taken, how long they waited and how long they held the
connection: where the time goes, which a CPU sampler does not show (a task
waiting for a turn uses no CPU). The counting adds a little work to every turn.
Below them goes the event loop's lag and what held it (``stalls``), watched from
the first turn on, when the loop is known.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from connects import Connect, wrap_each_connect
from stalls import LoopStalls

CALLER_DEPTH = 3
WRITE_EVERY_S = 10.0
TOP = 60
_OWN = ("satmachineadmin/", "lnbits/core/services/", "lnbits/core/views/")


def _caller(frame: FrameType | None) -> str:
    names: list[str] = []
    while frame is not None and len(names) < CALLER_DEPTH:
        path = frame.f_code.co_filename
        plumbing = path.endswith(("crud/sql.py", "/database.py", "/turns.py"))
        if not plumbing and (
            any(part in path for part in _OWN) or "lnbits/decorators" in path
        ):
            short = "/".join(Path(path).parts[-2:])
            names.append(f"{short}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(names) or "(LNbits internals)"


class TimedLock(asyncio.Lock):
    """A ``Database``'s lock that adds up how long it was held: the connection's
    opening and closing (on SQLite a thread, a connection and an ATTACH each
    turn) as well as its use, which the turns' "held" leaves out."""

    def __init__(self) -> None:
        super().__init__()
        self.busy_s = 0.0
        self._since = 0.0

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self._since = time.perf_counter()
        return True

    def release(self) -> None:
        self.busy_s += time.perf_counter() - self._since
        super().release()


class Turns:
    def __init__(self, out: Path) -> None:
        self.out = out
        # (database, caller) -> [turns, waited s, held s, longest hold s]
        self.stats: dict[tuple[str, str], list[float]] = {}
        self.started = time.monotonic()
        self.loop = LoopStalls()
        self.locks: dict[str, TimedLock] = {}

    def install(self) -> None:
        turns = self

        def wrap(real: Connect) -> Connect:
            @asynccontextmanager
            async def connect(database: Any) -> AsyncIterator[Any]:
                who = _caller(sys._getframe(2))
                turns.time_lock(database)
                turns.loop.watch(asyncio.get_running_loop(), threading.get_ident())
                asked = time.perf_counter()
                async with real(database) as conn:
                    got = time.perf_counter()
                    try:
                        yield conn
                    finally:
                        turns.note(
                            database.name, who, got - asked, time.perf_counter() - got
                        )

            return connect

        wrap_each_connect(wrap)

    def time_lock(self, database: Any) -> None:
        """Swaps the database's lock for a timed one, while nobody holds it."""
        if isinstance(database.lock, TimedLock) or database.lock.locked():
            return
        database.lock = self.locks[database.name] = TimedLock()

    def note(self, database: str, who: str, waited: float, held: float) -> None:
        entry = self.stats.setdefault((database, who), [0, 0.0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += waited
        entry[2] += held
        entry[3] = max(entry[3], held)

    def write(self) -> None:
        elapsed = time.monotonic() - self.started
        rows = sorted(self.stats.items(), key=lambda item: -item[1][1])[:TOP]
        lines = [
            f"{elapsed:.0f} s of LNbits; per database and caller, by time waited:",
            f"{'database':22} {'turns':>7} {'waited s':>9} {'held s':>8} "
            f"{'held max ms':>11}  caller",
        ]
        for (database, who), (count, waited, held, longest) in rows:
            lines.append(
                f"{database[:22]:22} {count:7.0f} {waited:9.1f} {held:8.2f} "
                f"{longest * 1000:11.1f}  {who}"
            )
        temporary = self.out.with_suffix(".tmp")
        lines.append("")
        for name, lock in self.locks.items():
            lines.append(
                f"{name}: its lock held {lock.busy_s:.1f} s of {elapsed:.0f} s "
                f"({lock.busy_s / elapsed:.0%}), opening and closing included"
            )
        lines += self.loop.lines()
        temporary.write_text("\n".join(lines) + "\n")
        os.replace(temporary, self.out)

    def write_every(self, seconds: float) -> None:
        def loop() -> None:
            while True:
                time.sleep(seconds)
                self.write()

        threading.Thread(target=loop, daemon=True).start()


def main() -> None:
    out, separator, *uvicorn_args = sys.argv[1:]
    assert separator == "--", __doc__
    turns = Turns(Path(out))
    turns.install()
    turns.write_every(WRITE_EVERY_S)
    atexit.register(turns.write)
    import uvicorn

    sys.argv = ["uvicorn", *uvicorn_args]
    uvicorn.main()


if __name__ == "__main__":
    main()
