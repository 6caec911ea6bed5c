"""A NIP-01 relay pool: one supervised websocket per relay, shared subscriptions.

The pool runs inside LNbits' event loop, so nothing here blocks it: all I/O is
asyncio, every network wait has a timeout, and incoming events are handed on
through a fixed number of handler slots. When every slot is busy the reader waits
(with a warning every few seconds) instead of queueing without bound; websockets
then stops reading the socket, and if that lasts past the keepalive timeout the
connection is dropped and made again (the dedupe set absorbs the replay).

A message longer than ``MAX_MESSAGE_SIZE`` (the protocol's own limit) is dropped
unparsed and counted as ``oversized``. The websocket itself accepts frames up to the
far larger ``TRANSPORT_MAX_SIZE``, so that anyone able to publish a big event to a
relay cannot make the connection close (code 1009) and lose the requests that
arrive while it reconnects.

Incoming events, in this order:

1. parsed with :meth:`Event.from_dict`; garbage is counted as ``invalid_events``;
2. dropped as a duplicate when its id was already seen on any relay (a bounded LRU);
3. dropped and counted as invalid when its id or signature does not verify; only a
   verified event marks its id as seen, so a forged copy that arrives first cannot
   shadow the genuine event;
4. handed to ``on_event(event, relay_url)`` in a task of its own.

Each relay connects, subscribes (every subscription, again after each reconnection)
and reconnects forever with exponential backoff and full jitter until it is removed
or the pool stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

from . import bounded_json
from .events import Event, verify_event

__all__ = ["RelayPool", "RelayStatus"]

OnEvent = Callable[[Event, str], Awaitable[None]]

OPEN_TIMEOUT = 10.0  # seconds for TCP + TLS + websocket handshake
SEND_TIMEOUT = 10.0  # seconds for one message to reach the socket buffer
CLOSE_TIMEOUT = 2.0  # seconds for the closing handshake before the socket is cut
PING_INTERVAL = 20.0  # keepalive: a ping every 20 s ...
PING_TIMEOUT = 20.0  # ... and a connection without pong after 20 s more is dead
STABLE_AFTER = 10.0  # a connection up this long resets the backoff
SLOT_WARN_AFTER = 10.0  # warn when every handler slot stays busy this long
STOP_GRACE = 5.0  # seconds stop() lets running handlers finish before cancelling
MAX_MESSAGE_SIZE = 1 << 20  # bytes; a NIP-44 request is at most ~90 KB
# Frames up to this are read and dropped; relays refuse events far smaller (128 KiB
# to 1 MiB is usual). Only a frame above it still closes the connection (1009).
TRANSPORT_MAX_SIZE = 16 << 20
# Lists and objects in one relay message: an event's tags are lists, so far more
# than a request may hold, but still a bound on the parser's work.
MAX_MESSAGE_CONTAINERS = 8192
MAX_SUBSCRIPTION_ID = 64  # NIP-01


@dataclass
class RelayStatus:
    """What the pool knows about one relay (a snapshot; editing it changes nothing).

    ``events_in`` counts every EVENT message received for one of our subscriptions,
    including those then dropped as ``invalid_events`` or ``duplicates``.
    ``reconnects`` counts connections opened after the first one. ``oversized``
    counts messages dropped unread for being longer than ``MAX_MESSAGE_SIZE``.
    """

    url: str
    connected: bool
    last_error: str | None
    events_in: int
    events_out: int
    invalid_events: int
    duplicates: int
    reconnects: int
    oversized: int
    connected_since: float | None
    last_event_at: float | None


def _check_url(url: str) -> str | None:
    """Why ``url`` cannot be a relay address, or None when it looks usable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"invalid relay URL: {exc}"
    if parts.scheme not in ("ws", "wss"):
        return "invalid relay URL: the scheme must be ws or wss"
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        return "invalid relay URL: no host, or whitespace in the URL"
    if port == 0:
        return "invalid relay URL: port 0"
    return None


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


