"""Waiting on an asyncio.Event with a timeout, in the loops of background tasks.

``asyncio.wait_for(event.wait(), timeout)`` before Python 3.12 swallows a
cancellation that arrives while the event is being set: it returns as if woken,
and a ``while True`` loop around it never ends. asyncio.run() and LNbits' shutdown
cancel a task once and then wait for it, so one such wake-up at shutdown hangs the
whole process. ``asyncio.wait`` has no such race.
"""

from __future__ import annotations

import asyncio


async def wait_until_set(event: asyncio.Event, timeout: float) -> bool:
    """Waits until ``event`` is set or ``timeout`` seconds pass; True if it was set.
    A cancellation of the caller always propagates."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()
