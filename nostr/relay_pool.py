"""A NIP-01 relay pool: one supervised websocket per relay, shared subscriptions.

The pool runs inside LNbits' event loop, so nothing here blocks it: all I/O is
asyncio, every network wait has a timeout, and incoming events are handed on
through a fixed number of handler slots. When every slot is busy the reader waits
(with a warning every few seconds) instead of queueing without bound; websockets
then stops reading the socket, and if that lasts past the keepalive timeout the
connection is dropped and made again (the dedupe set absorbs the replay).

Each relay's connection (subscribing on it, reading it, the message size limit) is
a :class:`~.relay.Relay`. The pool owns what all relays share: the subscriptions,
the dedupe set, the handler slots, and every task it starts: one per relay, which
connects and reconnects forever with exponential backoff and full jitter until the
relay is removed or the pool stops, and the timers that request a subscription a
relay CLOSED again. Each connection subscribes to every subscription, again after
each reconnection.

Incoming events, in this order:

1. parsed with :meth:`Event.from_dict`; garbage is counted as ``invalid_events``;
2. dropped as a duplicate when its id was already seen on any relay (a bounded LRU);
3. dropped and counted as invalid when its id or signature does not verify; only a
   verified event marks its id as seen, so a forged copy that arrives first cannot
   shadow the genuine event;
4. handed to ``on_event(event, relay_url)`` in a task of its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from loguru import logger
from websockets.exceptions import InvalidURI

from . import bounded_json
from .events import Event, verify_event
from .relay import Relay, RelayStatus

__all__ = ["RelayPool", "RelayStatus"]

OnEvent = Callable[[Event, str], Awaitable[None]]

STABLE_AFTER = 10.0  # a connection up this long resets the backoff
SLOT_WARN_AFTER = 10.0  # warn when every handler slot stays busy this long
STOP_GRACE = 5.0  # seconds stop() lets running handlers finish before cancelling
# Lists and objects in one relay message: an event's tags are lists, so far more
# than a request may hold, but still a bound on the parser's work.
MAX_MESSAGE_CONTAINERS = 8192
MAX_SUBSCRIPTION_ID = 64  # NIP-01


def _backoff(attempt: int, initial: float, maximum: float) -> float:
    """Full jitter: uniform(0, min(maximum, initial * 2**attempt))."""
    ceiling = min(maximum, initial * 2 ** min(attempt, 62))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


class _SeenIds:
    """A bounded LRU set of event ids."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


def _serialized_subscriptions(
    subscriptions: Mapping[str, list[dict]],
) -> dict[str, str]:
    """Sub id -> its filters as compact JSON; ``ValueError`` for a bad id or list."""
    wanted: dict[str, str] = {}
    for sub_id, filters in subscriptions.items():
        if not isinstance(sub_id, str) or not 0 < len(sub_id) <= MAX_SUBSCRIPTION_ID:
            raise ValueError(
                f"subscription id must be 1..{MAX_SUBSCRIPTION_ID} characters"
            )
        if (
            not isinstance(filters, list | tuple)
            or not filters
            or not all(isinstance(f, Mapping) for f in filters)
        ):
            raise ValueError(f"subscription {sub_id!r} needs a list of filters")
        wanted[sub_id] = json.dumps(
            [dict(f) for f in filters], separators=(",", ":"), sort_keys=True
        )
    return wanted