class _Relay:
    """One relay: its status, supervisor task and current connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status = RelayStatus(
            url=url,
            connected=False,
            last_error=None,
            events_in=0,
            events_out=0,
            invalid_events=0,
            duplicates=0,
            reconnects=0,
            oversized=0,
            connected_since=None,
            last_event_at=None,
        )
        self.task: asyncio.Task[None] | None = None
        self.ws: ClientConnection | None = None
        # Subscription id -> serialized filters as last sent on this connection.
        self.sent: dict[str, str] = {}
        self.sync_lock = asyncio.Lock()
        # Subscription id -> when its REQ was last sent (monotonic clock).
        self.req_sent_at: dict[str, float] = {}
        # Subscriptions the relay CLOSED: how often in a row, and which of them wait
        # for their re-REQ (sent by a task in ``tasks``).
        self.closed_counts: dict[str, int] = {}
        self.retry_pending: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.removed = False
        self.bad_url: str | None = None

    def connection_lost(self) -> None:
        self.ws = None
        self.sent.clear()
        self.req_sent_at.clear()
        self.closed_counts.clear()
        self.retry_pending.clear()
        self.status.connected = False
        self.status.connected_since = None
        for task in self.tasks:
            task.cancel()


class RelayPool:
    """Connections to a set of relays, with shared subscriptions and publishing."""

    def __init__(
        self,
        *,
        on_event: OnEvent,
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
        self._seen = _SeenIds(dedupe_size)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._slots = asyncio.Semaphore(max_concurrency)
        self._relays: dict[str, _Relay] = {}
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
                relay = _Relay(url)
                self._relays[url] = relay
                relay.bad_url = _check_url(url)
                if relay.bad_url:
                    relay.status.last_error = relay.bad_url
                    logger.warning(f"nostr relay {url!r}: {relay.bad_url}")
        if self._running:
            # Relays added before start() get their task now.
            for relay in self._relays.values():
                if relay.task is None and relay.bad_url is None:
                    self._spawn(relay)
        await asyncio.gather(*(self._close_relay(r) for r in removed))

    async def set_subscriptions(self, subscriptions: Mapping[str, list[dict]]) -> None:
        """Replace the subscriptions (sub id -> NIP-01 filters) on every relay.

        New or changed ids are sent as REQ and removed ids as CLOSE to every connected
        relay; all of them are sent again after each reconnection. Unchanged ids send
        nothing. ``ValueError`` for a bad id or filter list.
        """
        wanted: dict[str, str] = {}
        for sub_id, filters in subscriptions.items():
            if (
                not isinstance(sub_id, str)
                or not 0 < len(sub_id) <= MAX_SUBSCRIPTION_ID
            ):
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
        if wanted == self._subscriptions:
            return
        self._subscriptions = wanted
        await asyncio.gather(
            *(self._sync_subscriptions(r) for r in self._relays.values() if r.ws)
        )

    async def publish(self, event: Event) -> int:
        """Send ``event`` to every connected relay; how many it was sent to.

        Does not wait for the relays' OK; a rejection shows up in ``last_error``.
        """
        message = json.dumps(
            ["EVENT", event.to_dict()], ensure_ascii=False, separators=(",", ":")
        )
        relays = [r for r in self._relays.values() if r.ws is not None]
        results = await asyncio.gather(*(self._send(r, message) for r in relays))
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
        await asyncio.gather(*(self._close_relay(r) for r in relays))
        handlers = list(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(f"nostr pool: cancelled {len(pending)} event handlers")
                await asyncio.wait(pending, timeout=STOP_GRACE)

    # -- connection supervision ----------------------------------------------------

    def _spawn(self, relay: _Relay) -> None:
        relay.task = asyncio.create_task(
            self._supervise(relay), name=f"nostr-relay {relay.url}"
        )

    async def _close_relay(self, relay: _Relay) -> None:
        relay.removed = True
        task = relay.task
        if task is not None and not task.done():
            task.cancel()
            # The task closes its websocket on the way out (bounded by CLOSE_TIMEOUT).
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT + 3)
        leftovers = set(relay.tasks)
        relay.connection_lost()  # cancels the re-REQ timers
        if leftovers:
            await asyncio.wait(leftovers, timeout=CLOSE_TIMEOUT)

    async def _supervise(self, relay: _Relay) -> None:
        attempt = 0
        ever_connected = False
        while not relay.removed:
            up_since: float | None = None
            try:
                ws = await connect(
                    relay.url,
                    open_timeout=OPEN_TIMEOUT,
                    ping_interval=PING_INTERVAL,
                    ping_timeout=PING_TIMEOUT,
                    close_timeout=CLOSE_TIMEOUT,
                    max_size=TRANSPORT_MAX_SIZE,
                )
            except asyncio.CancelledError:
                raise
            except InvalidURI as exc:
                relay.status.last_error = f"invalid relay URL: {exc}"
                logger.warning(f"nostr relay {relay.url}: {exc}")
                return
            except Exception as exc:  # nothing may end the supervisor
                error = f"connect failed: {_describe(exc)}"
                # The first failure of a kind is a warning, its repetitions debug.
                level = "DEBUG" if error == relay.status.last_error else "WARNING"
                relay.status.last_error = error
                logger.log(level, f"nostr relay {relay.url}: {error}")
            else:
                up_since = time.monotonic()
                if ever_connected:
                    relay.status.reconnects += 1
                ever_connected = True
                try:
                    await self._serve_connection(relay, ws)
                finally:
                    relay.connection_lost()
                    with contextlib.suppress(Exception):
                        await ws.close()
            if relay.removed:
                return
            if up_since is not None and time.monotonic() - up_since > STABLE_AFTER:
                attempt = 0
            delay = _backoff(attempt, self._backoff_initial, self._backoff_max)
            attempt += 1
            logger.debug(f"nostr relay {relay.url}: reconnecting in {delay:.2f} s")
            await asyncio.sleep(delay)

    async def _serve_connection(self, relay: _Relay, ws: ClientConnection) -> None:
        relay.ws = ws
        relay.status.connected = True
        relay.status.connected_since = time.time()
        relay.status.last_error = None
        logger.info(f"nostr relay {relay.url}: connected")
        try:
            await self._sync_subscriptions(relay)
            async for raw in ws:
                if isinstance(raw, bytes):
                    logger.debug(f"nostr relay {relay.url}: ignored a binary frame")
                    continue
                if _too_long(raw):
                    relay.status.oversized += 1
                    logger.debug(
                        f"nostr relay {relay.url}: dropped a message of"
                        f" {len(raw)} characters"
                    )
                    continue
                await self._handle_message(relay, raw)
            closed = ws.close_code, ws.close_reason
            relay.status.last_error = f"connection closed ({closed[0]} {closed[1]})"
        except ConnectionClosed as exc:
            relay.status.last_error = f"connection lost: {_describe(exc)}"
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            relay.status.last_error = f"connection failed: {_describe(exc)}"
        except Exception as exc:  # a bug here must not end the supervisor
            logger.exception(f"nostr relay {relay.url}: reader failed")
            relay.status.last_error = f"reader failed: {_describe(exc)}"
        logger.info(f"nostr relay {relay.url}: {relay.status.last_error}")

    # -- subscriptions ---------------------------------------------------------------

    async def _sync_subscriptions(self, relay: _Relay) -> None:
        """Send the REQ and CLOSE messages that bring ``relay`` up to date."""
        async with relay.sync_lock:
            wanted = self._subscriptions
            for sub_id in [s for s in relay.sent if s not in wanted]:
                del relay.sent[sub_id]
                relay.closed_counts.pop(sub_id, None)
                await self._send(relay, json.dumps(["CLOSE", sub_id]))
            for sub_id in relay.retry_pending - wanted.keys():
                relay.retry_pending.discard(sub_id)
                relay.closed_counts.pop(sub_id, None)
            for sub_id, filters in wanted.items():
                if relay.sent.get(sub_id) == filters or sub_id in relay.retry_pending:
                    continue
                relay.sent[sub_id] = filters
                relay.req_sent_at[sub_id] = time.monotonic()
                message = f'["REQ",{json.dumps(sub_id)},{filters[1:-1]}]'
                if not await self._send(relay, message):
                    return

    def _schedule_resubscribe(self, relay: _Relay, sub_id: str) -> None:
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
                await self._sync_subscriptions(relay)

        task = asyncio.create_task(resubscribe())
        relay.tasks.add(task)
        task.add_done_callback(relay.tasks.discard)

    # -- messages ----------------------------------------------------------------------

    async def _send(self, relay: _Relay, message: str) -> bool:
        ws = relay.ws
        if ws is None:
            return False
        try:
            await asyncio.wait_for(ws.send(message), SEND_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            relay.status.last_error = f"send failed: {_describe(exc)}"
            logger.debug(f"nostr relay {relay.url}: {relay.status.last_error}")
            return False
        return True

    async def _handle_message(self, relay: _Relay, raw: str) -> None:
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
            self._handle_ok(relay, message)
        elif kind == "EOSE":
            logger.debug(f"nostr relay {relay.url}: EOSE {message[1:2]}")
        elif kind == "CLOSED":
            sub_id = message[1] if len(message) > 1 else None
            reason = message[2] if len(message) > 2 else ""
            if isinstance(sub_id, str) and relay.sent.pop(sub_id, None) is not None:
                relay.status.last_error = f"subscription {sub_id} closed: {reason}"
                logger.warning(f"nostr relay {relay.url}: {relay.status.last_error}")
                if sub_id in self._subscriptions:
                    self._schedule_resubscribe(relay, sub_id)
            else:
                logger.debug(f"nostr relay {relay.url}: CLOSED {message[1:]}")
        elif kind == "NOTICE":
            logger.info(f"nostr relay {relay.url} notice: {message[1:2]}")
        else:
            logger.debug(f"nostr relay {relay.url}: ignored {raw[:80]!r}")

    def _handle_ok(self, relay: _Relay, message: list[Any]) -> None:
        if len(message) < 3:
            return
        event_id, accepted = message[1], message[2]
        reason = message[3] if len(message) > 3 else ""
        if accepted is True or str(reason).startswith("duplicate:"):
            return
        relay.status.last_error = f"event {str(event_id)[:16]} rejected: {reason}"
        logger.warning(f"nostr relay {relay.url}: {relay.status.last_error}")

    async def _handle_event(self, relay: _Relay, message: list[Any]) -> None:
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

    async def _acquire_slot(self, relay: _Relay) -> None:
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


def _too_long(raw: str) -> bool:
    """More than MAX_MESSAGE_SIZE bytes once UTF-8 encoded (a character takes 1..4)."""
    if len(raw) <= MAX_MESSAGE_SIZE // 4:
        return False
    return len(raw) > MAX_MESSAGE_SIZE or len(raw.encode()) > MAX_MESSAGE_SIZE


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
