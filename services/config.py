"""The super user's configuration: platform fee, limits, relays, server key."""

from __future__ import annotations

import json

from lnbits.db import Connection

from .. import audit, crud
from ..database import transaction
from ..errors import InvalidInput
from ..helpers import bps_percent, direction_word, now
from ..models import (
    OperatorTotals,
    PlatformFee,
    SuperConfig,
    SuperConfigRow,
    SuperConfigUpdate,
)
from ..nostr.keys import KeyPair
from ..nostr.nip19 import npub_encode
from .accounts import existing_wallet, person_name, to_model

# A fresh install has no relay: the super user names the ones the machines reach.
DEFAULT_RELAYS: tuple[str, ...] = ()


def _super_config(row: SuperConfigRow) -> SuperConfig:
    return to_model(
        SuperConfig,
        row,
        relays=json.loads(row.relays),
        server_npub=npub_encode(row.server_pubkey),
    )


async def get_super_config(*, conn: Connection | None = None) -> SuperConfig:
    row = await crud.get_super_config(conn=conn)
    if row is None:
        keys = KeyPair.generate()
        await crud.create_super_config_if_missing(
            server_private_key=keys.private_key_hex,
            server_pubkey=keys.public_key_hex,
            relays=DEFAULT_RELAYS,
            now=now(),
            conn=conn,
        )
        row = await crud.get_super_config(conn=conn)
        assert row is not None
    return _super_config(row)


async def update_super_config(
    update: SuperConfigUpdate, *, actor_id: str
) -> SuperConfig:
    current = await get_super_config()
    changes = update.dict(exclude_unset=True)
    both = changes.pop("fee_basis", None)
    if both is not None:
        changes["cash_in_fee_basis"] = changes["cash_out_fee_basis"] = both
    if changes.get("super_wallet_id"):
        await existing_wallet(changes["super_wallet_id"], "the platform fee wallet")
    merged = {**current.dict(), **changes}
    if (merged["cash_in_fee_bps"] or merged["cash_out_fee_bps"]) and not merged[
        "super_wallet_id"
    ]:
        raise InvalidInput(
            "choose the wallet the platform fee is paid into before charging a fee"
        )
    if not changes:
        return current
    await _check_commission_caps(merged)
    stored = {
        key: (json.dumps(value) if key == "relays" else getattr(value, "value", value))
        for key, value in changes.items()
    }
    async with transaction() as conn:
        await crud.update_super_config(
            fields=stored, updated_by=actor_id, now=now(), conn=conn
        )
        await audit.record(
            conn,
            actor=actor_id,
            operator_id=None,
            action="super_config.update",
            object_type="super_config",
            object_id="global",
            detail={
                key: {"from": current.dict()[key], "to": value}
                for key, value in changes.items()
            },
        )
    if _FEE_FLOOR_FIELDS & changes.keys():
        # Circular at import time: fee schedules read this configuration.
        from .fees import sync_all_fees

        await sync_all_fees(actor=actor_id)
    return await get_super_config()


# What moves the floor of every fee schedule (the platform fee on the principal).
_FEE_FLOOR_FIELDS = {
    "cash_in_fee_bps",
    "cash_out_fee_bps",
    "cash_in_fee_basis",
    "cash_out_fee_basis",
}


async def _check_commission_caps(merged: dict) -> None:
    """The cap on operators' commissions stays above what their schedules
    already charge. (The platform fee on the principal is not capped by it: it
    is the super user's own, and it raises every schedule to its rate.)"""
    for direction in ("cash_in", "cash_out"):
        cap = merged[f"{direction}_max_commission_bps"]
        highest, operator_id = await crud.highest_commission(direction=direction)
        if highest > cap and operator_id is not None:
            raise InvalidInput(
                f"the {direction_word(direction)} fee schedule of "
                f"{await person_name(operator_id)} charges a commission of "
                f"{bps_percent(highest)}, above the new maximum of "
                f"{bps_percent(cap)}"
            )


async def rotate_server_key(*, actor_id: str) -> SuperConfig:
    """A new Nostr identity for the server; machines must be told the new npub."""
    old = await get_super_config()
    keys = KeyPair.generate()
    async with transaction() as conn:
        await crud.update_super_config(
            fields={
                "server_private_key": keys.private_key_hex,
                "server_pubkey": keys.public_key_hex,
            },
            updated_by=actor_id,
            now=now(),
            conn=conn,
        )
        await audit.record(
            conn,
            actor=actor_id,
            operator_id=None,
            action="super_config.rotate_key",
            object_type="super_config",
            object_id="global",
            detail={"from": old.server_pubkey, "to": keys.public_key_hex},
        )
    return await get_super_config()


async def get_platform_fee() -> PlatformFee:
    config = await get_super_config()
    return PlatformFee(**config.public_dict())


async def super_overview() -> list[OperatorTotals]:
    rows = await crud.operator_totals()
    return [
        row.copy(update={"operator": await person_name(row.operator_id)})
        for row in rows
    ]
