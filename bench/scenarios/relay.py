"""Figure 2 taken apart: the relay alone, with nostr-sdk clients at both ends and
no LNbits, and the 1-ATM round trip through PyPI's nostr-relay instead of the
embedded relay."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from instance import SIM, Instance, Operator, add_atm, close_atms, rpc
from lnbits_api import API, call
from measure import fmt_ms, latency_summary, timed
from nostr_sdk import Keys
from report import Report, Row
from sizes import Sizes


class _Peer(SIM.BitspireSimulator):  # type: ignore[misc,name-defined]
    """A nostr-sdk client that notes when each event for it arrives and, with
    ``echo``, answers it at once, as a server that does no work would."""

    def __init__(self, *, echo: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.echo = echo
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()

    def handle_event(self, event: Any) -> bool:
        self.arrivals.put_nowait(time.perf_counter())
        if self.echo:
            answer = self.build_request_event({"id": "echo", "method": "x"})
            asyncio.get_running_loop().create_task(self._publish(answer))
        return True


async def _hops_and_echoes(
    atm: _Peer, peer: _Peer, count: int
) -> tuple[list[float], list[float]]:
    hops, echoes = [], []
    for n in range(count + 10):
        event = atm.build_request_event({"id": str(n), "method": "x"})
        t0 = time.perf_counter()
        publish = asyncio.create_task(atm._publish(event))
        hop = await asyncio.wait_for(peer.arrivals.get(), 10)
        echo = await asyncio.wait_for(atm.arrivals.get(), 10)
        await publish
        if n >= 10:  # warm-up
            hops.append(hop - t0)
            echoes.append(echo - t0)
        await asyncio.sleep(0.005)
    return hops, echoes


async def relay_timings(relay_url: str, count: int) -> tuple[list[float], list[float]]:
    """The relay alone, with nostr-sdk clients at both ends and no LNbits: one
    hop (an ATM's signed, encrypted kind-21000 event from its publish to its
    arrival at a subscribed client) and an echo round trip (that client answers
    at once; the ATM has the answer)."""
    atm_keys, peer_keys = Keys.generate(), Keys.generate()
    common: dict[str, Any] = {"relays": [relay_url], "log": lambda _line: None}
    peer = _Peer(
        echo=True,
        server_pubkey=atm_keys.public_key().to_hex(),
        secret_key=peer_keys.secret_key().to_hex(),
        **common,
    )
    atm = _Peer(
        echo=False,
        server_pubkey=peer_keys.public_key().to_hex(),
        secret_key=atm_keys.secret_key().to_hex(),
        **common,
    )
    try:
        await peer.connect()
        await atm.connect()
        return await _hops_and_echoes(atm, peer, count)
    finally:
        await atm.close()
        await peer.close()


async def use_relays(instance: Instance, urls: list[str]) -> None:
    """Points the extension at ``urls`` and waits until it is connected to them."""
    await call(
        instance.http,
        "PUT",
        f"{API}/super/config",
        token=instance.super_user.token,
        body={"relays": urls},
    )
    wanted = {url.rstrip("/") for url in urls}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = await instance.relays_status()
        connected = {
            r["url"].rstrip("/") for r in status["relays"] if r.get("connected")
        }
        if wanted <= connected and len(status["relays"]) == len(wanted):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the extension did not connect to {sorted(wanted)}")


async def _sequential_via(
    instance: Instance, operator: Operator, relay_url: str, count: int
) -> list[float]:
    """``count`` get_info round trips of a new ATM on ``relay_url``."""
    atm = await add_atm(instance, operator, 0, relay_url=relay_url)
    try:
        for _ in range(5):
            await rpc(atm.sim, "get_info")
        return await timed(lambda: rpc(atm.sim, "get_info"), count)
    finally:
        await close_atms([atm])


async def rpc_via_nostr_relay(
    instance: Instance, operator: Operator, sizes: Sizes, report: Report
) -> None:
    """The same sequential get_info through PyPI's nostr-relay (Python) instead:
    the server's round trip without the embedded relay's ~40 ms answer stall."""
    import relays  # tests/support/relays.py: PyPI's nostr-relay from .venv-relay

    try:
        second = relays.RelayProcess("nostr-relay")
    except relays.RelayNotInstalled as exc:
        report.skip("2", "  via PyPI nostr-relay", instance.db, str(exc))
        return
    async with second:
        try:
            await use_relays(instance, [second.url])
            count = max(20, sizes.rpc_requests // 2)
            seconds = await _sequential_via(instance, operator, second.url, count)
            echo = latency_summary((await relay_timings(second.url, 30))[1])
        finally:
            await use_relays(instance, [instance.relay.url])
    summary = latency_summary(seconds)
    report.add(
        Row(
            "2",
            "  1 ATM, sequential, via PyPI nostr-relay",
            instance.db,
            f"{fmt_ms(summary)}; its echo p50 {echo['p50_ms']:.1f} ms",
            data={**summary, "relay_echo": echo},
        )
    )
