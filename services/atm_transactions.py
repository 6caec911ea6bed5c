"""ATM transactions the operator sees: abandoned ones."""

from __future__ import annotations

from .. import crud, fiat
from ..models import (
    AtmTransaction,
)
from .accounts import to_model


def atm_transaction(row: dict) -> AtmTransaction:
    return to_model(
        AtmTransaction,
        row,
        fiat_amount=fiat.to_decimal_string(row["fiat_amount_minor"], row["fiat_code"]),
    )


async def list_abandoned(operator_id: str) -> list[AtmTransaction]:
    return [
        atm_transaction(row)
        for row in await crud.list_abandoned(operator_id=operator_id)
    ]
