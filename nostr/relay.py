"""One relay connection: its address check, its status, and serving it.

A :class:`Relay` opens its websocket, keeps the subscriptions sent on it in step
with the pool's (REQ and CLOSE), reads it, and records what went wrong in its
status; the pool's task per relay reconnects it with backoff. Every network wait
has a timeout.

A message longer than ``MAX_MESSAGE_SIZE`` (the protocol's own limit) is dropped
unparsed and counted as ``oversized``. The websocket itself accepts frames up to the
far larger ``TRANSPORT_MAX_SIZE``, so that anyone able to publish a big event to a
relay cannot make the connection close (code 1009) and lose the requests that
arrive while it reconnects. Every other text message goes to the pool's
``on_message``; while that waits, nothing more is read from this relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

__all__ = ["Relay", "RelayStatus"]

OPEN_TIMEOUT = 10.0  # seconds for TCP + TLS + websocket handshake
SEND_TIMEOUT = 10.0  # seconds for one message to reach the socket buffer
CLOSE_TIMEOUT = 2.0  # seconds for the closing handshake before the socket is cut
PING_INTERVAL = 20.0  # keepalive: a ping every 20 s ...
PING_TIMEOUT = 20.0  # ... and a connection without pong after 20 s more is dead
MAX_MESSAGE_SIZE = 1 << 20  # bytes; a NIP-44 request is at most ~90 KB
# Frames up to this are read and dropped; relays refuse events far smaller (128 KiB
# to 1 MiB is usual). Only a frame above it still closes the connection (1009).
TRANSPORT_MAX_SIZE = 16 << 20


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


OnMessage = Callable[["Relay", str], Awaitable[None]]


class Relay:
    """One relay: its status, the pool's task for it, and its current connection.

    ``subscriptions`` gives the pool's subscriptions (sub id -> serialized filters)
    at the moment they are sent; ``on_message`` gets every text message read.
    """

    def __init__(
        self,
        url: str,
        *,
        subscriptions: Callable[[], Mapping[str, str]],
        on_message: OnMessage,
    ) -> None:
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
        self._subscriptions = subscriptions
        self._on_message = on_message
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
        self.bad_url = _check_url(url)
        if self.bad_url:
            self.status.last_error = self.bad_url
            logger.warning(f"nostr relay {url!r}: {self.bad_url}")

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

    # -- the connection's life -------------------------------------------------------

    async def close(self) -> None:
        """Stop the pool's task for this relay and every timer of its connection."""
        self.removed = True
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            # The task closes its websocket on the way out (bounded by CLOSE_TIMEOUT).
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT + 3)
        leftovers = set(self.tasks)
        self.connection_lost()  # cancels the re-REQ timers
        if leftovers:
            await asyncio.wait(leftovers, timeout=CLOSE_TIMEOUT)

    async def connect(self) -> ClientConnection:
        return await connect(
            self.url,
            open_timeout=OPEN_TIMEOUT,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            max_size=TRANSPORT_MAX_SIZE,
        )

    def connect_failed(self, exc: Exception) -> None:
        error = f"connect failed: {_describe(exc)}"
        # The first failure of a kind is a warning, its repetitions debug.
        level = "DEBUG" if error == self.status.last_error else "WARNING"
        self.status.last_error = error
        logger.log(level, f"nostr relay {self.url}: {error}")

    async def serve(self, ws: ClientConnection) -> None:
        """Use ``ws`` until it fails or closes, then close it."""
        try:
            await self._serve_connection(ws)
        finally:
            self.connection_lost()
            with contextlib.suppress(Exception):
                await ws.close()

    async def _serve_connection(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.status.connected = True
        self.status.connected_since = time.time()
        self.status.last_error = None
        logger.info(f"nostr relay {self.url}: connected")
        try:
            await self.sync_subscriptions()
            await self._read(ws)
            closed = ws.close_code, ws.close_reason
            self.status.last_error = f"connection closed ({closed[0]} {closed[1]})"
        except ConnectionClosed as exc:
            self.status.last_error = f"connection lost: {_describe(exc)}"
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            self.status.last_error = f"connection failed: {_describe(exc)}"
        except Exception as exc:  # a bug here must not end the supervisor
            logger.exception(f"nostr relay {self.url}: reader failed")
            self.status.last_error = f"reader failed: {_describe(exc)}"
        logger.info(f"nostr relay {self.url}: {self.status.last_error}")

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                logger.debug(f"nostr relay {self.url}: ignored a binary frame")
                continue
            if _too_long(raw):
                self.status.oversized += 1
                logger.debug(
                    f"nostr relay {self.url}: dropped a message of"
                    f" {len(raw)} characters"
                )
                continue
            await self._on_message(self, raw)

    async def send(self, message: str) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await asyncio.wait_for(ws.send(message), SEND_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.status.last_error = f"send failed: {_describe(exc)}"
            logger.debug(f"nostr relay {self.url}: {self.status.last_error}")
            return False
        return True

    # -- subscriptions on this connection ----------------------------------------------

    async def sync_subscriptions(self) -> None:
        """Send the REQ and CLOSE messages that bring this relay up to date."""
        async with self.sync_lock:
            wanted = self._subscriptions()
            for sub_id in [s for s in self.sent if s not in wanted]:
                del self.sent[sub_id]
                self.closed_counts.pop(sub_id, None)
                await self.send(json.dumps(["CLOSE", sub_id]))
            for sub_id in self.retry_pending - wanted.keys():
                self.retry_pending.discard(sub_id)
                self.closed_counts.pop(sub_id, None)
            for sub_id, filters in wanted.items():
                if self.sent.get(sub_id) == filters or sub_id in self.retry_pending:
                    continue
                self.sent[sub_id] = filters
                self.req_sent_at[sub_id] = time.monotonic()
                message = f'["REQ",{json.dumps(sub_id)},{filters[1:-1]}]'
                if not await self.send(message):
                    return

    def subscription_closed(self, message: list[Any]) -> str | None:
        """A CLOSED from the relay: the id of the subscription of ours it closed."""
        sub_id = message[1] if len(message) > 1 else None
        reason = message[2] if len(message) > 2 else ""
        if isinstance(sub_id, str) and self.sent.pop(sub_id, None) is not None:
            self.status.last_error = f"subscription {sub_id} closed: {reason}"
            logger.warning(f"nostr relay {self.url}: {self.status.last_error}")
            return sub_id
        logger.debug(f"nostr relay {self.url}: CLOSED {message[1:]}")
        return None


def _too_long(raw: str) -> bool:
    """More than MAX_MESSAGE_SIZE bytes once UTF-8 encoded (a character takes 1..4)."""
    if len(raw) <= MAX_MESSAGE_SIZE // 4:
        return False
    return len(raw) > MAX_MESSAGE_SIZE or len(raw.encode()) > MAX_MESSAGE_SIZE


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
