"""A bitSpire ATM simulator: the machine side of the bitSpire RPC over Nostr, v1.

It plays the ATM against the contract (``bitspire-rpc-v1.md``, ``docs/PROTOCOL.md``)
the way another team would: it imports nothing from this repository and does all
the Nostr work (keys, NIP-19, NIP-44 v2, event signing, the relay client) with the
rust-nostr Python bindings, ``nostr_sdk`` 0.44.

As a library::

    sim, token = BitspireSimulator.from_seed_url(seed_url)
    async with sim:
        await sim.pair(token)
        await sim.publish_beacon()
        summary = await sim.cash_out(
            fiat_amount="200.00", exchange_rate="650000.00", pay=pay_bolt11
        )

As a command (``python tools/bitspire_sim.py --help``)::

    python tools/bitspire_sim.py pair --seed-url 'bitspire://pair?v=1&...'
    # a machine its operator added by npub confirms with its own key:
    python tools/bitspire_sim.py --nsec NSEC pair --seed-url 'bitspire://pair?...'
    python tools/bitspire_sim.py --server NPUB --nsec NSEC info
    python tools/bitspire_sim.py --server NPUB --nsec NSEC cash-out \\
        --fiat 200.00 --rate 650000.00 --dispensed 100.00
    python tools/bitspire_sim.py demo --seed-url URL \\
        --lnbits-url http://127.0.0.1:5000 --payer-key ADMIN_KEY --count 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nostr_sdk import (
    Client,
    Event,
    EventBuilder,
    Filter,
    HandleNotification,
    Keys,
    Kind,
    Nip44Version,
    NostrSigner,
    PublicKey,
    RelayUrl,
    Tag,
    Timestamp,
    nip44_decrypt,
    nip44_encrypt,
)

__all__ = [
    "KIND_BEACON",
    "KIND_RPC",
    "KIND_TELEMETRY",
    "Amounts",
    "BitspireSimulator",
    "RpcError",
    "SeedUrl",
    "compute_amounts",
    "main",
    "parse_seed_url",
]

KIND_RPC = 21000
KIND_BEACON = 30078
KIND_TELEMETRY = 30079
PROTOCOL_VERSION = 1
DEFAULT_RELAY = "ws://127.0.0.1:7777"
# Responses older than this (relative to our clock when subscribing) are not asked
# for; the contract's server drops requests more than 300 s off its clock anyway.
SUBSCRIPTION_LOOKBACK_S = 300
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SATS_PER_BTC = Decimal(100_000_000)


# --------------------------------------------------------------------------- amounts


@dataclass(frozen=True)
class Amounts:
    """Sats for one customer transaction, derived from fiat, rate and fee."""

    principal_sats: int
    fee_sats: int

    @property
    def amount_sats(self) -> int:
        """Cash-out: what the customer pays (principal + fee)."""
        return self.principal_sats + self.fee_sats

    @property
    def payout_sats(self) -> int:
        """Cash-in: what the customer's invoice is for (principal - fee)."""
        return self.principal_sats - self.fee_sats


