"""Seed-URL onboarding: an operator issues a one-time token, an ATM redeems it.

The token travels only inside the seed URL (and its QR code); the database keeps
its SHA-256, so a leaked database cannot pair a machine. A token is valid for one
hour and for one machine: redeeming it is a guarded UPDATE that one caller wins.

Adding a machine by its npub is the same pairing, pinned to that key: a machine's
key is public (its beacons carry it), so knowing it proves nothing. The key is
bound to the operator only when the machine itself redeems the token. Until then
it is an *expected* machine; several operators may expect the same key, and the
answer never says whether another operator holds it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from urllib.parse import urlencode, urlsplit

from .. import crud, helpers
from ..errors import Conflict, InvalidInput, NotFound
from ..models import (
    DispenseConfirmation,
    MachineCreate,
    Pairing,
    PairingCreate,
    PairingStatus,
    SuperConfig,
)
from ..nostr.nip19 import npub_encode
from . import push
from .accounts import person_name
from .config import get_super_config
from .machines import create_machine, get_machine

TOKEN_TTL_S = 3600
SEED_SCHEME = "bitspire://pair"


class PairingError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class PairingInFlight(Exception):
    """This machine's own pair is being handled right now (its first copy);
    the answer to that one will follow, so the retry gets none."""


# A pair redeemed by this machine's key but without its machine after this long
# was cut short (a crash between redeeming the token and making the machine).
PAIR_IN_FLIGHT_S = 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seed_url(*, server_npub: str, relays: list[str], token: str, operator: str) -> str:
    query = [("v", "1"), ("server", server_npub)]
    query += [("relay", relay) for relay in relays]
    query += [("token", token), ("operator", operator)]
    return f"{SEED_SCHEME}?{urlencode(query)}"


# Names that only resolve on the machine itself or inside a local network.
LOCAL_NAME_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa")


def is_local_relay(url: str) -> bool:
    """Whether a relay is reachable only from this computer or its local network:
    a loopback, private or link-local address, or a name that is local by nature
    (``localhost``, ``*.local``, a name without a dot such as a container's)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (
            host == "localhost" or host.endswith(LOCAL_NAME_SUFFIXES) or "." not in host
        )
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
    )


def seed_relays(config: SuperConfig) -> list[str]:
    """Every relay the server listens on, for a seed URL; refused when a machine
    elsewhere could not reach any of them."""
    if not config.relays:
        raise Conflict(
            "the platform is not yet configured: the LNbits admin has to set the "
            "relays your machines connect to before a machine can pair"
        )
    if not config.local_only and all(is_local_relay(r) for r in config.relays):
        raise Conflict(
            "the platform's relays are reachable only from the server's own "
            "computer or network, so a machine elsewhere could never pair: the "
            "LNbits admin has to add a public relay, or mark this instance as "
            "local-only"
        )
    return list(config.relays)


async def create_pairing(
    operator_id: str,
    data: PairingCreate | MachineCreate,
    *,
    expected_pubkey: str | None = None,
) -> Pairing:
    config = await get_super_config()
    relays = seed_relays(config)
    await crud.ensure_operator(user_id=operator_id, now=helpers.now())
    token = secrets.token_urlsafe(24)
    now = helpers.now()
    confirmation = getattr(
        data, "dispense_confirmation", DispenseConfirmation.report
    ).value
    row = {
        "id": helpers.new_id(),
        "operator_id": operator_id,
        "token_hash": _hash(token),
        "name": data.name,
        "fiat_code": data.fiat_code,
        "location": data.location,
        "expected_pubkey": expected_pubkey,
        "dispense_confirmation": confirmation,
        "expires_at": now + TOKEN_TTL_S,
        "created_at": now,
    }
    await crud.insert_pairing(row=row)
    url = seed_url(
        server_npub=config.server_npub,
        relays=relays,
        token=token,
        operator=await person_name(operator_id),
    )
    return _pairing(
        {**row, "used_at": None, "machine_id": None},
        now=now,
        seed_url=url,
    )


