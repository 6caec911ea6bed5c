"""Background loops stop when cancelled, even when woken at that very moment.

Before Python 3.12, ``asyncio.wait_for(event.wait(), timeout)`` returns as if woken
when the cancellation arrives while the event is being set; the payout worker then
looped on, and asyncio.run() (LNbits' shutdown, the test session's teardown) waited
for it forever.
"""

from __future__ import annotations

import asyncio

import pytest

from satmachineadmin.services import forwarding, payouts
from satmachineadmin.waiting import wait_until_set


async def _stops_when_cancelled_as_woken(task: asyncio.Task, wake) -> None:
    await asyncio.sleep(0.05)  # the loop is waiting now
    wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if not done:
        task.cancel()  # let the next test run; the assertion says what went wrong
    assert done, "the loop went on after it was cancelled"
    assert task.cancelled()


async def test_a_loop_on_wait_until_set_stops_when_cancelled_as_it_is_woken():
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            event.clear()
            await wait_until_set(event, 5)

    await _stops_when_cancelled_as_woken(asyncio.create_task(loop()), event.set)


async def test_wait_until_set_says_whether_it_was_woken():
    event = asyncio.Event()
    assert await wait_until_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_until_set(event, 5) is True


async def test_the_payout_worker_stops_when_cancelled_as_it_is_woken(monkeypatch):
    async def nothing(*args, **kwargs) -> int:
        return 0

    monkeypatch.setattr(payouts, "abandon_overdue", nothing)
    monkeypatch.setattr(payouts, "start_lanes", nothing)
    monkeypatch.setattr(forwarding, "send_due", nothing)
    worker = asyncio.create_task(payouts.run_worker())
    await _stops_when_cancelled_as_woken(worker, payouts.wake)


@pytest.mark.parametrize("tick", [0.0, 0.001])
async def test_a_cancelled_wait_leaves_no_waiter_behind(tick):
    event = asyncio.Event()
    task = asyncio.create_task(wait_until_set(event, 5))
    await asyncio.sleep(tick)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert _waiting_on(event) == []


def _waiting_on(event: asyncio.Event) -> list[asyncio.Task]:
    """The tasks still inside ``event.wait()``: only this test's own, since the loop
    also runs tasks of other tests and of LNbits that come and go."""
    frames = (
        (task, getattr(task.get_coro(), "cr_frame", None))
        for task in asyncio.all_tasks()
    )
    return [
        task
        for task, frame in frames
        if frame is not None and frame.f_locals.get("self") is event
    ]