def parse_decimal(value: str, what: str) -> Decimal:
    """A non-negative decimal string such as ``"2000.00"``; floats are refused."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a decimal string, not {type(value).__name__}")
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f"{what} must be a decimal string like '200.00': {value!r}")
    return Decimal(value)


def compute_amounts(fiat_amount: str, exchange_rate: str, fee_bps: int) -> Amounts:
    """principal = round(fiat x 10^8 / rate), fee = round(principal x bps / 10^4).

    Both round half up, in Decimal arithmetic; ``exchange_rate`` is fiat per BTC.
    """
    fiat = parse_decimal(fiat_amount, "fiat_amount")
    rate = parse_decimal(exchange_rate, "exchange_rate")
    if rate <= 0:
        raise ValueError("exchange_rate must be positive")
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int):
        raise TypeError("fee_bps must be an integer")
    if not 0 <= fee_bps <= 10_000:
        raise ValueError("fee_bps must be within 0..10000")
    with localcontext() as ctx:
        ctx.prec = 80
        principal = (fiat * _SATS_PER_BTC / rate).to_integral_value(ROUND_HALF_UP)
        fee = (principal * fee_bps / Decimal(10_000)).to_integral_value(ROUND_HALF_UP)
    return Amounts(principal_sats=int(principal), fee_sats=int(fee))


# -------------------------------------------------------------------------- seed URL


@dataclass(frozen=True)
class SeedUrl:
    """What a pairing seed URL carries. ``server`` is 64-char lowercase hex."""

    server: str
    relays: list[str]
    token: str
    operator: str | None = None


def _one(query: dict[str, list[str]], name: str, *, required: bool = True) -> str:
    values = query.get(name, [])
    if len(values) > 1:
        raise ValueError(f"seed URL has {len(values)} '{name}' parameters")
    if not values or not values[0].strip():
        if required:
            raise ValueError(f"seed URL lacks '{name}'")
        return ""
    return values[0].strip()


def parse_seed_url(url: str) -> SeedUrl:
    """Parse ``bitspire://pair?v=1&server=<npub>&relay=<ws url>...&token=<token>``."""
    if not isinstance(url, str):
        raise ValueError("seed URL must be a string")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "bitspire":
        raise ValueError(f"seed URL scheme must be bitspire://, not {parts.scheme!r}")
    target = (parts.netloc or parts.path.lstrip("/")).lower()
    if target != "pair":
        raise ValueError(f"seed URL must be bitspire://pair, not {target!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    version = _one(query, "v")
    if version != str(PROTOCOL_VERSION):
        raise ValueError(f"unsupported seed URL version {version!r}")
    server_text = _one(query, "server")
    try:
        server = PublicKey.parse(server_text).to_hex()
    except Exception as exc:
        raise ValueError(f"seed URL server is not a public key: {exc}") from None
    relays = [r.strip() for r in query.get("relay", []) if r.strip()]
    if not relays:
        raise ValueError("seed URL lacks 'relay'")
    for relay in relays:
        if urlsplit(relay).scheme not in ("ws", "wss"):
            raise ValueError(f"seed URL relay is not a ws:// or wss:// URL: {relay!r}")
    token = _one(query, "token")
    operator = _one(query, "operator", required=False) or None
    return SeedUrl(server=server, relays=relays, token=token, operator=operator)


# ----------------------------------------------------------------------- simulator


class RpcError(Exception):
    """The server answered with ``{"error": {...}}``."""

    def __init__(self, method: str, response: dict[str, Any]) -> None:
        error = response.get("error")
        if not isinstance(error, dict):
            error = {"code": "internal", "message": repr(error)}
        self.method = method
        self.response = response
        self.code = str(error.get("code"))
        self.message = str(error.get("message", ""))
        self.summary: dict[str, Any] = {}
        super().__init__(f"{method}: {self.code}: {self.message}")


@dataclass
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    event_ids: list[str] = field(default_factory=list)


class _Notifications(HandleNotification):
    """Relay notifications from nostr_sdk, forwarded to the simulator.

    ``Client.handle_notifications`` awaits these on the loop that awaits it. They
    must never raise: nostr_sdk 0.44 turns an exception here into a Rust panic.
    """

    def __init__(self, sim: BitspireSimulator) -> None:
        self._sim = sim

    async def handle(self, relay_url: Any, subscription_id: str, event: Event) -> None:
        with contextlib.suppress(Exception):
            self._sim.handle_event(event)

    async def handle_msg(self, relay_url: Any, msg: Any) -> None:
        with contextlib.suppress(Exception):
            kind = msg.as_enum()
            if kind.is_closed() or kind.is_notice():
                self._sim._log(f"relay said   {relay_url}: {msg.as_json()}")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _tag_values(event: Event) -> list[list[str]]:
    return [list(tag.as_vec()) for tag in event.tags().to_vec()]


class BitspireSimulator:
    """The ATM side of the contract, over rust-nostr (``nostr_sdk``)."""

    def __init__(
        self,
        *,
        server_pubkey: str,
        relays: list[str],
        secret_key: str | None = None,
        timeout: float = 10.0,
        retry_every: float = 2.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        try:
            self._server = PublicKey.parse(server_pubkey)
        except Exception as exc:
            raise ValueError(f"server_pubkey is not a public key: {exc}") from None
        try:
            self._keys = Keys.parse(secret_key) if secret_key else Keys.generate()
        except Exception as exc:
            raise ValueError(f"secret_key is not a secret key: {exc}") from None
        if not relays:
            raise ValueError("at least one relay is needed")
        if timeout <= 0 or retry_every <= 0:
            raise ValueError("timeout and retry_every must be positive")
        self.relays = list(relays)
        self.timeout = float(timeout)
        self.retry_every = float(retry_every)
        self.operator: str | None = None
        self.last_call: dict[str, Any] = {}
        self._log = log or print
        self._server_hex: str = self._server.to_hex()
        self._pubkey_hex: str = self._keys.public_key().to_hex()
        self._client: Client | None = None
        self._notify_task: asyncio.Task[None] | None = None
        self._send_tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, _Pending] = {}
        self._request_of_event: dict[str, str] = {}

    # ---- identity

    @classmethod
    def from_seed_url(cls, url: str, **kw: Any) -> tuple[BitspireSimulator, str]:
        """A simulator for the server and relays of a seed URL, and its token."""
        seed = parse_seed_url(url)
        sim = cls(server_pubkey=seed.server, relays=seed.relays, **kw)
        sim.operator = seed.operator
        return sim, seed.token

    @property
    def pubkey_hex(self) -> str:
        return self._pubkey_hex

    @property
    def npub(self) -> str:
        return str(self._keys.public_key().to_bech32())

    @property
    def nsec(self) -> str:
        return str(self._keys.secret_key().to_bech32())

    @property
    def server_hex(self) -> str:
        return self._server_hex

    @property
    def server_npub(self) -> str:
        return str(self._server.to_bech32())

    # ---- connection

    async def connect(self) -> None:
        """Connect to the relays and subscribe to the server's responses to us."""
        if self._client is not None:
            return
        loop = asyncio.get_running_loop()
        # No uniffi_set_event_loop(): it is process-wide, and not needed here, since
        # the handler runs while the loop polls handle_notifications()'s future.
        client = Client(NostrSigner.keys(self._keys))
        for url in self.relays:
            await client.add_relay(RelayUrl.parse(url))
        await client.connect()
        await client.wait_for_connection(timedelta(seconds=min(self.timeout, 5.0)))
        relays = await client.relays()
        connected = [str(url) for url, relay in relays.items() if relay.is_connected()]
        if not connected:
            await client.shutdown()
            raise ConnectionError(f"no relay reachable: {', '.join(self.relays)}")
        self._client = client
        self._notify_task = loop.create_task(
            client.handle_notifications(_Notifications(self))
        )
        since = Timestamp.from_secs(max(0, int(time.time()) - SUBSCRIPTION_LOOKBACK_S))
        responses = (
            Filter()
            .kind(Kind(KIND_RPC))
            .author(self._server)
            .pubkey(self._keys.public_key())
            .since(since)
        )
        await client.subscribe(responses)
        self._log(
            f"connected    machine {self.npub} -> server {self.server_npub} "
            f"via {', '.join(connected)}"
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        for send in list(self._send_tasks):
            send.cancel()
        if client is not None:
            try:
                await client.shutdown()
            except Exception as exc:
                self._log(f"close        {exc}")
        notify, self._notify_task = self._notify_task, None
        if notify is not None and not notify.done():
            notify.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await notify

    async def __aenter__(self) -> BitspireSimulator:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError("not connected: call connect() first")
        return self._client

    # ---- events

    def build_request_event(self, request: dict[str, Any]) -> Event:
        """A signed kind-21000 request: NIP-44 v2 ciphertext of ``request``, p-tag."""
        plaintext = json.dumps(request, separators=(",", ":"), ensure_ascii=False)
        # Encrypted afresh each time (random nonce), so a retry is a new event even
        # within the same second.
        content = nip44_encrypt(
            self._keys.secret_key(), self._server, plaintext, Nip44Version.V2
        )
        builder = EventBuilder(Kind(KIND_RPC), content).tags(
            [Tag.parse(["p", self._server_hex])]
        )
        return builder.sign_with_keys(self._keys)

    def decrypt_from_server(self, content: str) -> str:
        """NIP-44 v2 plaintext of a payload the server encrypted to us."""
        return str(nip44_decrypt(self._keys.secret_key(), self._server, content))

    def handle_event(self, event: Event) -> bool:
        """Route an incoming event to the request it answers; ``True`` if it did.

        A response must be a kind-21000 event by the server, tagged ``["p", us]`` and
        ``["e", <any event sent for a request still waiting>]``, with a valid id and
        signature, decrypting to JSON whose ``id`` is that request's id. Anything else
        is ignored. Never raises.
        """
        try:
            if event.kind().as_u16() != KIND_RPC:
                return False
            if event.author().to_hex() != self._server_hex:
                return False
            tags = _tag_values(event)
            if not any(
                len(t) >= 2 and t[0] == "p" and t[1] == self._pubkey_hex for t in tags
            ):
                return False
            request_id = next(
                (
                    self._request_of_event[t[1]]
                    for t in tags
                    if len(t) >= 2 and t[0] == "e" and t[1] in self._request_of_event
                ),
                None,
            )
            if request_id is None:
                return False
            pending = self._pending.get(request_id)
            if pending is None or pending.future.done():
                return False
            if not event.verify():
                self._log(f"ignored      response {event.id().to_hex()}: bad id/sig")
                return False
            response = json.loads(self.decrypt_from_server(event.content()))
            if not isinstance(response, dict) or response.get("id") != request_id:
                self._log(
                    f"ignored      response {event.id().to_hex()}: "
                    f"its id is not {request_id!r}"
                )
                return False
            if "result" not in response and "error" not in response:
                self._log(f"ignored      response {event.id().to_hex()}: no result")
                return False
            pending.future.set_result(response)
            return True
        except Exception as exc:
            self._log(f"ignored      event: {type(exc).__name__}: {exc}")
            return False

    async def _send(self, client: Client, event: Event, what: str) -> None:
        try:
            output = await client.send_event(event)
        except Exception as exc:
            self._log(f"send failed  {what}: {exc}")
            return
        if output.failed:
            failed = "; ".join(f"{url}: {why}" for url, why in output.failed.items())
            self._log(f"relay said   {what}: {failed}")

    def _spawn_send(self, event: Event, what: str) -> None:
        client = self._require_client()
        task = asyncio.get_running_loop().create_task(self._send(client, event, what))
        self._send_tasks.add(task)
        task.add_done_callback(self._send_tasks.discard)

    async def _publish(self, event: Event) -> str:
        client = self._require_client()
        output = await client.send_event(event)
        event_id = str(event.id().to_hex())
        if not output.success:
            failed = "; ".join(f"{url}: {why}" for url, why in output.failed.items())
            raise ConnectionError(f"no relay accepted event {event_id}: {failed}")
        return event_id

    # ---- RPC

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        retries: int = 3,
    ) -> dict[str, Any]:
        """Send one request and return the server's whole response dict.

        Without a response after ``retry_every`` seconds the same request JSON goes
        out again as a new event, up to ``retries`` times; a response to any of
        those events counts. Gives up with ``TimeoutError`` after
        ``min(timeout, (retries + 1) * retry_every)`` seconds.
        """
        self._require_client()
        request_id = request_id or uuid.uuid4().hex
        if not 1 <= len(request_id) <= 64:
            raise ValueError("request id must be 1..64 characters")
        if request_id in self._pending:
            raise RuntimeError(f"request {request_id!r} is already waiting")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        request = {"id": request_id, "method": method, "params": dict(params or {})}
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future())
        self._pending[request_id] = pending
        start = loop.time()
        deadline = start + min(self.timeout, (retries + 1) * self.retry_every)
        attempts = 0
        try:
            for attempt in range(retries + 1):
                now = loop.time()
                if now >= deadline:
                    break
                if attempt:
                    self._log(
                        f"retry        {method}: no response in "
                        f"{_ms(now - start)} ms, sending again "
                        f"(attempt {attempt + 1}/{retries + 1})"
                    )
                event = self.build_request_event(request)
                event_id = event.id().to_hex()
                # Registered before it is sent: a fast response must find it.
                pending.event_ids.append(event_id)
                self._request_of_event[event_id] = request_id
                attempts += 1
                self._spawn_send(event, method)
                wait = deadline - now
                if attempt < retries:
                    wait = min(self.retry_every, wait)
                try:
                    response = await asyncio.wait_for(
                        asyncio.shield(pending.future), wait
                    )
                except asyncio.TimeoutError:
                    continue
                self.last_call = {
                    "method": method,
                    "request_id": request_id,
                    "attempts": attempts,
                    "event_ids": list(pending.event_ids),
                    "latency_ms": _ms(loop.time() - start),
                }
                return response
            self.last_call = {
                "method": method,
                "request_id": request_id,
                "attempts": attempts,
                "event_ids": list(pending.event_ids),
                "latency_ms": None,
            }
            raise TimeoutError(
                f"no response to {method} (request {request_id}) after "
                f"{attempts} attempt(s) in {_ms(loop.time() - start)} ms"
            )
        finally:
            del self._pending[request_id]
            for event_id in pending.event_ids:
                self._request_of_event.pop(event_id, None)
            if not pending.future.done():
                pending.future.cancel()

    async def _step(
        self,
        summary: dict[str, Any],
        step: str,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        describe: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        """``call`` + one log line; an error response raises ``RpcError``."""
        started = time.monotonic()
        response = await self.call(method, params)
        elapsed = _ms(time.monotonic() - started)
        summary.setdefault("latencies_ms", {})[step] = elapsed
        attempts = self.last_call.get("attempts", 1)
        tries = f", {attempts} attempts" if attempts > 1 else ""
        if "error" in response:
            error = RpcError(method, response)
            summary.setdefault("statuses", {})[step] = f"error:{error.code}"
            self._log(f"{step:<12} ERROR {error.code}: {error.message} [{elapsed} ms]")
            error.summary = summary
            raise error
        result = response.get("result")
        if not isinstance(result, dict):
            result = {}
        text = describe(result) if describe else json.dumps(result, sort_keys=True)
        self._log(f"{step:<12} {text} [{elapsed} ms{tries}]")
        return result

    # ---- methods with one line of output each

    async def get_info(self) -> dict[str, Any]:
        return await self._step({}, "get_info", "get_info")

    async def get_balance(self) -> dict[str, Any]:
        return await self._step({}, "get_balance", "get_balance")

    async def pair(self, token: str) -> dict[str, Any]:
        """Bind this machine's key to the operator who issued ``token``."""
        return await self._step(
            {},
            "pair",
            "pair",
            {"token": token},
            describe=lambda r: (
                f"paired as {r.get('name')!r} (machine {r.get('machine_id')}, "
                f"fiat {r.get('fiat_code')})"
            ),
        )

    async def publish_beacon(
        self,
        *,
        cash_in: bool = True,
        cash_out: bool = True,
        cash_level: Any = "ok",
        fiat: str = "GTQ",
        model: str = "bitspire-sim",
        d: str = "bitspire-beacon",
        created_at: int | None = None,
        **extra: Any,
    ) -> str:
        """Publish a kind-30078 beacon (plain JSON content); returns its event id."""
        content = {
            "cash_in": cash_in,
            "cash_out": cash_out,
            "cash_level": cash_level,
            "fiat": fiat,
            "model": model,
            **extra,
        }
        builder = EventBuilder(Kind(KIND_BEACON), json.dumps(content)).tags(
            [Tag.parse(["d", d])]
        )
        if created_at is not None:
            builder = builder.custom_created_at(Timestamp.from_secs(created_at))
        started = time.monotonic()
        event_id = await self._publish(builder.sign_with_keys(self._keys))
        self._log(
            f"{'beacon':<12} {event_id[:16]}… cash_in={cash_in} cash_out={cash_out} "
            f"level={cash_level} [{_ms(time.monotonic() - started)} ms]"
        )
        return event_id

    async def publish_telemetry(
        self, payload: dict[str, Any], *, d: str = "bitspire-telemetry"
    ) -> str:
        """Publish a kind-30079 telemetry event (plain JSON); returns its event id."""
        builder = EventBuilder(Kind(KIND_TELEMETRY), json.dumps(payload)).tags(
            [Tag.parse(["d", d])]
        )
        started = time.monotonic()
        event_id = await self._publish(builder.sign_with_keys(self._keys))
        self._log(
            f"{'telemetry':<12} {event_id[:16]}… {len(payload)} fields "
            f"[{_ms(time.monotonic() - started)} ms]"
        )
        return event_id

    # ---- customer flows

    async def cash_out(
        self,
        *,
        fiat_amount: str,
        exchange_rate: str,
        fee_bps: int = 500,
        fiat_code: str = "GTQ",
        pay: Callable[[str], Awaitable[None]] | None = None,
        dispensed_fiat: str | None = None,
        bills: list[dict[str, Any]] | None = None,
        memo: str | None = None,
        expiry_s: int | None = 600,
        paid_timeout: float | None = None,
        poll_every: float = 1.0,
    ) -> dict[str, Any]:
        """Customer buys fiat with sats: invoice, payment, dispense report.

        ``pay(bolt11)`` makes the customer's payment; without it the bolt11 is
        printed and the invoice polled until paid, expired or ``paid_timeout``
        (default: ``timeout`` with ``pay``, else ``expiry_s``). An unpaid
        transaction is cancelled. An error response raises ``RpcError`` whose
        ``summary`` holds what happened so far.
        """
        amounts = compute_amounts(fiat_amount, exchange_rate, fee_bps)
        if amounts.amount_sats < 1:
            raise ValueError("the cash-out amount comes to 0 sats")
        dispensed = fiat_amount if dispensed_fiat is None else dispensed_fiat
        if parse_decimal(dispensed, "dispensed_fiat") > Decimal(fiat_amount):
            raise ValueError("dispensed_fiat exceeds fiat_amount")
        tx_id = str(uuid.uuid4())
        summary: dict[str, Any] = {
            "type": "cash_out",
            "tx_id": tx_id,
            "fiat_amount": fiat_amount,
            "fiat_code": fiat_code,
            "exchange_rate": exchange_rate,
            "principal_sats": amounts.principal_sats,
            "fee_sats": amounts.fee_sats,
            "amount_sats": amounts.amount_sats,
            "payment_hash": None,
            "bolt11": None,
            "paid": False,
            "dispensed_fiat": None,
            "settlement_id": None,
            "statuses": {},
            "latencies_ms": {},
        }
        self._log(
            f"{'cash-out':<12} tx {tx_id}: {fiat_amount} {fiat_code} at "
            f"{exchange_rate} = {amounts.principal_sats} + fee {amounts.fee_sats} "
            f"= {amounts.amount_sats} sats"
        )
        params: dict[str, Any] = {
            "tx_id": tx_id,
            "amount_sats": amounts.amount_sats,
            "principal_sats": amounts.principal_sats,
            "fee_sats": amounts.fee_sats,
            "fiat_amount": fiat_amount,
            "fiat_code": fiat_code,
            "exchange_rate": exchange_rate,
        }
        if memo is None:
            memo = f"bitSpire cash-out {fiat_amount} {fiat_code}"
        if memo:
            params["memo"] = memo
        if expiry_s is not None:
            params["expiry_s"] = expiry_s
        invoice = await self._step(
            summary,
            "make_invoice",
            "make_invoice",
            params,
            describe=lambda r: (
                f"payment_hash {str(r.get('payment_hash'))[:16]}… "
                f"expires_at {r.get('expires_at')}"
            ),
        )
        summary["statuses"]["make_invoice"] = "ok"
        payment_hash = invoice.get("payment_hash")
        bolt11 = invoice.get("bolt11")
        summary.update(
            payment_hash=payment_hash,
            bolt11=bolt11,
            expires_at=invoice.get("expires_at"),
        )
        if not isinstance(bolt11, str) or not isinstance(payment_hash, str):
            error = RpcError(
                "make_invoice",
                {"error": {"code": "bad_response", "message": "no bolt11"}},
            )
            error.summary = summary
            raise error

        started = time.monotonic()
        if pay is not None:
            await pay(bolt11)
            summary["latencies_ms"]["pay"] = _ms(time.monotonic() - started)
            self._log(
                f"{'pay':<12} customer paid {amounts.amount_sats} sats "
                f"[{summary['latencies_ms']['pay']} ms]"
            )
        else:
            self._log(f"{'pay':<12} customer, pay this invoice: {bolt11}")
        if paid_timeout is None:
            paid_timeout = self.timeout if pay is not None else float(expiry_s or 600)
        status = await self._wait_paid(summary, payment_hash, paid_timeout, poll_every)
        summary["latencies_ms"]["paid_after"] = _ms(time.monotonic() - started)
        if status != "paid":
            await self._step(
                summary,
                "cancel",
                "cancel_transaction",
                {"tx_id": tx_id, "reason": f"invoice {status}"},
                describe=lambda r: f"status {r.get('status')}",
            )
            return summary
        summary["paid"] = True

        dispense: dict[str, Any] = {"tx_id": tx_id, "dispensed_fiat": dispensed}
        if bills:
            dispense["bills"] = bills
        report = await self._step(
            summary,
            "dispense",
            "report_dispense",
            dispense,
            describe=lambda r: (
                f"{dispensed}/{fiat_amount} {fiat_code} dispensed, settlement "
                f"{r.get('settlement_id')} status {r.get('status')}"
            ),
        )
        summary["dispensed_fiat"] = dispensed
        summary["settlement_id"] = report.get("settlement_id")
        summary["statuses"]["report_dispense"] = report.get("status")
        return summary

    async def _wait_paid(
        self,
        summary: dict[str, Any],
        payment_hash: str,
        paid_timeout: float,
        poll_every: float,
    ) -> str:
        """Poll ``lookup_invoice`` until paid or expired; ``"pending"`` on timeout."""
        deadline = time.monotonic() + paid_timeout
        polls = 0
        status = "pending"
        while True:
            polls += 1
            result = await self._step(
                summary,
                "lookup",
                "lookup_invoice",
                {"payment_hash": payment_hash},
                describe=lambda r: (
                    f"status {r.get('status')} ({r.get('amount_sats')} sats"
                    + (f", paid_at {r['paid_at']})" if r.get("paid_at") else ")")
                ),
            )
            status = str(result.get("status"))
            summary["statuses"]["lookup_invoice"] = status
            if status in ("paid", "expired"):
                break
            if time.monotonic() + poll_every > deadline:
                break
            await asyncio.sleep(poll_every)
        summary["polls"] = polls
        return status

    async def cash_in(
        self,
        *,
        fiat_amount: str,
        exchange_rate: str,
        fee_bps: int = 500,
        fiat_code: str = "GTQ",
        invoice_for: Callable[[int], Awaitable[str]],
        paid_timeout: float | None = None,
        poll_every: float = 1.0,
    ) -> dict[str, Any]:
        """Customer buys sats with fiat: the machine pays the customer's invoice.

        ``invoice_for(principal - fee)`` returns the customer's bolt11. A ``pending``
        payment is then polled with ``lookup_invoice`` by ``tx_id``.
        """
        amounts = compute_amounts(fiat_amount, exchange_rate, fee_bps)
        if amounts.payout_sats < 1:
            raise ValueError("the cash-in payout comes to less than 1 sat")
        tx_id = str(uuid.uuid4())
        summary: dict[str, Any] = {
            "type": "cash_in",
            "tx_id": tx_id,
            "fiat_amount": fiat_amount,
            "fiat_code": fiat_code,
            "exchange_rate": exchange_rate,
            "principal_sats": amounts.principal_sats,
            "fee_sats": amounts.fee_sats,
            "payout_sats": amounts.payout_sats,
            "payment_hash": None,
            "status": None,
            "fee_paid_sats": None,
            "statuses": {},
            "latencies_ms": {},
        }
        self._log(
            f"{'cash-in':<12} tx {tx_id}: {fiat_amount} {fiat_code} at "
            f"{exchange_rate} = {amounts.principal_sats} - fee {amounts.fee_sats} "
            f"= {amounts.payout_sats} sats to the customer"
        )
        started = time.monotonic()
        bolt11 = await invoice_for(amounts.payout_sats)
        summary["latencies_ms"]["invoice_for"] = _ms(time.monotonic() - started)
        summary["bolt11"] = bolt11
        self._log(
            f"{'invoice':<12} customer invoice for {amounts.payout_sats} sats "
            f"[{summary['latencies_ms']['invoice_for']} ms]"
        )
        result = await self._step(
            summary,
            "pay_invoice",
            "pay_invoice",
            {
                "tx_id": tx_id,
                "bolt11": bolt11,
                "principal_sats": amounts.principal_sats,
                "fee_sats": amounts.fee_sats,
                "fiat_amount": fiat_amount,
                "fiat_code": fiat_code,
                "exchange_rate": exchange_rate,
            },
            describe=lambda r: (
                f"status {r.get('status')} payment_hash "
                f"{str(r.get('payment_hash'))[:16]}… "
                f"routing fee {r.get('fee_paid_sats')} sats"
            ),
        )
        status = str(result.get("status"))
        summary.update(
            payment_hash=result.get("payment_hash"),
            status=status,
            fee_paid_sats=result.get("fee_paid_sats"),
        )
        summary["statuses"]["pay_invoice"] = status
        if status == "pending":
            deadline = time.monotonic() + (
                self.timeout if paid_timeout is None else paid_timeout
            )
            while status == "pending" and time.monotonic() + poll_every <= deadline:
                await asyncio.sleep(poll_every)
                try:
                    looked = await self._step(
                        summary,
                        "lookup",
                        "lookup_invoice",
                        {"tx_id": tx_id},
                        describe=lambda r: f"status {r.get('status')}",
                    )
                except RpcError:
                    break
                status = str(looked.get("status"))
                summary["statuses"]["lookup_invoice"] = status
            summary["status"] = status
        return summary


# ------------------------------------------------------------------------------ CLI


def lnbits_payer(
    lnbits_url: str, api_key: str, timeout: float = 30.0
) -> Callable[[str], Awaitable[None]]:
    """``pay(bolt11)`` through LNbits: POST /api/v1/payments {"out": true, ...}."""
    import httpx

    async def pay(bolt11: str) -> None:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.post(
                f"{lnbits_url.rstrip('/')}/api/v1/payments",
                json={"out": True, "bolt11": bolt11},
                headers={"X-Api-Key": api_key},
            )
        if response.status_code >= 300:
            raise RuntimeError(
                f"LNbits payment failed: HTTP {response.status_code} {response.text}"
            )

    return pay


def lnbits_invoicer(
    lnbits_url: str, api_key: str, timeout: float = 30.0
) -> Callable[[int], Awaitable[str]]:
    """``invoice_for(sats)`` through LNbits: POST /api/v1/payments {"out": false}."""
    import httpx

    async def invoice_for(sats: int) -> str:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.post(
                f"{lnbits_url.rstrip('/')}/api/v1/payments",
                json={"out": False, "amount": sats, "memo": "bitSpire cash-in"},
                headers={"X-Api-Key": api_key},
            )
        if response.status_code >= 300:
            raise RuntimeError(
                f"LNbits invoice failed: HTTP {response.status_code} {response.text}"
            )
        body = response.json()
        bolt11 = body.get("bolt11") or body.get("payment_request")
        if not isinstance(bolt11, str):
            raise RuntimeError(f"LNbits returned no bolt11: {body}")
        return bolt11

    return invoice_for


def _common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after the command name.

    A subcommand's defaults would overwrite what was given before the command
    name, so there they are ``SUPPRESS``ed and only the top level has defaults.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--server",
        default=default(os.environ.get("BITSPIRE_SERVER")),
        help="server npub or hex (env BITSPIRE_SERVER)",
    )
    parser.add_argument(
        "--relay",
        action="append",
        dest="relays",
        metavar="URL",
        default=default(None),
        help=f"relay URL, repeatable (default {DEFAULT_RELAY})",
    )
    parser.add_argument(
        "--nsec",
        default=default(os.environ.get("BITSPIRE_NSEC")),
        help="machine secret key, nsec or hex (env BITSPIRE_NSEC; default: new key)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(10.0),
        help="give up on a call after this many seconds, or after 4 sends "
        "--retry-every apart, whichever comes first (default 10)",
    )
    parser.add_argument(
        "--retry-every",
        type=float,
        default=default(2.0),
        help="seconds without a response before the request is sent again",
    )


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, top=False)

    money = argparse.ArgumentParser(add_help=False)
    money.add_argument("--fiat", required=True, help="fiat amount, e.g. 200.00")
    money.add_argument("--rate", required=True, help="fiat per BTC, e.g. 650000.00")
    money.add_argument("--fee-bps", type=int, default=500, help="fee, basis points")
    money.add_argument("--fiat-code", default="GTQ")

    lnbits = argparse.ArgumentParser(add_help=False)
    lnbits.add_argument(
        "--lnbits-url", help="LNbits base URL, e.g. http://127.0.0.1:5000"
    )
    lnbits.add_argument(
        "--payer-key", help="API key of the customer's LNbits wallet (admin key to pay)"
    )

    parser = argparse.ArgumentParser(
        prog="bitspire_sim.py",
        description="bitSpire ATM simulator: the machine side of the bitSpire RPC "
        "over Nostr (v1), built on rust-nostr (nostr_sdk).",
    )
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", parents=[common], help="get_info")
    sub.add_parser("balance", parents=[common], help="get_balance")
    pair = sub.add_parser(
        "pair", parents=[common], help="pair this machine key with a seed URL"
    )
    pair.add_argument("--seed-url", required=True)
    beacon = sub.add_parser("beacon", parents=[common], help="publish a beacon")
    beacon.add_argument(
        "--cash-in", action=argparse.BooleanOptionalAction, default=True
    )
    beacon.add_argument(
        "--cash-out", action=argparse.BooleanOptionalAction, default=True
    )
    beacon.add_argument("--cash-level", default="ok")
    beacon.add_argument("--fiat-code", default="GTQ")
    beacon.add_argument("--model", default="bitspire-sim")
    beacon.add_argument("--d", default="bitspire-beacon", help="d tag")
    cash_out = sub.add_parser(
        "cash-out", parents=[common, money, lnbits], help="one cash-out transaction"
    )
    cash_out.add_argument("--dispensed", help="fiat dispensed (default: all)")
    cash_out.add_argument(
        "--pay-timeout", type=float, help="seconds to wait for the payment"
    )
    cash_in = sub.add_parser(
        "cash-in", parents=[common, money, lnbits], help="one cash-in transaction"
    )
    cash_in.add_argument(
        "--invoice",
        help="the customer's bolt11 for principal - fee sats "
        "(or give --lnbits-url and --payer-key to create it there)",
    )
    demo = sub.add_parser(
        "demo",
        parents=[common, lnbits],
        help="pair, then loop: beacon, telemetry and a paid cash-out",
    )
    demo.add_argument("--seed-url", help="pair first (else --server and --nsec)")
    demo.add_argument("--count", type=int, default=3, help="transactions")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between")
    demo.add_argument("--fiat", default="100.00")
    demo.add_argument("--rate", default="650000.00")
    demo.add_argument("--fee-bps", type=int, default=500)
    demo.add_argument("--fiat-code", default="GTQ")
    return parser


