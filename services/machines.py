"""An operator's machines: add, edit, remove, telemetry."""

from __future__ import annotations

import contextlib
import json

from lnbits.core.crud import delete_wallet, get_wallets
from lnbits.core.crud.wallets import create_wallet
from lnbits.db import Connection
from sqlalchemy.exc import IntegrityError

from .. import audit, crud
from ..database import transaction
from ..errors import Conflict, InvalidInput, NotFound
from ..helpers import new_id, now
from ..models import (
    Machine,
    MachineCreate,
    MachineRow,
    MachineUpdate,
)
from ..nostr.nip19 import npub_encode
from .accounts import to_model
from .beacons import beacon_status
from .config import get_super_config
from .fees import sync_machine_fees


async def operator_machine(
    machine_id: str, operator_id: str, conn: Connection | None = None
) -> MachineRow:
    row = await crud.get_machine(
        machine_id=machine_id, operator_id=operator_id, conn=conn
    )
    if row is None:
        raise NotFound(f"no machine '{machine_id}' in your account")
    return row


async def create_machine(operator_id: str, data: MachineCreate) -> Machine:
    config = await get_super_config()
    if data.npub == config.server_pubkey:
        raise InvalidInput("that is this server's own key, not a machine's")
    await crud.ensure_operator(user_id=operator_id, now=now())
    npub = npub_encode(data.npub)
    wallet = await create_wallet(
        user_id=operator_id, wallet_name=f"{data.name} ({npub})"
    )
    timestamp = now()
    machine_id = new_id()
    row = MachineRow(
        id=machine_id,
        operator_id=operator_id,
        pubkey=data.npub,
        wallet_id=wallet.id,
        name=data.name,
        location=data.location,
        fiat_code=data.fiat_code,
        status="active",
        dispense_confirmation=data.dispense_confirmation.value,
        created_at=timestamp,
        updated_at=timestamp,
    )
    try:
        async with transaction() as conn:
            await crud.insert_machine(row=row.dict(), conn=conn)
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="machine.create",
                object_type="machine",
                object_id=machine_id,
                detail={"pubkey": data.npub, "wallet_id": wallet.id, "name": data.name},
            )
    except IntegrityError as exc:
        # The wallet was made for a machine that cannot exist; it holds nothing.
        await delete_wallet(user_id=operator_id, wallet_id=wallet.id)
        raise Conflict(f"machine {npub} is already registered") from exc
    await sync_machine_fees(machine_id, actor=operator_id)
    return (await _with_beacons([row]))[0]


async def _with_beacons(rows: list[MachineRow]) -> list[Machine]:
    config = await get_super_config()
    stored = await crud.latest_beacons(machine_ids=[row.id for row in rows])
    by_machine: dict[str, list[dict]] = {}
    for beacon in stored:  # beacon_status reads the rows as dicts
        by_machine.setdefault(beacon.machine_id, []).append(beacon.dict())
    timestamp = now()
    # One query per operator (the page polls this), not one per machine; a deleted
    # wallet is absent and shows as None.
    balances = {
        wallet.id: wallet.balance
        for operator_id in {row.operator_id for row in rows}
        for wallet in await get_wallets(operator_id)
    }
    return [
        to_model(
            Machine,
            row,
            npub=npub_encode(row.pubkey),
            balance_sats=balances.get(row.wallet_id),
            **beacon_status(
                by_machine.get(row.id, []),
                offline_after_s=config.beacon_offline_s,
                now=timestamp,
            ),
        )
        for row in rows
    ]


async def list_machines(operator_id: str) -> list[Machine]:
    return await _with_beacons(await crud.list_machines(operator_id=operator_id))


async def get_machine(operator_id: str, machine_id: str) -> Machine:
    return (await _with_beacons([await operator_machine(machine_id, operator_id)]))[0]


async def _currency_change_refused(current: MachineRow, fiat_code: str | None) -> bool:
    return fiat_code != current.fiat_code and await crud.machine_has_settlements(
        machine_id=current.id
    )


async def update_machine(
    operator_id: str, machine_id: str, data: MachineUpdate
) -> Machine:
    current = await operator_machine(machine_id, operator_id)
    changes = {
        key: getattr(value, "value", value)
        for key, value in data.dict(exclude_unset=True).items()
    }
    if "name" in changes:
        if not changes["name"] or not changes["name"].strip():
            raise InvalidInput("name must not be blank")
        changes["name"] = changes["name"].strip()
    if changes.get("fiat_code") is None:
        changes.pop("fiat_code", None)
    elif await _currency_change_refused(current, changes["fiat_code"]):
        raise Conflict(
            "the fiat currency of a machine with settlements cannot change: "
            "its LP balances and history are in the old currency"
        )
    for key in ("status", "dispense_confirmation"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} must not be null")
    if not changes:
        return (await _with_beacons([current]))[0]
    changes["updated_at"] = now()
    async with transaction() as conn:
        await crud.update_machine(
            machine_id=machine_id, operator_id=operator_id, fields=changes, conn=conn
        )
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="machine.update",
            object_type="machine",
            object_id=machine_id,
            detail={
                k: {"from": getattr(current, k, None), "to": v}
                for k, v in changes.items()
            },
        )
    if "fiat_code" in changes:  # the schedule names the currency
        await sync_machine_fees(machine_id, actor=operator_id)
    return (await _with_beacons([current.copy(update=changes)]))[0]


async def delete_machine(operator_id: str, machine_id: str) -> dict:
    current = await operator_machine(machine_id, operator_id)
    async with transaction() as conn:
        deleted = await crud.delete_machine_without_settlements(
            machine_id=machine_id, operator_id=operator_id, conn=conn
        )
        if deleted:
            await crud.delete_machine_fees(machine_id=machine_id, conn=conn)
            await crud.delete_machine_cash(machine_id=machine_id, conn=conn)
            await audit.record(
                conn,
                actor=operator_id,
                operator_id=operator_id,
                action="machine.delete",
                object_type="machine",
                object_id=machine_id,
                detail={"pubkey": current.pubkey},
            )
    if not deleted:
        raise Conflict(
            "this machine has settlements and cannot be removed; disable it instead"
        )
    return {
        "deleted": machine_id,
        "wallet_id": current.wallet_id,
        "message": "the machine's wallet, and any balance in it, stays in your account",
    }


async def machine_telemetry(
    operator_id: str, machine_id: str, limit: int
) -> list[dict]:
    await operator_machine(machine_id, operator_id)
    rows = [
        row.dict()
        for row in await crud.list_telemetry(machine_id=machine_id, limit=limit)
    ]
    for row in rows:
        with contextlib.suppress(ValueError):  # unparseable content is shown raw
            row["content"] = json.loads(row["content"])
    return rows