class RelayPool:
    """Connections to a set of relays, with shared subscriptions and publishing."""

    def __init__(
        self,
        *,
        on_event: OnEvent,
        on_status: Callable[[], None] | None = None,
        dedupe_size: int = 50_000,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_concurrency: int = 32,
    ) -> None:
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._on_event = on_event
        # Told when a relay connects or disconnects (not on every failed retry).
        self._on_status = on_status or (lambda: None)
        self._seen = _SeenIds(dedupe_size)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._slots = asyncio.Semaphore(max_concurrency)
        self._relays: dict[str, Relay] = {}
        # Subscription id -> serialized filters (compact JSON), the source of truth.
        self._subscriptions: dict[str, str] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._running = False

    # -- public API ----------------------------------------------------------------

    async def start(self, relays: Sequence[str]) -> None:
        """Start connecting to ``relays``; returns at once."""
        self._running = True
        await self.set_relays(relays)

    async def set_relays(self, relays: Sequence[str]) -> None:
        """Connect to relays not yet in the pool and close the ones left out."""
        if isinstance(relays, str):
            raise TypeError("relays must be a sequence of URLs, not one string")
        wanted = list(dict.fromkeys(url.strip() for url in relays if url.strip()))
        removed = [r for url, r in self._relays.items() if url not in wanted]
        for relay in removed:
            del self._relays[relay.url]
        for url in wanted:
            if url not in self._relays:
                self._relays[url] = self._new_relay(url)
        if self._running:
            # Relays added before start() get their task now.
            for relay in self._relays.values():
                if relay.task is None and relay.bad_url is None:
                    self._spawn(relay)
        await asyncio.gather(*(relay.close() for relay in removed))

    async def set_subscriptions(self, subscriptions: Mapping[str, list[dict]]) -> None:
        """Replace the subscriptions (sub id -> NIP-01 filters) on every relay.

        New or changed ids are sent as REQ and removed ids as CLOSE to every connected
        relay; all of them are sent again after each reconnection. Unchanged ids send
        nothing. ``ValueError`` for a bad id or filter list.
        """
        wanted = _serialized_subscriptions(subscriptions)
        if wanted == self._subscriptions:
            return
        self._subscriptions = wanted
        await asyncio.gather(
            *(r.sync_subscriptions() for r in self._relays.values() if r.ws)
        )

    async def publish(self, event: Event) -> int:
        """Send ``event`` to every connected relay; how many it was sent to.

        Does not wait for the relays' OK; a rejection shows up in ``last_error``.
        """
        message = json.dumps(
            ["EVENT", event.to_dict()], ensure_ascii=False, separators=(",", ":")
        )
        relays = [r for r in self._relays.values() if r.ws is not None]
        results = await asyncio.gather(*(r.send(message) for r in relays))
        for relay, sent in zip(relays, results, strict=True):
            if sent:
                relay.status.events_out += 1
        return sum(results)

    def status(self) -> list[RelayStatus]:
        return [replace(r.status) for r in self._relays.values()]

    async def stop(self) -> None:
        """Close every connection and cancel every task; safe to call again."""
        self._running = False
        relays = list(self._relays.values())
        self._relays.clear()
        await asyncio.gather(*(relay.close() for relay in relays))
        handlers = list(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(f"nostr pool: cancelled {len(pending)} event handlers")
                await asyncio.wait(pending, timeout=STOP_GRACE)

    def _new_relay(self, url: str) -> Relay:
        return Relay(
            url,
            subscriptions=lambda: self._subscriptions,
            on_message=self._handle_message,
        )

    # -- connection supervision ----------------------------------------------------

    def _spawn(self, relay: Relay) -> None:
        relay.task = asyncio.create_task(
            self._supervise(relay), name=f"nostr-relay {relay.url}"
        )

    async def _supervise(self, relay: Relay) -> None:
        attempt = 0
        ever_connected = False
        while not relay.removed:
            up_since: float | None = None
            try:
                ws = await relay.connect()
            except asyncio.CancelledError:
                raise
            except InvalidURI as exc:
                relay.status.last_error = f"invalid relay URL: {exc}"
                logger.warning(f"nostr relay {relay.url}: {exc}")
                return
            except Exception as exc:  # nothing may end the supervisor
                relay.connect_failed(exc)
            else:
                up_since = time.monotonic()
                if ever_connected:
                    relay.status.reconnects += 1
                ever_connected = True
                self._on_status()
                await relay.serve(ws)
                self._on_status()
            if relay.removed:
                return
            if up_since is not None and time.monotonic() - up_since > STABLE_AFTER:
                attempt = 0
            delay = _backoff(attempt, self._backoff_initial, self._backoff_max)
            attempt += 1
            logger.debug(f"nostr relay {relay.url}: reconnecting in {delay:.2f} s")
            await asyncio.sleep(delay)

    def _schedule_resubscribe(self, relay: Relay, sub_id: str) -> None:
        """Send the REQ of a subscription the relay CLOSED again, after a backoff."""
        if sub_id in relay.retry_pending:
            return
        sent_at = relay.req_sent_at.get(sub_id, 0.0)
        if time.monotonic() - sent_at > STABLE_AFTER:
            relay.closed_counts.pop(sub_id, None)  # it had been open for a while
        count = relay.closed_counts.get(sub_id, 0)
        relay.closed_counts[sub_id] = count + 1
        delay = _backoff(count, self._backoff_initial, self._backoff_max)
        delay = max(delay, self._backoff_initial / 2)
        relay.retry_pending.add(sub_id)

        async def resubscribe() -> None:
            await asyncio.sleep(delay)
            relay.retry_pending.discard(sub_id)
            if relay.ws is not None and not relay.removed:
                await relay.sync_subscriptions()

        task = asyncio.create_task(resubscribe())
        relay.tasks.add(task)
        task.add_done_callback(relay.tasks.discard)

    # -- messages ----------------------------------------------------------------------

    async def _handle_message(self, relay: Relay, raw: str) -> None:
        try:
            message = bounded_json.loads(raw, max_containers=MAX_MESSAGE_CONTAINERS)
        except ValueError:
            logger.debug(f"nostr relay {relay.url}: ignored non-JSON {raw[:80]!r}")
            return
        if not isinstance(message, list) or not message:
            logger.debug(f"nostr relay {relay.url}: ignored {raw[:80]!r}")
            return
        kind = message[0]
        if kind == "EVENT":
            await self._handle_event(relay, message)
        elif kind == "OK":
            _handle_ok(relay, message)
        elif kind == "EOSE":
            logger.debug(f"nostr relay {relay.url}: EOSE {message[1:2]}")
        elif kind == "CLOSED":
            sub_id = relay.subscription_closed(message)
            if sub_id is not None and sub_id in self._subscriptions:
                self._schedule_resubscribe(relay, sub_id)
        elif kind == "NOTICE":
            logger.info(f"nostr relay {relay.url} notice: {message[1:2]}")
        else:
            logger.debug(f"nostr relay {relay.url}: ignored {raw[:80]!r}")

    async def _handle_event(self, relay: Relay, message: list[Any]) -> None:
        status = relay.status
        if len(message) != 3 or not isinstance(message[1], str):
            status.invalid_events += 1
            return
        if message[1] not in self._subscriptions:
            # A straggler of a subscription we closed.
            logger.debug(f"nostr relay {relay.url}: event for closed sub {message[1]}")
            return
        status.events_in += 1
        try:
            event = Event.from_dict(message[2])
        except Exception:
            status.invalid_events += 1
            return
        if event.id in self._seen:
            status.duplicates += 1
            status.last_event_at = time.time()
            return
        if not verify_event(event):
            status.invalid_events += 1
            logger.debug(f"nostr relay {relay.url}: bad id or signature {event.id}")
            return
        self._seen.add(event.id)
        status.last_event_at = time.time()
        await self._acquire_slot(relay)
        task = asyncio.create_task(self._run_handler(event, relay.url))
        self._handlers.add(task)
        task.add_done_callback(self._handler_done)

    async def _acquire_slot(self, relay: Relay) -> None:
        """Wait for a free handler slot, warning while every slot stays busy."""
        if not self._slots.locked():
            await self._slots.acquire()
            return
        acquire = asyncio.ensure_future(self._slots.acquire())
        try:
            while not (await asyncio.wait({acquire}, timeout=SLOT_WARN_AFTER))[0]:
                logger.warning(
                    f"nostr relay {relay.url}: every event handler has been busy for"
                    f" {SLOT_WARN_AFTER:.0f} s; reading is paused"
                )
        except asyncio.CancelledError:
            if acquire.done() and not acquire.cancelled():
                self._slots.release()
            acquire.cancel()
            raise

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        # A done callback, not a finally: it also runs for a task cancelled before
        # it started, so the slot is never lost.
        self._handlers.discard(task)
        self._slots.release()

    async def _run_handler(self, event: Event, url: str) -> None:
        try:
            await self._on_event(event, url)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(f"nostr event handler failed for {event.id} from {url}")


def _handle_ok(relay: Relay, message: list[Any]) -> None:
    """An OK from the relay: a rejected event of ours shows in ``last_error``."""
    if len(message) < 3:
        return
    event_id, accepted = message[1], message[2]
    reason = message[3] if len(message) > 3 else ""
    if accepted is True or str(reason).startswith("duplicate:"):
        return
    relay.status.last_error = f"event {str(event_id)[:16]} rejected: {reason}"
    logger.warning(f"nostr relay {relay.url}: {relay.status.last_error}")