def _sim_from_args(args: argparse.Namespace) -> BitspireSimulator:
    if not args.server:
        raise SystemExit("--server NPUB is required (or a --seed-url)")
    return BitspireSimulator(
        server_pubkey=args.server,
        relays=args.relays or [DEFAULT_RELAY],
        secret_key=args.nsec,
        timeout=args.timeout,
        retry_every=args.retry_every,
    )


def _print_identity(sim: BitspireSimulator, new_key: bool) -> None:
    print(f"machine npub {sim.npub}")
    if new_key:
        print(f"machine nsec {sim.nsec}  (reuse it with --nsec)")


async def _pair_from_seed(args: argparse.Namespace) -> BitspireSimulator:
    kw: dict[str, Any] = {
        "secret_key": args.nsec,
        "timeout": args.timeout,
        "retry_every": args.retry_every,
    }
    sim, token = BitspireSimulator.from_seed_url(args.seed_url, **kw)
    if args.relays:
        sim.relays = list(args.relays)
    _print_identity(sim, new_key=not args.nsec)
    if sim.operator:
        print(f"operator     {sim.operator}")
    await sim.connect()
    try:
        try:
            await sim.pair(token)
        except RpcError:
            # A key paired before cannot use a token again: carry on if it is known.
            await sim.get_info()
    except BaseException:
        await sim.close()
        raise
    return sim


