"""The Nostr side of the bitSpire RPC server (contract §1, §2, §6, §7).

One ``RpcServer`` per LNbits process: it keeps a relay pool subscribed to requests
addressed to the server's key and to the machines' beacons and telemetry, follows
the super user's relay list and key, and for every request runs the contract's
steps in order — dedupe and signature (in the pool; the dedupe again in the
database, which survives restarts and is shared by processes), p tag, clock, decryption,
parsing, then ``methods.dispatch`` — and publishes the encrypted answer to
every connected relay. A request from an author that is not an active machine
takes a cheaper path within the limits of ``limits`` (no database write).

A machine's request costs the extension's database its share of one transaction
before its answer (the dedupe claim and the machine, for all the requests that
arrived together: ``admission``) plus what the method itself reads or writes; its
line in the RPC log is written afterwards, with others (``request_log``). Beacons
are filed by the machine directory the refresh keeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from lnbits.settings import settings
from loguru import logger

from .. import crud, helpers, services
from ..database import transaction
from ..models import MachineKeyRow, MachineRow, MachineStatus, RpcLogRow
from ..nostr import bounded_json, nip44
from ..nostr.events import Event, sign_event
from ..nostr.keys import KeyPair
from ..nostr.relay_pool import RelayPool
from ..services import push
from ..waiting import wait_until_set
from . import beacons, limits
from .admission import Admissions, AlreadyHandled
from .cassette_events import CassettePublisher
from .errors import DuplicateInFlight, RpcError
from .fee_events import FeePublisher
from .methods import dispatch
from .params import parse_request
from .request_log import RequestLog

RPC_KIND = 21000
BEACON_KIND = 30078
TELEMETRY_KIND = 30079
REFRESH_EVERY_S = 1.0
# Requests handled at once. Each machine has at most a request or two in flight;
# requests that wait on LNbits' database (payments, invoices) must not take every
# slot from a fleet's get_info and beacons, which do not touch it. Still a bound:
# beyond it the pool stops reading until a slot frees.
HANDLER_SLOTS = 256


def _tag_values(event: Event, name: str) -> list[str]:
    return [tag[1] for tag in event.tags if len(tag) >= 2 and tag[0] == name]


_INTERNAL = RpcError("internal", "internal server error")


def _error_response(request_id: str, err: RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.data is not None:
        error["data"] = err.data
    return {"id": request_id, "error": error}


def _request_id_of(plaintext: str) -> str:
    """The id to answer a malformed request with, if it carried a usable one."""
    try:
        data = bounded_json.loads(plaintext)
    except ValueError:
        return ""
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else ""


class RpcServer:
    def __init__(self) -> None:
        self.keys: KeyPair | None = None
        self.pool: RelayPool | None = None
        self.conversation_keys = nip44.ConversationKeyCache()
        self.dropped: Counter[str] = Counter()
        self.handled = 0
        self.last_request_at: int | None = None
        self._clock_tolerance_s = 300
        self._relays: tuple[str, ...] = ()
        self._authors: tuple[str, ...] = ()
        # Refreshed every second; a key missing here is looked up in the database
        # (within the strangers' budget), so a machine just added is not refused.
        self._active_machines: frozenset[str] = frozenset()
        # Every machine by key, refreshed with it: whose a beacon is never changes.
        self._machines: dict[str, MachineKeyRow] = {}
        self._beacon_offline_s = 0
        # Keys added by npub that have not confirmed yet: their pair is let through
        # the strangers' per-author minute (not their budget).
        self._expected_machines: frozenset[str] = frozenset()
        self.strangers = limits.StrangerGate()
        self._subscribed_key: str | None = None
        self._stopping = asyncio.Event()
        self.fees = FeePublisher(self)
        self.cassettes = CassettePublisher(self)
        self.request_log = RequestLog()
        self.admissions = Admissions()

    # --- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Runs until ``stop``; the pool reconnects by itself, this follows config."""
        self._stopping.clear()
        self.pool = RelayPool(
            on_event=self.handle_event,
            on_status=self._relays_changed,
            max_concurrency=HANDLER_SLOTS,
        )
        services.on_new_fee_version(self.fees.publish_machine)
        services.on_new_cassette_version(self.cassettes.publish_machine)
        try:
            while not self._stopping.is_set():
                try:
                    await self.refresh()
                except Exception:
                    logger.exception(
                        "satmachineadmin: refreshing the RPC server failed"
                    )
                await wait_until_set(self._stopping, REFRESH_EVERY_S)
        finally:
            services.remove_fee_listener(self.fees.publish_machine)
            services.remove_cassette_listener(self.cassettes.publish_machine)
            await self.pool.stop()
            await self.request_log.flush()

    async def stop(self) -> None:
        self._stopping.set()
        if self.pool is not None:
            await self.pool.stop()

    async def refresh(self) -> None:
        """Follows the super user's relays and key, and the set of machines."""
        assert self.pool is not None
        # Every second, so in one turn on the extension's database: each turn
        # there is one the machines' requests wait behind.
        async with transaction() as conn:
            config = await services.get_super_config(conn=conn)
            private_key = await crud.get_server_private_key(conn=conn)
            machines = await crud.list_machine_pubkeys(conn=conn)
            expected = await crud.list_expected_pubkeys(now=helpers.now(), conn=conn)
        self._clock_tolerance_s = config.clock_tolerance_s
        self._beacon_offline_s = config.beacon_offline_s
        assert private_key is not None
        if self.keys is None or self.keys.private_key_hex != private_key:
            self.keys = KeyPair.from_private_key(private_key)
        relays = tuple(config.relays)
        if relays != self._relays:
            if self._relays:
                await self.pool.set_relays(relays)
            else:
                await self.pool.start(relays)
            self._relays = relays
        self._machines = {row.pubkey: row for row in machines}
        self._active_machines = frozenset(
            row.pubkey for row in machines if row.status == MachineStatus.active.value
        )
        self._expected_machines = frozenset(expected)
        authors = tuple(row.pubkey for row in machines)
        if authors != self._authors or self.keys.public_key_hex != self._subscribed_key:
            await self.pool.set_subscriptions(self._subscriptions(authors))
            self._authors = authors
            self._subscribed_key = self.keys.public_key_hex
        await self.fees.after_refresh()
        await self.cassettes.after_refresh()

    def _subscriptions(self, authors: tuple[str, ...]) -> dict[str, list[dict]]:
        assert self.keys is not None
        since = helpers.now() - self._clock_tolerance_s
        subscriptions = {
            "bitspire-rpc": [
                {"kinds": [RPC_KIND], "#p": [self.keys.public_key_hex], "since": since}
            ]
        }
        if authors:  # an empty authors list means "everyone" to some relays
            subscriptions["bitspire-machines"] = [
                {"kinds": [BEACON_KIND, TELEMETRY_KIND], "authors": list(authors)}
            ]
        return subscriptions

    def status(self) -> dict[str, Any]:
        return {
            "server_pubkey": self.keys.public_key_hex if self.keys else None,
            "relays": [vars(s) for s in self.pool.status()] if self.pool else [],
            "requests_handled": self.handled,
            "last_request_at": self.last_request_at,
            "dropped": dict(self.dropped),
            "log_lines_dropped": self.request_log.dropped,
        }

    # --- events ----------------------------------------------------------------------

    @staticmethod
    def _relays_changed() -> None:
        # The super user's page shows the relays; operators' pages poll for them.
        push.notify([settings.super_user], push.RELAYS)

    async def handle_event(self, event: Event, relay: str) -> None:
        """Called by the pool once per verified, not yet seen event."""
        if event.kind == RPC_KIND:
            await self._handle_request(event, relay)
        elif event.kind in (BEACON_KIND, TELEMETRY_KIND):
            await self._handle_announcement(event)

    async def _handle_announcement(self, event: Event) -> None:
        machine: MachineKeyRow | MachineRow | None = self._machines.get(event.pubkey)
        if machine is None:  # paired since the last refresh, or nobody's
            machine = await crud.get_machine_by_pubkey(pubkey=event.pubkey)
        if machine is None:
            self.dropped["announcement_from_unknown"] += 1
            return
        d_tags = _tag_values(event, "d")
        d_tag = d_tags[0] if d_tags else ""
        if event.kind == BEACON_KIND:
            await beacons.record_beacon(
                machine_id=machine.id,
                d_tag=d_tag,
                event_id=event.id,
                created_at=event.created_at,
                content=event.content,
                operator_id=machine.operator_id,
                offline_after_s=self._beacon_offline_s,
            )
        else:
            await beacons.record_telemetry(
                machine_id=machine.id,
                d_tag=d_tag,
                event_id=event.id,
                created_at=event.created_at,
                content=event.content,
            )

    async def _handle_request(self, event: Event, relay: str) -> None:
        started = time.perf_counter()
        keys = self.keys
        if keys is None:
            return
        if keys.public_key_hex not in _tag_values(event, "p"):
            self.dropped["not_for_us"] += 1
            return
        if abs(time.time() - event.created_at) > self._clock_tolerance_s:
            self.dropped["stale"] += 1
            return
        if event.pubkey in self._active_machines:
            await self._handle_machine_request(event, relay, keys, started)
        else:
            await self._handle_stranger_request(event, relay, keys, started)

    async def _handle_machine_request(
        self, event: Event, relay: str, keys: KeyPair, started: float
    ) -> None:
        try:
            machine = await self.admissions.admit(event)
        except AlreadyHandled:
            self.dropped["already_handled"] += 1
            return
        conversation_key = self.conversation_keys.get(
            keys.private_key_hex, event.pubkey
        )
        try:
            plaintext = nip44.decrypt(event.content, conversation_key)
        except nip44.Nip44Error:
            self.dropped["undecryptable"] += 1
            return

        request_id, method, tx_id = "", None, None
        try:
            request = parse_request(plaintext)
            request_id, method = request.id, request.method
            raw_tx = request.params.get("tx_id")
            tx_id = raw_tx if isinstance(raw_tx, str) else None
            result = await dispatch(request, pubkey=event.pubkey, machine=machine)
            response: dict[str, Any] = {"id": request_id, "result": result}
            error_code = None
        except DuplicateInFlight:
            self.dropped["in_flight"] += 1
            return
        except RpcError as err:
            request_id = request_id or _request_id_of(plaintext)
            response = _error_response(request_id, err)
            error_code = err.code
        except Exception:
            logger.exception(f"satmachineadmin: RPC {method} from {event.pubkey}")
            response = _error_response(request_id, _INTERNAL)
            error_code = "internal"

        await self._respond(keys, event, response, conversation_key)
        self._count_answer()
        self._log(
            event,
            relay,
            machine,
            started,
            request_id=request_id,
            method=method,
            tx_id=tx_id,
            error_code=error_code,
        )

    async def _handle_stranger_request(
        self, event: Event, relay: str, keys: KeyPair, started: float
    ) -> None:
        """An author that is not an active machine (unknown, disabled, or added
        since the last refresh): no database write and no cached conversation key
        (a flood of fresh keys would evict the machines'), within the budget of
        ``limits.StrangerGate``."""
        why = self.strangers.admit(
            event.pubkey, expected=event.pubkey in self._expected_machines
        )
        if why is not None:
            self.dropped[why] += 1
            return
        machine = await crud.get_machine_by_pubkey(pubkey=event.pubkey)
        if machine is not None and machine.status == MachineStatus.active.value:
            await self._handle_machine_request(event, relay, keys, started)
            return
        conversation_key = nip44.get_conversation_key(
            keys.private_key_hex, event.pubkey
        )
        try:
            plaintext = nip44.decrypt(event.content, conversation_key)
        except nip44.Nip44Error:
            self.dropped["undecryptable"] += 1
            return
        try:
            request_id, method, response = await self._stranger_response(
                plaintext, machine, event
            )
        except AlreadyHandled:
            self.dropped["already_handled"] += 1
            return
        except DuplicateInFlight:
            self.dropped["in_flight"] += 1
            return
        paired = method == "pair" and "result" in response
        if method != "pair" and not self.strangers.claim_answer(event.pubkey):
            self.dropped[limits.RATE_LIMITED] += 1
            return
        await self._respond(keys, event, response, conversation_key)
        self._count_answer()
        if paired:
            self._active_machines = self._active_machines | {event.pubkey}
            machine = await crud.get_machine_by_pubkey(pubkey=event.pubkey)
        if machine is not None:  # a disabled machine, or one just paired
            error = response.get("error")
            self._log(
                event,
                relay,
                machine,
                started,
                request_id=request_id,
                method=method,
                tx_id=None,
                error_code=error["code"] if error else None,
            )

    async def _stranger_response(
        self, plaintext: str, machine: MachineRow | None, event: Event
    ) -> tuple[str, str | None, dict[str, Any]]:
        """(request id, method, response) for an author that is not an active
        machine: ``pair`` for an unknown key, else ``unknown_machine``. A ``pair``
        is claimed in the database first, like a machine's request: with two LNbits
        processes on one database both receive it, and the one that did not redeem
        the token must not answer ``conflict`` to the machine that just paired."""
        pubkey = event.pubkey
        try:
            request = parse_request(plaintext)
        except RpcError as err:
            request_id = _request_id_of(plaintext)
            return request_id, None, _error_response(request_id, err)
        if machine is not None or request.method != "pair":
            message = (
                "this machine is disabled by its operator"
                if machine is not None
                else "this key is not a machine of this server"
            )
            error = RpcError("unknown_machine", message)
            return request.id, request.method, _error_response(request.id, error)
        await self.admissions.admit(event)  # AlreadyHandled if claimed before
        try:
            result = await dispatch(request, pubkey=pubkey, machine=None)
        except RpcError as err:
            return request.id, "pair", _error_response(request.id, err)
        except DuplicateInFlight:
            raise  # this machine's first copy of the pair will answer
        except Exception:
            logger.exception(f"satmachineadmin: RPC pair from {pubkey}")
            return request.id, "pair", _error_response(request.id, _INTERNAL)
        return request.id, "pair", {"id": request.id, "result": result}

    def _count_answer(self) -> None:
        self.handled += 1
        self.last_request_at = helpers.now()

    def _log(
        self,
        event: Event,
        relay: str,
        machine: MachineRow | None,
        started: float,
        *,
        request_id: str,
        method: str | None,
        tx_id: str | None,
        error_code: str | None,
    ) -> None:
        self.request_log.add(
            RpcLogRow(
                id=helpers.new_id(),
                created_at=helpers.now(),
                operator_id=machine.operator_id if machine else None,
                machine_id=machine.id if machine else None,
                pubkey=event.pubkey,
                event_id=event.id,
                relay=relay,
                request_id=request_id or None,
                method=method,
                tx_id=tx_id,
                latency_ms=round((time.perf_counter() - started) * 1000),
                error_code=error_code,
            )
        )

    async def _respond(
        self,
        keys: KeyPair,
        request: Event,
        response: dict[str, Any],
        conversation_key: bytes,
    ) -> None:
        """Answers with the key the request was decrypted with, even if the
        server's key was rotated meanwhile."""
        assert self.pool is not None
        answer = sign_event(
            private_key_hex=keys.private_key_hex,
            kind=RPC_KIND,
            content=nip44.encrypt(
                json.dumps(response, separators=(",", ":")), conversation_key
            ),
            tags=[["p", request.pubkey], ["e", request.id]],
        )
        sent = await self.pool.publish(answer)
        if not sent:
            self.dropped["no_relay_for_response"] += 1


rpc_server = RpcServer()
