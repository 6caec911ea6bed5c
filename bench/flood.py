"""Figure 2's flood row: a machine's `get_info` while unknown keys flood the relay.

Anyone can publish kind-21000 events p-tagged to the server. This module makes
such a flood — every event from a fresh key, a NIP-44 `get_info` request as an
unknown machine would send — and paces it onto the relay over a websocket of its
own, while one registered ATM sends `get_info` after `get_info`. The same ATM's
round trip without the flood, measured just before, is the baseline.

The flood is bounded: at most ``rate_per_s * max_s`` events, all prepared before
it starts (so that making them does not compete with the measurement), on
loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from measure import timed
from nostr_sdk import (
    EventBuilder,
    Keys,
    Kind,
    Nip44Version,
    PublicKey,
    Tag,
    nip44_encrypt,
)
from websockets.asyncio.client import connect as ws_connect

KIND_RPC = 21000


def unknown_requests(server_hex: str, count: int) -> list[str]:
    """``count`` EVENT messages, each a get_info from a new key to the server."""
    server = PublicKey.parse(server_hex)
    messages = []
    for n in range(count):
        keys = Keys.generate()
        plaintext = json.dumps({"id": f"flood{n}", "method": "get_info"})
        content = nip44_encrypt(keys.secret_key(), server, plaintext, Nip44Version.V2)
        event = (
            EventBuilder(Kind(KIND_RPC), content)
            .tags([Tag.parse(["p", server_hex])])
            .sign_with_keys(keys)
        )
        messages.append(f'["EVENT",{event.as_json()}]')
    return messages


@dataclass
class Flood:
    """Publishes prepared messages at ``rate_per_s`` until they run out or stop."""

    relay_url: str
    messages: list[str]
    rate_per_s: float
    sent: int = 0
    started: float = 0.0
    ended: float = 0.0
    replies: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready))
        await ready

    async def _run(self, ready: asyncio.Future[None]) -> None:
        async with ws_connect(self.relay_url, max_size=None, proxy=None) as ws:

            async def drain() -> None:  # the relay's OKs; unread, they would pile up
                async for _ in ws:
                    self.replies += 1

            reader = asyncio.create_task(drain())
            try:
                self.started = time.perf_counter()
                ready.set_result(None)
                for n, message in enumerate(self.messages):
                    due = self.started + n / self.rate_per_s
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await ws.send(message)
                    self.sent += 1
                self.ended = time.perf_counter()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def achieved_rate(self) -> float:
        end = self.ended or time.perf_counter()
        return self.sent / max(end - self.started, 1e-9)

    async def stop(self) -> None:
        if self._task is None:
            return
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if not self.ended:
            self.ended = time.perf_counter()


async def measure(
    call: Callable[[], Awaitable[object]],
    *,
    relay_url: str,
    server_hex: str,
    requests: int,
    rate_per_s: float,
    max_s: float,
    settle_s: float = 2.0,
) -> dict:
    """The baseline, then the same calls under the flood (only those that ended
    while it ran count); the flood's own figures."""
    unloaded = await timed(call, requests)
    messages = unknown_requests(server_hex, int(rate_per_s * max_s))
    flood = Flood(relay_url, messages, rate_per_s)
    await flood.start()
    loaded: list[float] = []
    try:
        await asyncio.sleep(settle_s)  # past the strangers' burst: the steady state
        while len(loaded) < requests and flood.running:
            t0 = time.perf_counter()
            await call()
            if flood.running:
                loaded.append(time.perf_counter() - t0)
    finally:
        await flood.stop()
    return {
        "unloaded_s": unloaded,
        "loaded_s": loaded,
        "flood_sent": flood.sent,
        "flood_rate_per_s": flood.achieved_rate,
        "relay_replies": flood.replies,
    }
