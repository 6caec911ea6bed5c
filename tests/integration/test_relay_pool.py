"""The relay pool against real relay processes (both implementations) and, where a
relay has to misbehave on purpose, against a scripted in-process relay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypedDict

import pytest
from relays import (
    NOT_INSTALLED,
    RELAY_KINDS,
    RelayProcess,
    free_port,
    make_relay,
    nostr_relay_binary,
)
from websockets.asyncio.server import ServerConnection, serve

from helpers import wait_until as poll_until
from satmachineadmin.nostr.events import Event, sign_event
from satmachineadmin.nostr.keys import generate_private_key, public_key_hex
from satmachineadmin.nostr.relay import MAX_MESSAGE_SIZE, _too_long
from satmachineadmin.nostr.relay_pool import RelayPool, RelayStatus, _backoff

pytestmark = pytest.mark.slow  # relay processes and in-process relay servers


class Backoff(TypedDict):
    backoff_initial: float
    backoff_max: float


# Typed, so that **FAST is checked against RelayPool's keyword arguments.
FAST: Backoff = {"backoff_initial": 0.05, "backoff_max": 0.3}


# The pool reconnects within FAST's 50 ms: look every 10 ms, so that a state that
# short is seen. The limit is generous because a relay process on a loaded machine
# (the whole suite in parallel) can take seconds to store and forward an event;
# only a failing test waits that long.
wait_until = partial(poll_until, timeout=20.0, every=0.01)


class Inbox:
    """An ``on_event`` that records what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[Event, str]] = []

    async def __call__(self, event: Event, url: str) -> None:
        self.events.append((event, url))

    def ids(self) -> list[str]:
        return [event.id for event, _ in self.events]

    async def wait_for(self, event_id: str, timeout: float = 20.0) -> None:
        await wait_until(
            lambda: event_id in self.ids(), timeout=timeout, what=f"event {event_id}"
        )


class Author:
    """A fresh key; its events match only the filters of the test that made it."""

    def __init__(self) -> None:
        self.secret = generate_private_key()
        self.pubkey = public_key_hex(self.secret)

    def event(self, kind: int = 21000, content: str = "hi", **kw: Any) -> Event:
        return sign_event(private_key_hex=self.secret, kind=kind, content=content, **kw)

    def filters(self) -> list[dict]:
        return [{"authors": [self.pubkey]}]


def by_url(pool: RelayPool) -> dict[str, RelayStatus]:
    return {s.url: s for s in pool.status()}


def all_connected(pool: RelayPool, count: int | None = None) -> Callable[[], bool]:
    def check() -> bool:
        statuses = pool.status()
        if count is not None and len(statuses) != count:
            return False
        return bool(statuses) and all(s.connected for s in statuses)

    return check


async def live(publisher: RelayPool, inbox: Inbox, author: Author) -> None:
    """Wait until ``inbox``'s subscription is active on the relays ``publisher`` uses.

    A stored (kind 1) event from ``author`` reaches the subscriber either live or as
    history of its REQ; after it arrived, ephemeral events are forwarded live.
    """
    await wait_until(all_connected(publisher), what="publisher connected")
    probe = author.event(kind=1, content=f"probe {time.monotonic()}")
    assert await publisher.publish(probe) >= 1
    await inbox.wait_for(probe.id)


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., RelayPool]]:
    """Makes pools and stops all of them at the end of the test."""
    made: list[RelayPool] = []

    def make(on_event: Callable[..., Any] | None = None, **kw: Any) -> RelayPool:
        pool = RelayPool(on_event=on_event or Inbox(), **{**FAST, **kw})
        made.append(pool)
        return pool

    yield make
    for pool in made:
        await pool.stop()


@pytest.fixture(scope="module", params=RELAY_KINDS)
async def relay_pair(request) -> AsyncIterator[tuple[RelayProcess, RelayProcess]]:
    """Two relays of one kind, shared by the tests of this module that don't kill
    them; every test uses fresh keys, so their events don't mix."""
    first, second = make_relay(request.param), make_relay(request.param)
    async with first, second:
        yield first, second


@pytest.fixture(params=RELAY_KINDS)
def relay_kind(request) -> str:
    if request.param == "nostr-relay" and nostr_relay_binary() is None:
        pytest.skip(NOT_INSTALLED)
    return request.param


