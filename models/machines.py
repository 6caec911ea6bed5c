"""Machines and pairings."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, validator

from ..nostr.nip19 import normalize_pubkey
from .base import (
    ApiModel,
    DispenseConfirmation,
    MachineStatus,
    RowModel,
    not_null,
    valid_fiat_code,
)


class MachineCreate(ApiModel):
    npub: str = Field(..., description="The machine's public key, npub or hex.")
    name: str = Field(..., min_length=1, max_length=64)
    fiat_code: str | None = None
    location: str | None = Field(None, max_length=200)
    dispense_confirmation: DispenseConfirmation = DispenseConfirmation.report

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(valid_fiat_code)

    @validator("npub")
    def _pubkey(cls, value: str) -> str:
        return normalize_pubkey(value)

    @validator("name")
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class MachineUpdate(ApiModel):
    name: str | None = not_null(min_length=1, max_length=64)
    location: str | None = Field(None, max_length=200)
    fiat_code: str | None = None
    status: MachineStatus | None = not_null()
    dispense_confirmation: DispenseConfirmation | None = not_null()

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(valid_fiat_code)


class Machine(ApiModel):
    id: str
    operator_id: str
    pubkey: str
    npub: str
    wallet_id: str
    name: str
    location: str | None
    fiat_code: str | None
    status: MachineStatus
    dispense_confirmation: DispenseConfirmation
    created_at: int
    updated_at: int
    online: bool = False
    last_seen: int | None = None
    beacon: dict | None = None
    balance_sats: int | None = Field(
        None, description="The machine wallet's balance; null if the wallet is gone."
    )


class PairingCreate(ApiModel):
    name: str = Field(..., min_length=1, max_length=64)
    fiat_code: str | None = None
    location: str | None = Field(None, max_length=200)

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(valid_fiat_code)


class PairingStatus(str, Enum):
    waiting = "waiting"
    paired = "paired"
    expired = "expired"


class Pairing(ApiModel):
    id: str
    name: str
    fiat_code: str | None
    location: str | None
    expires_at: int
    created_at: int
    used_at: int | None
    machine_id: str | None
    expected_npub: str | None = Field(
        None,
        description="Added by npub: only the machine with this key can redeem it.",
    )
    dispense_confirmation: DispenseConfirmation = DispenseConfirmation.report
    status: PairingStatus = Field(
        PairingStatus.waiting,
        description="waiting: for the machine to confirm with the one-time token.",
    )
    seed_url: str | None = Field(
        None,
        description="Only in the response that creates it; the page shows it as "
        "a QR code for the machine to scan.",
    )


class MachineRow(RowModel):
    id: str
    operator_id: str
    pubkey: str
    wallet_id: str
    name: str
    location: str | None
    fiat_code: str | None
    status: str
    dispense_confirmation: str
    created_at: int
    updated_at: int


class AdmittedMachine(MachineRow):
    """A machine as one of its requests was admitted, with its fee schedule's
    current version read in the same transaction (None before it has one)."""

    fee_version: int | None = None


class MachineKeyRow(RowModel):
    """What the RPC server subscribes by: a machine's key and whether it is active,
    and whose it is (never changes), to file its beacons without a lookup."""

    id: str
    pubkey: str
    status: str
    operator_id: str


class PairingRow(RowModel):
    id: str
    operator_id: str
    token_hash: str
    name: str
    fiat_code: str | None
    location: str | None
    expires_at: int
    used_at: int | None
    pubkey: str | None
    machine_id: str | None
    created_at: int
    expected_pubkey: str | None
    dispense_confirmation: str


class BeaconRow(RowModel):
    """The newest beacon of one kind (d tag) from a machine."""

    machine_id: str
    d_tag: str
    event_id: str
    created_at: int
    content: str
    received_at: int


class TelemetryRow(RowModel):
    event_id: str
    machine_id: str
    d_tag: str
    created_at: int
    content: str
    received_at: int
