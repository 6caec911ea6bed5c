"""Seed-URL onboarding: an operator issues a one-time token, an ATM redeems it.

The token travels only inside the seed URL (and its QR code); the database keeps
its SHA-256, so a leaked database cannot pair a machine. A token is valid for one
hour and for one machine: redeeming it is a guarded UPDATE that one caller wins.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from urllib.parse import urlencode

import pyqrcode
from lnbits.core.crud import get_account

from . import crud, services
from .errors import NotFound
from .models import MachineCreate, Pairing, PairingCreate

TOKEN_TTL_S = 3600
SEED_SCHEME = "bitspire://pair"


class PairingError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seed_url(*, server_npub: str, relays: list[str], token: str, operator: str) -> str:
    query = [("v", "1"), ("server", server_npub)]
    query += [("relay", relay) for relay in relays]
    query += [("token", token), ("operator", operator)]
    return f"{SEED_SCHEME}?{urlencode(query)}"


def qr_svg(data: str) -> str:
    buffer = io.BytesIO()
    pyqrcode.create(data, error="M").svg(buffer, scale=4, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


async def _operator_name(operator_id: str) -> str:
    account = await get_account(operator_id)
    return (account.username if account else None) or operator_id[:8]


async def create_pairing(operator_id: str, data: PairingCreate) -> Pairing:
    config = await services.get_super_config()
    await crud.ensure_operator(user_id=operator_id, now=services.now())
    token = secrets.token_urlsafe(24)
    now = services.now()
    pairing_id, expires_at = services.new_id(), now + TOKEN_TTL_S
    row = {
        "id": pairing_id,
        "operator_id": operator_id,
        "token_hash": _hash(token),
        "name": data.name,
        "fiat_code": data.fiat_code,
        "location": data.location,
        "expires_at": expires_at,
        "created_at": now,
    }
    await crud.insert_pairing(row=row)
    url = seed_url(
        server_npub=config.server_npub,
        relays=config.relays,
        token=token,
        operator=await _operator_name(operator_id),
    )
    return Pairing(
        id=pairing_id,
        name=data.name,
        fiat_code=data.fiat_code,
        location=data.location,
        expires_at=expires_at,
        created_at=now,
        used_at=None,
        machine_id=None,
        seed_url=url,
        qr_svg=qr_svg(url),
    )


async def list_pairings(operator_id: str) -> list[Pairing]:
    return [
        Pairing(**{k: v for k, v in row.items() if k in Pairing.__fields__})
        for row in await crud.list_pairings(operator_id=operator_id)
    ]


async def pair_machine(*, token: str, pubkey: str) -> dict:
    """The ``pair`` RPC: binds ``pubkey`` to the operator who issued ``token``."""
    pairing = await crud.get_pairing_by_token_hash(token_hash=_hash(token))
    if pairing is None:
        raise PairingError("not_found", "unknown pairing token")
    if pairing["pubkey"] == pubkey and pairing["machine_id"]:
        # The machine's retry after a lost response: the same answer again.
        return await _paired(pairing["operator_id"], pairing["machine_id"])
    if pairing["used_at"] is not None:
        raise PairingError("conflict", "this pairing token was already used")
    if pairing["expires_at"] <= services.now():
        raise PairingError("bad_request", "this pairing token has expired")
    if await crud.get_machine_by_pubkey(pubkey=pubkey) is not None:
        raise PairingError("conflict", "this key is already a registered machine")
    if not await crud.use_pairing(
        pairing_id=pairing["id"], pubkey=pubkey, now=services.now()
    ):
        raise PairingError("conflict", "this pairing token was already used")
    machine = await services.create_machine(
        pairing["operator_id"],
        MachineCreate(
            npub=pubkey,
            name=pairing["name"],
            fiat_code=pairing["fiat_code"],
            location=pairing["location"],
        ),
    )
    await crud.set_pairing_machine(pairing_id=pairing["id"], machine_id=machine.id)
    return await _paired(pairing["operator_id"], machine.id)


async def _paired(operator_id: str, machine_id: str) -> dict:
    try:
        machine = await services.get_machine(operator_id, machine_id)
    except NotFound as exc:
        raise PairingError("not_found", "the paired machine was removed") from exc
    return {
        "machine_id": machine.id,
        "name": machine.name,
        "fiat_code": machine.fiat_code,
    }