async def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "pair":
        sim = await _pair_from_seed(args)
        await sim.close()
        return 0
    if command == "demo":
        return await _demo(args)
    sim = _sim_from_args(args)
    if not args.nsec:
        _print_identity(sim, new_key=True)
    async with sim:
        if command == "info":
            await sim.get_info()
        elif command == "balance":
            await sim.get_balance()
        elif command == "beacon":
            await sim.publish_beacon(
                cash_in=args.cash_in,
                cash_out=args.cash_out,
                cash_level=args.cash_level,
                fiat=args.fiat_code,
                model=args.model,
                d=args.d,
            )
        elif command == "cash-out":
            pay = None
            if args.lnbits_url and args.payer_key:
                pay = lnbits_payer(args.lnbits_url, args.payer_key)
            summary = await sim.cash_out(
                fiat_amount=args.fiat,
                exchange_rate=args.rate,
                fee_bps=args.fee_bps,
                fiat_code=args.fiat_code,
                pay=pay,
                dispensed_fiat=args.dispensed,
                paid_timeout=args.pay_timeout,
            )
            print(json.dumps(summary, indent=2))
        elif command == "cash-in":
            invoice_for: Callable[[int], Awaitable[str]]
            if args.invoice:
                bolt11 = args.invoice

                async def given(sats: int) -> str:
                    print(f"(the invoice must be for {sats} sats)")
                    return bolt11

                invoice_for = given
            elif args.lnbits_url and args.payer_key:
                invoice_for = lnbits_invoicer(args.lnbits_url, args.payer_key)
            else:
                raise SystemExit("cash-in needs --invoice BOLT11")
            summary = await sim.cash_in(
                fiat_amount=args.fiat,
                exchange_rate=args.rate,
                fee_bps=args.fee_bps,
                fiat_code=args.fiat_code,
                invoice_for=invoice_for,
            )
            print(json.dumps(summary, indent=2))
    return 0