class ScriptedRelay:
    """A relay that records what it is sent and answers as a test tells it to."""

    def __init__(self) -> None:
        self.received: list[list[Any]] = []
        self.connections: set[ServerConnection] = set()
        self.connects = 0
        self.on_req: Callable[[list[Any]], list[list[Any]]] = lambda req: [
            ["EOSE", req[1]]
        ]
        self.url = ""

    async def __aenter__(self) -> ScriptedRelay:
        self._server = await serve(self._serve, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        self.connects += 1
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.received.append(message)
                if message[0] == "REQ":
                    for answer in self.on_req(message):
                        await ws.send(json.dumps(answer))
        except Exception:  # noqa: S110 - the client went away
            pass
        finally:
            self.connections.discard(ws)

    async def broadcast(self, message: list[Any]) -> None:
        for ws in list(self.connections):
            await ws.send(json.dumps(message))

    async def drop_connections(self) -> None:
        for ws in list(self.connections):
            await ws.close()

    def commands(self, command: str) -> list[list[Any]]:
        return [m for m in self.received if m[0] == command]


# -- against real relays --


async def test_publish_in_one_pool_and_receive_in_another(relay_pair, pools):
    relay = relay_pair[0]
    author, inbox = Author(), Inbox()
    subscriber, publisher = pools(inbox), pools()
    await subscriber.set_subscriptions({"s": author.filters()})
    await subscriber.start([relay.url])
    await publisher.start([relay.url])
    await live(publisher, inbox, author)

    event = author.event(kind=21000, content="ephemeral", tags=[["p", "ab" * 32]])
    assert await publisher.publish(event) == 1
    await inbox.wait_for(event.id)
    received, url = inbox.events[-1]
    assert received == event
    assert url == relay.url
    assert by_url(publisher)[relay.url].events_out == 2  # the probe and the event


async def test_an_event_on_two_relays_is_handled_once(relay_pair, pools):
    urls = [relay.url for relay in relay_pair]
    author, inbox = Author(), Inbox()
    subscriber, publisher = pools(inbox), pools()
    await subscriber.set_subscriptions({"s": author.filters()})
    await subscriber.start(urls)
    await publisher.start(urls)
    await wait_until(all_connected(publisher, 2))
    await wait_until(all_connected(subscriber, 2))
    probe = author.event(kind=1)
    assert await publisher.publish(probe) == 2
    await wait_until(lambda: sum(s.events_in for s in subscriber.status()) == 2)

    event = author.event(kind=21000)
    assert await publisher.publish(event) == 2
    await wait_until(lambda: sum(s.events_in for s in subscriber.status()) == 4)
    # Both copies were counted, and the duplicate dropped, before the handler of
    # the first one runs (it runs as a task of its own): wait for it.
    await inbox.wait_for(event.id)
    assert inbox.ids() == [probe.id, event.id]
    statuses = subscriber.status()
    assert sum(s.duplicates for s in statuses) == 2
    assert sum(s.invalid_events for s in statuses) == 0
    assert all(s.last_event_at is not None for s in statuses)
    assert [s.events_out for s in publisher.status()] == [2, 2]


async def test_subscriptions_come_back_after_the_relay_is_killed(relay_kind, pools):
    author, inbox = Author(), Inbox()
    subscriber, publisher = pools(inbox), pools()
    async with make_relay(relay_kind) as relay:
        await subscriber.set_subscriptions({"s": author.filters()})
        await subscriber.start([relay.url])
        await publisher.start([relay.url])
        await live(publisher, inbox, author)

        await relay.kill()
        await wait_until(lambda: not subscriber.status()[0].connected)
        assert subscriber.status()[0].last_error
        assert await publisher.publish(author.event()) == 0

        await relay.restart()
        await wait_until(all_connected(subscriber), what="subscriber reconnected")
        await live(publisher, inbox, author)
        event = author.event(kind=21000, content="after restart")
        assert await publisher.publish(event) == 1
        await inbox.wait_for(event.id)

        status = subscriber.status()[0]
        assert status.connected
        assert status.reconnects >= 1
        assert status.connected_since is not None
        assert publisher.status()[0].reconnects >= 1


async def test_set_subscriptions_changes_what_arrives(relay_pair, pools):
    relay = relay_pair[0]
    alice, bob, inbox = Author(), Author(), Inbox()
    subscriber, publisher = pools(inbox), pools()
    await subscriber.set_subscriptions({"s": alice.filters()})
    await subscriber.start([relay.url])
    await publisher.start([relay.url])
    await live(publisher, inbox, alice)

    await subscriber.set_subscriptions({"t": bob.filters()})
    await live(publisher, inbox, bob)
    from_alice, from_bob = alice.event(), bob.event()
    await publisher.publish(from_alice)
    await publisher.publish(from_bob)
    await inbox.wait_for(from_bob.id)
    await asyncio.sleep(0.2)
    assert from_alice.id not in inbox.ids()


async def test_a_failing_handler_does_not_stop_the_pool(relay_pair, pools):
    relay = relay_pair[0]
    author, inbox = Author(), Inbox()
    calls = 0

    async def explode_once(event: Event, url: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler bug")
        await inbox(event, url)

    subscriber, publisher = pools(explode_once), pools()
    await subscriber.set_subscriptions({"s": [{"authors": [author.pubkey]}]})
    await subscriber.start([relay.url])
    await publisher.start([relay.url])
    await wait_until(all_connected(publisher))
    await wait_until(all_connected(subscriber))
    first = author.event(kind=1)
    await publisher.publish(first)
    await wait_until(lambda: calls == 1)
    second = author.event(kind=1, content="second")
    await publisher.publish(second)
    await inbox.wait_for(second.id)
    assert subscriber.status()[0].connected


async def test_a_relay_down_at_start_is_used_once_it_is_up(relay_kind, pools):
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    author, inbox = Author(), Inbox()
    subscriber, publisher = pools(inbox), pools()
    await subscriber.set_subscriptions({"s": author.filters()})
    await subscriber.start([url])
    await publisher.start([url])
    await wait_until(lambda: subscriber.status()[0].last_error is not None)
    assert not subscriber.status()[0].connected
    async with make_relay(relay_kind, port=port):
        await wait_until(all_connected(subscriber), what="connected once up")
        await live(publisher, inbox, author)
        status = subscriber.status()[0]
        assert status.reconnects == 0  # its first connection
        assert status.last_error is None


async def test_stop_is_idempotent_and_leaves_no_tasks(relay_pair, pools):
    before = asyncio.all_tasks()
    author, inbox = Author(), Inbox()
    pool = RelayPool(on_event=inbox, **FAST)
    await pool.set_subscriptions({"s": author.filters()})
    await pool.start([relay_pair[0].url, relay_pair[1].url, "ws://127.0.0.1:9"])
    await wait_until(lambda: sum(s.connected for s in pool.status()) == 2)

    # Only the pool's own tasks count: LNbits (when a test before this one started
    # it) runs tasks of its own in the same loop.
    def pool_tasks() -> set[asyncio.Task]:
        return {
            t
            for t in asyncio.all_tasks() - before
            if not t.done()
            and "RelayPool." in getattr(t.get_coro(), "__qualname__", "")
        }

    assert len(pool_tasks()) >= 3
    await pool.stop()
    await pool.stop()
    assert pool.status() == []
    leftover = pool_tasks()
    assert leftover == set()
    assert await pool.publish(author.event()) == 0


# -- against a scripted relay (misbehaviour on purpose) --


async def test_forged_copies_are_dropped_and_do_not_shadow_the_genuine_event(
    relay_pair, pools
):
    relay = relay_pair[0]
    author, inbox = Author(), Inbox()
    genuine = author.event(kind=21000, content="genuine")
    other = author.event(kind=21000, content="other")
    forged = {**genuine.to_dict(), "sig": other.sig}  # right shape, wrong signature
    tampered = {**genuine.to_dict(), "content": "tampered"}  # id no longer matches

    async with ScriptedRelay() as evil:
        evil.on_req = lambda req: [
            ["EVENT", req[1], forged],
            ["EVENT", req[1], tampered],
            ["EVENT", req[1], {"id": "not an event"}],
            ["EVENT", req[1], "garbage"],
            ["EOSE", req[1]],
        ]
        subscriber, publisher = pools(inbox), pools()
        await subscriber.set_subscriptions({"s": author.filters()})
        await subscriber.start([evil.url, relay.url])
        await publisher.start([relay.url])
        await wait_until(lambda: by_url(subscriber)[evil.url].invalid_events == 4)
        await live(publisher, inbox, author)

        assert await publisher.publish(genuine) == 1
        await inbox.wait_for(genuine.id)
        # The evil relay now sends the genuine event too: a duplicate.
        await evil.broadcast(["EVENT", "s", genuine.to_dict()])
        await wait_until(lambda: by_url(subscriber)[evil.url].duplicates == 1)

    assert inbox.ids().count(genuine.id) == 1
    statuses = by_url(subscriber)
    assert statuses[evil.url].events_in == 5
    assert statuses[relay.url].invalid_events == 0
    # The probe and the genuine event. The probe is stored: a relay whose REQ
    # crosses its publication may send it twice, live and as history.
    real = statuses[relay.url]
    assert real.events_in - real.duplicates == 2


async def test_subscription_messages_on_the_wire(pools):
    async with ScriptedRelay() as relay:
        pool = pools()
        await pool.set_subscriptions({"a": [{"kinds": [1]}], "b": [{"kinds": [2]}]})
        await pool.start([relay.url])
        await wait_until(lambda: len(relay.commands("REQ")) == 2)
        assert sorted(m[1:] for m in relay.commands("REQ")) == [
            ["a", {"kinds": [1]}],
            ["b", {"kinds": [2]}],
        ]

        # Identical subscriptions send nothing.
        await pool.set_subscriptions({"b": [{"kinds": [2]}], "a": [{"kinds": [1]}]})
        await asyncio.sleep(0.1)
        assert len(relay.received) == 2

        # A changed id is sent again, a removed one is closed, a new one is sent.
        relay.received.clear()
        await pool.set_subscriptions(
            {"a": [{"kinds": [1, 3]}, {"#p": ["ab" * 32]}], "c": [{"kinds": [4]}]}
        )
        await wait_until(lambda: len(relay.received) == 3)
        assert sorted(relay.received) == [
            ["CLOSE", "b"],
            ["REQ", "a", {"kinds": [1, 3]}, {"#p": ["ab" * 32]}],
            ["REQ", "c", {"kinds": [4]}],
        ]

        # Everything is sent again after a reconnection.
        relay.received.clear()
        await relay.drop_connections()
        await wait_until(lambda: len(relay.commands("REQ")) == 2)
        assert relay.connects == 2
        assert pool.status()[0].reconnects == 1
        assert {m[1] for m in relay.commands("REQ")} == {"a", "c"}
        assert relay.commands("CLOSE") == []

        # An event for a subscription we no longer have is ignored.
        await relay.broadcast(["EVENT", "b", Author().event().to_dict()])
        await relay.broadcast(["NOTICE", "hello"])
        await asyncio.sleep(0.1)
        assert pool.status()[0].events_in == 0


async def test_a_subscription_closed_by_the_relay_is_requested_again(pools):
    async with ScriptedRelay() as relay:
        refusals = 2
        author, inbox = Author(), Inbox()
        event = author.event()

        def answer(req: list[Any]) -> list[list[Any]]:
            nonlocal refusals
            if refusals:
                refusals -= 1
                return [["CLOSED", req[1], "error: try again"]]
            return [["EVENT", req[1], event.to_dict()], ["EOSE", req[1]]]

        relay.on_req = answer
        pool = pools(inbox)
        await pool.set_subscriptions({"s": author.filters()})
        await pool.start([relay.url])
        await inbox.wait_for(event.id)
        assert len(relay.commands("REQ")) == 3
        assert relay.connects == 1


async def test_handlers_run_at_most_max_concurrency_at_once(pools):
    author = Author()
    events = [author.event(content=str(n)) for n in range(6)]
    release = asyncio.Event()
    running = peak = done = 0

    async def slow(event: Event, url: str) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        done += 1

    async with ScriptedRelay() as relay:
        relay.on_req = lambda req: [["EVENT", req[1], e.to_dict()] for e in events]
        pool = pools(slow, max_concurrency=2)
        await pool.set_subscriptions({"s": author.filters()})
        await pool.start([relay.url])
        await wait_until(lambda: running == 2)
        await asyncio.sleep(0.1)
        assert peak == 2
        release.set()
        await wait_until(lambda: done == 6)
        assert peak == 2


async def test_the_dedupe_set_is_a_bounded_lru(pools):
    author, inbox = Author(), Inbox()
    a, b, c = (author.event(content=n) for n in "abc")
    async with ScriptedRelay() as relay:
        pool = pools(inbox, dedupe_size=2)
        await pool.set_subscriptions({"s": author.filters()})
        await pool.start([relay.url])
        await wait_until(lambda: relay.commands("REQ") != [])
        for event in (a, b, a, c, b):  # a is refreshed by its duplicate, b evicted
            await relay.broadcast(["EVENT", "s", event.to_dict()])
        await wait_until(lambda: pool.status()[0].events_in == 5)
        await wait_until(lambda: len(inbox.events) == 4)
        assert inbox.ids() == [a.id, b.id, c.id, b.id]
        assert pool.status()[0].duplicates == 1


async def test_removing_a_relay_closes_its_connection(relay_pair, pools):
    async with ScriptedRelay() as scripted:
        pool = pools()
        await pool.start([scripted.url, relay_pair[0].url])
        await wait_until(all_connected(pool, 2))
        assert len(scripted.connections) == 1
        await pool.set_relays([relay_pair[0].url])
        assert [s.url for s in pool.status()] == [relay_pair[0].url]
        await wait_until(lambda: not scripted.connections, what="connection closed")
        assert await pool.publish(Author().event()) == 1
        await asyncio.sleep(0.2)
        assert scripted.connects == 1
        await pool.set_relays([relay_pair[0].url, scripted.url])
        await wait_until(all_connected(pool, 2))
        assert scripted.connects == 2


async def test_publish_counts_and_rejections(pools):
    async with ScriptedRelay() as relay:
        pool = pools()
        await pool.start([relay.url])
        await wait_until(all_connected(pool))
        event = Author().event()
        assert await pool.publish(event) == 1
        assert await pool.publish(event) == 1
        await wait_until(lambda: len(relay.commands("EVENT")) == 2)
        assert relay.commands("EVENT")[0] == ["EVENT", event.to_dict()]
        assert pool.status()[0].events_out == 2
        await relay.broadcast(["OK", event.id, False, "duplicate: have it"])
        await relay.broadcast(["OK", event.id, True, ""])
        await asyncio.sleep(0.05)
        assert pool.status()[0].last_error is None
        await relay.broadcast(["OK", event.id, False, "blocked: no thanks"])
        await wait_until(lambda: pool.status()[0].last_error is not None)
        assert "blocked: no thanks" in (pool.status()[0].last_error or "")
        assert pool.status()[0].connected


# -- no relay needed --


async def test_malformed_urls_are_reported_not_raised(pools):
    pool = pools()
    bad = ["http://example.com", "ws://", "not a url", "ws://host:99999", "wss://a b"]
    await pool.start(bad)
    statuses = pool.status()
    assert [s.url for s in statuses] == bad
    for status in statuses:
        assert not status.connected
        assert status.last_error and "invalid relay URL" in status.last_error


async def test_bad_subscriptions_are_refused(pools):
    pool = pools()
    with pytest.raises(ValueError):
        await pool.set_subscriptions({"": [{"kinds": [1]}]})
    with pytest.raises(ValueError):
        await pool.set_subscriptions({"x" * 65: [{"kinds": [1]}]})
    with pytest.raises(ValueError):
        await pool.set_subscriptions({"s": []})
    with pytest.raises(ValueError):
        await pool.set_subscriptions({"s": ["kinds"]})  # type: ignore[list-item]


def test_backoff_is_full_jitter_capped():
    for attempt in range(80):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [_backoff(attempt, 0.5, 30.0) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
    assert max(_backoff(20, 0.5, 30.0) for _ in range(200)) > 15


async def test_an_oversized_event_is_dropped_and_the_connection_stays(pools):
    """Anyone can publish an event over the protocol's 1 MiB limit p-tagged to the
    server: it is dropped unread, the connection stays up, and the requests sent
    right after it all arrive."""
    server = Author()
    attacker, machine, inbox = Author(), Author(), Inbox()
    async with make_relay("embedded") as relay:
        subscriber, publisher = pools(inbox), pools()
        await subscriber.set_subscriptions(
            {"rpc": [{"kinds": [21000], "#p": [server.pubkey]}], "s": machine.filters()}
        )
        await subscriber.start([relay.url])
        await publisher.start([relay.url])
        await live(publisher, inbox, machine)

        tags = [["p", server.pubkey]]
        huge = attacker.event(content="x" * (1536 * 1024), tags=tags)
        assert await publisher.publish(huge) == 1
        requests = [machine.event(content=f"request {n}", tags=tags) for n in range(10)]
        for request in requests:
            assert await publisher.publish(request) == 1
        for request in requests:
            await inbox.wait_for(request.id)

        status = by_url(subscriber)[relay.url]
        assert status.oversized == 1
        assert status.connected and status.reconnects == 0
        assert huge.id not in inbox.ids()


def test_the_size_limit_counts_utf8_bytes():
    assert not _too_long("x" * MAX_MESSAGE_SIZE)
    assert _too_long("x" * (MAX_MESSAGE_SIZE + 1))
    assert not _too_long("é" * (MAX_MESSAGE_SIZE // 2))  # two bytes each
    assert _too_long("é" * (MAX_MESSAGE_SIZE // 2 + 1))
