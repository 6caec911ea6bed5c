"""The payout worker's bounded concurrency: a fixed number of tasks, every item
worked on, a failure raised only once the others are done."""

from __future__ import annotations

import asyncio

import pytest

from satmachineadmin.services.payouts import each_bounded


async def test_at_most_the_limit_run_at_once_and_every_item_is_done():
    running = 0
    most = 0
    done: list[int] = []

    async def work(item: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        done.append(item)

    await each_bounded(range(10), 3, work)
    assert most == 3
    assert sorted(done) == list(range(10))


async def test_items_are_taken_in_order():
    started: list[int] = []

    async def work(item: int) -> None:
        started.append(item)
        await asyncio.sleep(0)

    await each_bounded(range(7), 2, work)
    assert started == list(range(7))


async def test_a_failure_is_raised_after_every_other_item_is_done():
    done: list[int] = []

    async def work(item: int) -> None:
        await asyncio.sleep(0)
        if item == 1:
            raise RuntimeError("leg 1")
        done.append(item)

    with pytest.raises(RuntimeError, match="leg 1"):
        await each_bounded(range(6), 2, work)
    assert sorted(done) == [0, 2, 3, 4, 5]


async def test_no_items_and_a_limit_below_one():
    calls: list[int] = []

    async def work(item: int) -> None:
        calls.append(item)

    await each_bounded([], 4, work)
    await each_bounded([5], 0, work)
    assert calls == [5]


async def test_one_wallets_settlements_in_turn_other_wallets_side_by_side(
    monkeypatch,
):
    from satmachineadmin import crud
    from satmachineadmin.services import payouts

    async def due(**_: object) -> dict[str, str]:
        return {"a1": "wallet-a", "b1": "wallet-b", "a2": "wallet-a", "c1": ""}

    events: list[tuple[str, str]] = []

    async def settle(settlement_id: str) -> str:
        events.append(("start", settlement_id))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        events.append(("end", settlement_id))
        return "settled"

    monkeypatch.setattr(crud, "settlements_to_process", due)
    monkeypatch.setattr(payouts, "process_settlement", settle)
    assert await payouts.process_due() == 4
    # wallet-a's second settlement starts only after its first ended ...
    assert events.index(("end", "a1")) < events.index(("start", "a2"))
    # ... while wallet-b's ran meanwhile.
    assert events.index(("start", "b1")) < events.index(("end", "a1"))
