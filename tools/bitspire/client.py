"""The machine's side of the Nostr transport: its keys, the relay connection, the
signed and encrypted kind-21000 requests, matching the server's answers to them,
and ``call`` with its resends. The customer flows are in ``simulator``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

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

from .protocol import (
    KIND_BEACON,
    KIND_RPC,
    KIND_TELEMETRY,
    SUBSCRIPTION_LOOKBACK_S,
    RpcError,
    ms,
)


@dataclass
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    event_ids: list[str] = field(default_factory=list)


class _Notifications(HandleNotification):
    """Relay notifications from nostr_sdk, forwarded to the simulator.

    ``Client.handle_notifications`` awaits these on the loop that awaits it. They
    must never raise: nostr_sdk 0.44 turns an exception here into a Rust panic.
    """

    def __init__(self, sim: RpcClient) -> None:
        self._sim = sim

    async def handle(self, relay_url: Any, subscription_id: str, event: Event) -> None:
        with contextlib.suppress(Exception):
            self._sim.handle_event(event)

    async def handle_msg(self, relay_url: Any, msg: Any) -> None:
        with contextlib.suppress(Exception):
            kind = msg.as_enum()
            if kind.is_closed() or kind.is_notice():
                self._sim._log(f"relay said   {relay_url}: {msg.as_json()}")


def _tag_values(event: Event) -> list[list[str]]:
    return [list(tag.as_vec()) for tag in event.tags().to_vec()]


class RpcClient:
    """The ATM side of the contract's transport, over rust-nostr (``nostr_sdk``)."""

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

    def _waiting_request(self, event: Event) -> str | None:
        """The id of the waiting request ``event`` is addressed as answering: a
        kind-21000 event by the server, tagged ``["p", us]`` and ``["e", <any
        event sent for a request still waiting>]``."""
        if event.kind().as_u16() != KIND_RPC:
            return None
        if event.author().to_hex() != self._server_hex:
            return None
        tags = _tag_values(event)
        if not any(
            len(t) >= 2 and t[0] == "p" and t[1] == self._pubkey_hex for t in tags
        ):
            return None
        return next(
            (
                self._request_of_event[t[1]]
                for t in tags
                if len(t) >= 2 and t[0] == "e" and t[1] in self._request_of_event
            ),
            None,
        )

    def _answer_of(self, event: Event, request_id: str) -> dict[str, Any] | None:
        """The decrypted answer to ``request_id``, or None (logged) when the event
        is not a valid one: bad id or signature, another id, no result."""
        if not event.verify():
            self._log(f"ignored      response {event.id().to_hex()}: bad id/sig")
            return None
        response = json.loads(self.decrypt_from_server(event.content()))
        if not isinstance(response, dict) or response.get("id") != request_id:
            self._log(
                f"ignored      response {event.id().to_hex()}: "
                f"its id is not {request_id!r}"
            )
            return None
        if "result" not in response and "error" not in response:
            self._log(f"ignored      response {event.id().to_hex()}: no result")
            return None
        return response

    def handle_event(self, event: Event) -> bool:
        """Route an incoming event to the request it answers; ``True`` if it did.

        A response must be a kind-21000 event by the server, tagged ``["p", us]`` and
        ``["e", <any event sent for a request still waiting>]``, with a valid id and
        signature, decrypting to JSON whose ``id`` is that request's id. Anything else
        is ignored. Never raises.
        """
        try:
            request_id = self._waiting_request(event)
            if request_id is None:
                return False
            pending = self._pending.get(request_id)
            if pending is None or pending.future.done():
                return False
            response = self._answer_of(event, request_id)
            if response is None:
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
        pending = _Pending(asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        try:
            return await self._send_until_answered(request, pending, retries)
        finally:
            del self._pending[request_id]
            for event_id in pending.event_ids:
                self._request_of_event.pop(event_id, None)
            if not pending.future.done():
                pending.future.cancel()

    async def _send_until_answered(
        self, request: dict[str, Any], pending: _Pending, retries: int
    ) -> dict[str, Any]:
        """Sends ``request`` as a new event every ``retry_every`` seconds until it
        is answered or the deadline passes (then ``TimeoutError``)."""
        method, request_id = request["method"], request["id"]
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + min(self.timeout, (retries + 1) * self.retry_every)
        for attempt in range(retries + 1):
            now = loop.time()
            if now >= deadline:
                break
            if attempt:
                self._log(
                    f"retry        {method}: no response in "
                    f"{ms(now - start)} ms, sending again "
                    f"(attempt {attempt + 1}/{retries + 1})"
                )
            event = self.build_request_event(request)
            event_id = event.id().to_hex()
            # Registered before it is sent: a fast response must find it.
            pending.event_ids.append(event_id)
            self._request_of_event[event_id] = request_id
            self._spawn_send(event, method)
            wait = deadline - now
            if attempt < retries:
                wait = min(self.retry_every, wait)
            try:
                response = await asyncio.wait_for(asyncio.shield(pending.future), wait)
            except asyncio.TimeoutError:
                continue
            self._note_call(method, request_id, pending, ms(loop.time() - start))
            return response
        self._note_call(method, request_id, pending, None)
        raise TimeoutError(
            f"no response to {method} (request {request_id}) after "
            f"{len(pending.event_ids)} attempt(s) in {ms(loop.time() - start)} ms"
        )

    def _note_call(
        self, method: str, request_id: str, pending: _Pending, latency: int | None
    ) -> None:
        self.last_call = {
            "method": method,
            "request_id": request_id,
            "attempts": len(pending.event_ids),
            "event_ids": list(pending.event_ids),
            "latency_ms": latency,
        }

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
        elapsed = ms(time.monotonic() - started)
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
            f"level={cash_level} [{ms(time.monotonic() - started)} ms]"
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
            f"[{ms(time.monotonic() - started)} ms]"
        )
        return event_id
