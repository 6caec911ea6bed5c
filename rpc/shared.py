"""What the RPC methods share: the contract's amount rules (§8), the bitSpire
metadata a payment carries, and a machine's own transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import calculations, crud, fiat, helpers, services
from ..helpers import EXT_TAG
from ..models import MAX_SATS, AtmTransactionRow, Direction, MachineRow, SuperConfig
from .errors import RpcError
from .params import MakeInvoiceParams, PayInvoiceParams


async def fiat_and_rate(
    machine: MachineRow,
    *,
    principal_sats: int,
    fiat_amount: str,
    fiat_code: str,
    rate: str,
) -> tuple[MachineRow, int, Decimal, SuperConfig]:
    """Applies the contract's fiat rules; a machine with no currency adopts this one.
    Returns the machine, the fiat in minor units, the rate, and the super user's
    settings read for the check (the fee check prices with the same)."""
    try:
        code = fiat.normalize_fiat_code(fiat_code)
        minor = fiat.to_minor(fiat_amount, code)
        parsed_rate = fiat.parse_exchange_rate(rate)
    except ValueError as exc:
        raise RpcError("bad_request", str(exc)) from exc
    if machine.fiat_code is None:
        await crud.update_machine(
            machine_id=machine.id,
            operator_id=machine.operator_id,
            fields={"fiat_code": code, "updated_at": helpers.now()},
        )
        machine = machine.copy(update={"fiat_code": code})
        # The fee schedule names the currency: adopting one is a new version.
        actor = f"machine:{machine.id}"
        await services.sync_machine_fees(machine.id, actor=actor)
    elif code != machine.fiat_code:
        raise RpcError(
            "inconsistent_amounts",
            f"fiat_code {code} differs from the machine's {machine.fiat_code}",
        )
    config = await services.get_super_config()
    if not services.principal_agrees_with_fiat(
        principal_sats=principal_sats,
        fiat_minor=minor,
        fiat_code=code,
        rate=parsed_rate,
        tolerance_bps=config.amount_tolerance_bps,
    ):
        raise RpcError(
            "inconsistent_amounts",
            f"principal_sats {principal_sats} is not {fiat_amount} {code} at "
            f"{rate} (tolerance {config.amount_tolerance_bps} bps)",
        )
    return machine, minor, parsed_rate, config


def non_negative_sats(**amounts: int) -> None:
    for name, value in amounts.items():
        if not 0 <= value <= MAX_SATS:
            raise RpcError("inconsistent_amounts", f"{name} must be 0..{MAX_SATS}")


def customer_sats_of(
    direction: Direction, p: MakeInvoiceParams | PayInvoiceParams
) -> int:
    return calculations.customer_sats(
        direction=direction.value, principal_sats=p.principal_sats, fee_sats=p.fee_sats
    )


def bitspire_extra(
    direction: Direction, machine: MachineRow, tx_id: str, p: Any
) -> dict:
    return {
        "tag": EXT_TAG,
        "source": "bitspire",
        "type": direction.value,
        "machine_id": machine.id,
        "tx_id": tx_id,
        "principal_sats": p.principal_sats,
        "fee_sats": p.fee_sats,
        "fiat_amount": p.fiat_amount,
        "fiat_code": p.fiat_code,
        "exchange_rate": p.exchange_rate,
    }


async def own_transaction(
    machine: MachineRow, *, tx_id: str | None = None, payment_hash: str | None = None
) -> AtmTransactionRow:
    tx = await crud.get_atm_transaction(
        machine_id=machine.id, tx_id=tx_id, payment_hash=payment_hash
    )
    if tx is None:
        raise RpcError("not_found", "no such transaction on this machine")
    return tx
