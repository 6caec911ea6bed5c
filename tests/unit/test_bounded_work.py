"""The payout worker's bounded concurrency: a fixed number of tasks, every item
worked on, a failure raised only once the others are done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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


class Ledger:
    """Settlements due by paying wallet, as the database has them: one whose
    payment ended is no longer due. ``hold`` keeps a settlement's payment going
    until it is released."""

    def __init__(self, due: dict[str, str]) -> None:
        self.due = dict(due)
        self.events: list[tuple[str, str]] = []
        self.hold: dict[str, asyncio.Event] = {}

    async def settlements_to_process(self, **_: object) -> dict[str, str]:
        return dict(self.due)

    async def process_settlement(self, settlement_id: str) -> str:
        self.events.append(("start", settlement_id))
        await asyncio.sleep(0)
        if settlement_id in self.hold:
            await self.hold[settlement_id].wait()
        await asyncio.sleep(0)
        self.due.pop(settlement_id, None)
        self.events.append(("end", settlement_id))
        return "settled"

    async def started(self, settlement_id: str) -> None:
        while ("start", settlement_id) not in self.events:
            await asyncio.sleep(0.001)


@pytest.fixture
def ledger(monkeypatch) -> Ledger:
    from satmachineadmin import crud
    from satmachineadmin.services import payouts

    book = Ledger({"a1": "wallet-a", "b1": "wallet-b", "a2": "wallet-a", "c1": ""})
    monkeypatch.setattr(crud, "settlements_to_process", book.settlements_to_process)
    monkeypatch.setattr(payouts, "process_settlement", book.process_settlement)
    return book


@contextlib.asynccontextmanager
async def payout_worker() -> AsyncIterator[None]:
    """The app's payout worker, running for the block, with nothing to do but
    the settlements (``ledger``)."""
    from satmachineadmin.services import forwarding, lp_payouts, payouts

    async def nothing() -> None:
        return None

    with pytest.MonkeyPatch.context() as patch:
        for module, name in (
            (payouts, "abandon_overdue"),
            (forwarding, "send_due"),
            (lp_payouts, "pay_due"),
        ):
            patch.setattr(module, name, nothing)
        worker = asyncio.create_task(payouts.run_worker())
        try:
            yield
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker


async def test_one_wallets_settlements_in_turn_other_wallets_side_by_side(ledger):
    from satmachineadmin.services import payouts

    assert await payouts.process_due() == 4
    events = ledger.events
    # wallet-a's second settlement starts only after its first ended ...
    assert events.index(("end", "a1")) < events.index(("start", "a2"))
    # ... while wallet-b's ran meanwhile.
    assert events.index(("start", "b1")) < events.index(("end", "a1"))
    assert ledger.due == {}


async def test_the_worker_pays_a_new_settlement_without_waiting_for_the_others(
    ledger,
):
    """A sale of another machine while a settlement is being paid: its wallet's
    settlement starts at once, not once the settlements found before it are
    paid (and a settlement found meanwhile for a wallet being paid follows the
    ones before it)."""
    from satmachineadmin.services import payouts

    ledger.due = {"a1": "wallet-a"}
    ledger.hold["a1"] = asyncio.Event()
    async with payout_worker():
        await asyncio.wait_for(ledger.started("a1"), 5)
        ledger.due.update({"b1": "wallet-b", "a2": "wallet-a"})
        payouts.wake()  # as a landed sale does
        await asyncio.wait_for(ledger.started("b1"), 5)
        assert ("start", "a2") not in ledger.events
        ledger.hold["a1"].set()
        await asyncio.wait_for(ledger.started("a2"), 5)
    assert ledger.events.index(("end", "a1")) < ledger.events.index(("start", "a2"))


async def test_lanes_stopped_before_they_ran_end(ledger):
    """A stop right after a start (the extension stopped as it was woken): the
    lanes that never ran are gone, and nothing was paid."""
    from satmachineadmin.services import payouts

    lanes = payouts.WalletLanes()
    assert await lanes.start_due() == 4
    # Stopped in this task, so the lanes do not run first; a stop that hangs
    # is cut short.
    this = asyncio.current_task()
    assert this is not None
    watchdog = asyncio.get_running_loop().call_later(5, this.cancel)
    try:
        await lanes.stop()
    finally:
        watchdog.cancel()
    assert ledger.events == []
    assert await lanes.start_due() == 4  # and the wallets can have lanes again
    await asyncio.wait_for(lanes.idle(), 5)
    assert ledger.due == {}


async def test_a_pass_over_more_wallets_than_lanes_pays_them_all(ledger):
    from satmachineadmin.services import payouts

    ledger.due = {f"s{n}": f"wallet-{n}" for n in range(payouts.CONCURRENT_WALLETS + 3)}
    assert await payouts.process_due() == payouts.CONCURRENT_WALLETS + 3
    assert ledger.due == {}


async def test_a_busy_wallet_leaves_its_lane_to_a_waiting_one(ledger, monkeypatch):
    """One lane, two wallets: a wallet whose machine keeps selling does not keep
    the lane while the other's sale waits."""
    from satmachineadmin.services import payouts

    monkeypatch.setattr(payouts, "CONCURRENT_WALLETS", 1)
    ledger.due = {"a1": "wallet-a", "b1": "wallet-b"}
    ledger.hold["a1"] = asyncio.Event()
    async with payout_worker():
        await asyncio.wait_for(ledger.started("a1"), 5)
        ledger.due["a2"] = "wallet-a"  # its machine sold again meanwhile
        ledger.hold["a1"].set()
        await asyncio.wait_for(ledger.started("a2"), 5)
    assert ledger.events.index(("start", "b1")) < ledger.events.index(("start", "a2"))