async def expect_machine(operator_id: str, data: MachineCreate) -> Pairing:
    """Add by npub: a pairing only the machine with that key can redeem. Whether
    another operator holds or expects the key changes nothing in the answer."""
    config = await get_super_config()
    if data.npub == config.server_pubkey:
        raise InvalidInput("that is this server's own key, not a machine's")
    bound = await crud.get_machine_by_pubkey(pubkey=data.npub)
    if bound is not None and bound.operator_id == operator_id:
        raise Conflict(f"machine {npub_encode(data.npub)} is already one of yours")
    return await create_pairing(operator_id, data, expected_pubkey=data.npub)


def _status(row: dict, now: int) -> PairingStatus:
    if row["machine_id"]:
        return PairingStatus.paired
    if row["used_at"] is not None or row["expires_at"] <= now:
        return PairingStatus.expired
    return PairingStatus.waiting


def _pairing(row: dict, *, now: int, **extra) -> Pairing:
    expected = row.get("expected_pubkey")
    return Pairing(
        **{k: v for k, v in row.items() if k in Pairing.__fields__},
        expected_npub=npub_encode(expected) if expected else None,
        status=_status(row, now),
        **extra,
    )


async def list_pairings(operator_id: str) -> list[Pairing]:
    now = helpers.now()
    return [
        _pairing(row.dict(), now=now)
        for row in await crud.list_pairings(operator_id=operator_id)
    ]


async def pair_machine(*, token: str, pubkey: str) -> dict:
    """The ``pair`` RPC: binds ``pubkey`` to the operator who issued ``token``."""
    row = await crud.get_pairing_by_token_hash(token_hash=_hash(token))
    pairing = None if row is None else row.dict()
    if pairing is None or pairing["expected_pubkey"] not in (None, pubkey):
        # A token made for another machine's key is no token for this one.
        raise PairingError("not_found", "unknown pairing token")
    if pairing["pubkey"] == pubkey and pairing["machine_id"]:
        # The machine's retry after a lost response: the same answer again.
        return await _paired(pairing["operator_id"], pairing["machine_id"])
    if pairing["pubkey"] == pubkey and pairing["used_at"] is not None:
        return await _finish_own_pairing(pairing, pubkey)
    if pairing["used_at"] is not None:
        raise PairingError("conflict", "this pairing token was already used")
    if pairing["expires_at"] <= helpers.now():
        raise PairingError("bad_request", "this pairing token has expired")
    if await crud.get_machine_by_pubkey(pubkey=pubkey) is not None:
        raise PairingError("conflict", "this key is already a registered machine")
    if not await crud.use_pairing(
        pairing_id=pairing["id"], pubkey=pubkey, now=helpers.now()
    ):
        raise PairingError("conflict", "this pairing token was already used")
    try:
        machine = await create_machine(
            pairing["operator_id"],
            MachineCreate(
                npub=pubkey,
                name=pairing["name"],
                fiat_code=pairing["fiat_code"],
                location=pairing["location"],
                dispense_confirmation=pairing["dispense_confirmation"],
            ),
        )
    except Conflict as exc:  # another token of this key won the race
        raise PairingError(
            "conflict", "this key is already a registered machine"
        ) from exc
    await crud.set_pairing_machine(pairing_id=pairing["id"], machine_id=machine.id)
    push.notify([pairing["operator_id"]], push.MACHINES)
    return await _paired(pairing["operator_id"], machine.id)


async def _finish_own_pairing(pairing: dict, pubkey: str) -> dict:
    """A retry of this machine's pair whose first copy redeemed the token but has
    not recorded the machine: while that copy may still be running the retry waits
    for its answer; once the machine exists it is recorded and answered."""
    machine = await crud.get_machine_by_pubkey(pubkey=pubkey)
    if machine is not None and machine.operator_id == pairing["operator_id"]:
        await crud.set_pairing_machine(pairing_id=pairing["id"], machine_id=machine.id)
        return await _paired(pairing["operator_id"], machine.id)
    if helpers.now() - pairing["used_at"] < PAIR_IN_FLIGHT_S:
        raise PairingInFlight()
    raise PairingError("conflict", "this pairing token was already used")


async def _paired(operator_id: str, machine_id: str) -> dict:
    try:
        machine = await get_machine(operator_id, machine_id)
    except NotFound as exc:
        raise PairingError("not_found", "the paired machine was removed") from exc
    return {
        "machine_id": machine.id,
        "name": machine.name,
        "fiat_code": machine.fiat_code,
    }