async def _demo(args: argparse.Namespace) -> int:
    if args.seed_url:
        sim = await _pair_from_seed(args)
    else:
        sim = _sim_from_args(args)
        await sim.connect()
    pay = None
    if args.lnbits_url and args.payer_key:
        pay = lnbits_payer(args.lnbits_url, args.payer_key)
    else:
        print("no --lnbits-url/--payer-key: each invoice waits for a manual payment")
    started = time.monotonic()
    done = failed = 0
    try:
        info = await sim.get_info()
        fiat_code = info.get("fiat_code") or args.fiat_code
        for n in range(1, args.count + 1):
            print(f"--- transaction {n}/{args.count}")
            try:
                await sim.publish_beacon(fiat=fiat_code)
                await sim.publish_telemetry(
                    {
                        "uptime_s": round(time.monotonic() - started),
                        "transactions": done,
                        "errors": failed,
                        "cash_level": "ok",
                    }
                )
                summary = await sim.cash_out(
                    fiat_amount=args.fiat,
                    exchange_rate=args.rate,
                    fee_bps=args.fee_bps,
                    fiat_code=fiat_code,
                    pay=pay,
                )
                if summary["paid"]:
                    done += 1
                else:
                    failed += 1
            except (RpcError, TimeoutError, ConnectionError, RuntimeError) as exc:
                failed += 1
                print(f"{'failed':<12} {exc}")
            if n < args.count:
                await asyncio.sleep(args.interval)
    finally:
        await sim.close()
    print(f"done: {done} settled, {failed} failed")
    return 0 if failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (RpcError, TimeoutError, ConnectionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
