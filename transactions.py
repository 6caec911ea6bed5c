"""The life of one ATM transaction, whatever asked for it (RPC or payment listener).

A cash-out is ``invoiced`` → ``paid`` → ``dispensed`` (its settlement landed) or
``cancelled``; a cash-in is ``paying`` → ``paid`` (settlement landed) or ``failed``.
Every state change is a guarded UPDATE (``only_if_status``), so it happens once
however many relays, retries or processes race for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from lnbits.core.crud import get_payments, get_standalone_payment
from lnbits.core.models import Payment
from loguru import logger

from . import audit, calculations, crud, fiat, helpers, services
from .errors import Conflict, InvalidInput, NotFound, SatMachineError
from .models import (
    AbandonedResolve,
    Direction,
    DispenseConfirmation,
    MachineRow,
    Resolution,
)

CASH_OUT_UNPAID = "invoiced"
PAID = "paid"
DISPENSED = "dispensed"
CANCELLED = "cancelled"
CANCELLED_AFTER_PAYMENT = "cancelled_after_payment"


async def incoming_payment_succeeded(tx: dict, wallet_id: str) -> bool:
    payment = await get_standalone_payment(
        tx["payment_hash"], incoming=True, wallet_id=wallet_id
    )
    return payment is not None and payment.success


async def refresh_cash_out(tx: dict, machine: dict) -> dict:
    """Brings an unpaid cash-out up to date with its invoice (a missed listener
    event must not strand a paid transaction)."""
    if tx["direction"] != Direction.cash_out.value:
        return tx
    unpaid = tx["status"] in (CASH_OUT_UNPAID, CANCELLED)
    if unpaid and await incoming_payment_succeeded(tx, machine["wallet_id"]):
        return await cash_out_paid(tx, machine)
    if tx["status"] == PAID and _pays_out_on_payment(machine):
        # Paid, and the landing (by whoever saw the payment first) not done yet:
        # landing is idempotent, so this caller may finish it.
        return await land_cash_out(tx, machine, dispensed_minor=tx["fiat_amount_minor"])
    return tx


def _pays_out_on_payment(machine: dict) -> bool:
    return machine["dispense_confirmation"] == DispenseConfirmation.on_payment.value


async def cash_out_paid(tx: dict, machine: dict) -> dict:
    """The customer paid the cash-out invoice. Paid after the machine cancelled,
    it goes to the operator's abandoned queue: the sats are in, no cash came out."""
    now = helpers.now()
    await crud.update_atm_transaction(
        transaction_id=tx["id"],
        fields={"status": PAID, "paid_at": now, "updated_at": now},
        only_if_status=[CASH_OUT_UNPAID],
    )
    await crud.update_atm_transaction(
        transaction_id=tx["id"],
        fields={"status": CANCELLED_AFTER_PAYMENT, "paid_at": now, "updated_at": now},
        only_if_status=[CANCELLED],
    )
    before = tx["status"]
    tx = await _reload(tx)
    if tx["status"] != before:
        await audit.record(
            None,
            actor=f"machine:{machine['id']}",
            operator_id=tx["operator_id"],
            action=f"atm_transaction.{tx['status']}",
            object_type="atm_transaction",
            object_id=tx["id"],
            detail={"tx_id": tx["tx_id"], "payment_hash": tx["payment_hash"]},
        )
    if tx["status"] == PAID and _pays_out_on_payment(machine):
        tx = await land_cash_out(tx, machine, dispensed_minor=tx["fiat_amount_minor"])
    return tx


async def land_cash_out(
    tx: dict,
    machine: dict,
    *,
    dispensed_minor: int,
    from_statuses: Sequence[str] = (PAID,),
) -> dict:
    """Lands the settlement of a paid cash-out for the fiat actually dispensed."""
    scaled = calculations.scale_for_partial_dispense(
        principal_sats=tx["principal_sats"],
        fee_sats=tx["fee_sats"],
        fiat_minor=tx["fiat_amount_minor"],
        dispensed_fiat_minor=dispensed_minor,
    )
    settlement, _ = await services.land_settlement(
        services.NewSettlement(
            operator_id=tx["operator_id"],
            machine=MachineRow.construct(**machine),  # a stored row: valid
            direction=Direction.cash_out,
            source="rpc",
            tx_id=tx["tx_id"],
            payment_hash=tx["payment_hash"],
            principal_sats=scaled.principal_sats,
            fee_sats=scaled.fee_sats,
            fiat_minor=scaled.fiat_minor,
            fiat_code=tx["fiat_code"],
            exchange_rate=tx["exchange_rate"],
            actor=f"machine:{machine['id']}",
            undispensed_sats=tx["principal_sats"]
            + tx["fee_sats"]
            - scaled.principal_sats
            - scaled.fee_sats,
            paid_sats=tx["amount_sats"],
        )
    )
    await crud.update_atm_transaction(
        transaction_id=tx["id"],
        fields={
            "status": DISPENSED,
            "settlement_id": settlement.id,
            "updated_at": helpers.now(),
        },
        only_if_status=list(from_statuses),
    )
    return await _reload(tx)


async def land_cash_in(tx: dict, machine: dict) -> dict:
    settlement, _ = await services.land_settlement(
        services.NewSettlement(
            operator_id=tx["operator_id"],
            machine=MachineRow.construct(**machine),  # a stored row: valid
            direction=Direction.cash_in,
            source="rpc",
            tx_id=tx["tx_id"],
            payment_hash=tx["payment_hash"],
            principal_sats=tx["principal_sats"],
            fee_sats=tx["fee_sats"],
            fiat_minor=tx["fiat_amount_minor"],
            fiat_code=tx["fiat_code"],
            exchange_rate=tx["exchange_rate"],
            actor=f"machine:{machine['id']}",
        )
    )
    await crud.update_atm_transaction(
        transaction_id=tx["id"],
        fields={"settlement_id": settlement.id, "updated_at": helpers.now()},
    )
    return await _reload(tx)


async def _reload(tx: dict) -> dict:
    fresh = await crud.get_atm_transaction(
        machine_id=tx["machine_id"], tx_id=tx["tx_id"]
    )
    assert fresh is not None
    return fresh


VOID = "void"


async def resolve_abandoned(
    operator_id: str, transaction_id: str, data: AbandonedResolve
) -> dict:
    """The operator's decision on a transaction that paid nothing out by itself."""
    tx = await crud.get_atm_transaction_for_operator(
        transaction_id=transaction_id, operator_id=operator_id
    )
    if tx is None:
        raise NotFound(f"no transaction '{transaction_id}' in your account")
    if tx["status"] not in crud.ABANDONED_STATES:
        raise Conflict(f"the transaction is {tx['status']}, not waiting for a decision")
    if data.resolution == Resolution.void:
        await crud.update_atm_transaction(
            transaction_id=tx["id"],
            fields={"status": VOID, "note": data.note, "updated_at": helpers.now()},
            only_if_status=[tx["status"]],
        )
    else:
        if tx["direction"] != Direction.cash_out.value or tx["paid_at"] is None:
            raise Conflict(
                "only a paid cash-out can be settled as dispensed; a failed cash-in "
                "can only be voided (refund the customer's cash)"
            )
        dispensed = tx["fiat_amount_minor"]
        if data.resolution == Resolution.partial:
            assert data.dispensed_fiat is not None
            try:
                dispensed = fiat.to_minor(data.dispensed_fiat, tx["fiat_code"])
            except ValueError as exc:
                raise InvalidInput(f"dispensed_fiat: {exc}") from exc
            if dispensed > tx["fiat_amount_minor"]:
                raise InvalidInput(
                    "dispensed_fiat is more than the transaction's fiat amount"
                )
        machine = await crud.get_machine(machine_id=tx["machine_id"])
        assert machine is not None
        landed = await land_cash_out(
            tx,
            machine.dict(),
            dispensed_minor=dispensed,
            from_statuses=crud.ABANDONED_STATES,
        )
        if landed["status"] != DISPENSED:
            raise Conflict("the transaction changed meanwhile; reload and retry")
        if data.note:
            await crud.update_atm_transaction(
                transaction_id=tx["id"], fields={"note": data.note}
            )
    await audit.record(
        None,
        actor=operator_id,
        operator_id=operator_id,
        action="abandoned.resolve",
        object_type="atm_transaction",
        object_id=tx["id"],
        detail={
            "resolution": data.resolution.value,
            "dispensed_fiat": data.dispensed_fiat,
            "note": data.note,
        },
    )
    return await _reload(tx)


async def land_bitspire_payment(payment: Payment) -> bool:
    """Contract §8: a payment into or out of a machine's wallet that carries
    bitSpire metadata lands as a settlement, also when another LNbits speaking the
    protocol made it. Returns whether it landed (now or before)."""
    extra = payment.extra or {}
    if extra.get("source") != "bitspire" or not payment.success:
        return False
    if await crud.get_atm_transaction_by_hash(payment_hash=payment.payment_hash):
        return False  # made through this server's RPC: its own lifecycle lands it
    if await crud.get_settlement_by_payment_hash(payment_hash=payment.payment_hash):
        return True
    machine = await crud.get_machine_by_wallet(wallet_id=payment.wallet_id)
    if machine is None:
        return False
    try:
        new = _settlement_from_metadata(payment, machine, extra)
    except (ValueError, TypeError) as exc:
        logger.warning(
            f"satmachineadmin: payment {payment.payment_hash} on machine "
            f"{machine['id']} has unusable bitSpire metadata: {exc}"
        )
        return False
    try:
        await services.land_settlement(new)
    except SatMachineError as exc:
        # e.g. its tx_id already landed with other amounts: it needs a person.
        logger.warning(
            f"satmachineadmin: payment {payment.payment_hash} not landed: {exc.message}"
        )
        return False
    return True


def _settlement_from_metadata(
    payment: Payment, machine: dict, extra: dict
) -> services.NewSettlement:
    def sats(name: str) -> int:
        value = extra.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value

    principal, fee = sats("principal_sats"), sats("fee_sats")
    code = fiat.normalize_fiat_code(str(extra.get("fiat_code", "")))
    if machine["fiat_code"] and code != machine["fiat_code"]:
        raise ValueError(
            f"fiat_code {code} is not the machine's {machine['fiat_code']}"
        )
    fiat_minor = fiat.to_minor(str(extra.get("fiat_amount", "")), code)
    rate = fiat.parse_exchange_rate(str(extra.get("exchange_rate", "")))
    moved_msat = abs(payment.amount)  # msat: a fraction of a sat must not pass
    stated = extra.get("type")
    actual = "cash_out" if payment.amount > 0 else "cash_in"
    if stated is not None and stated != actual:
        raise ValueError(f"type {stated!r} does not match a payment {actual}")
    if payment.amount > 0:
        direction = Direction.cash_out
        if moved_msat != (principal + fee) * 1000:
            raise ValueError("the amount paid is not principal_sats + fee_sats")
    else:
        direction = Direction.cash_in
        if fee > principal or moved_msat != (principal - fee) * 1000:
            raise ValueError("the amount paid is not principal_sats - fee_sats")
    tx_id = extra.get("tx_id")
    if not isinstance(tx_id, str) or not 0 < len(tx_id) <= 64:
        tx_id = payment.payment_hash
    return services.NewSettlement(
        operator_id=machine["operator_id"],
        machine=MachineRow.construct(**machine),  # a stored row: valid
        direction=direction,
        source="payment",
        tx_id=tx_id,
        payment_hash=payment.payment_hash,
        principal_sats=principal,
        fee_sats=fee,
        fiat_minor=fiat_minor,
        fiat_code=code,
        exchange_rate=str(rate),
        actor="payment",
    )


async def land_outgoing_bitspire_payments(*, since: int) -> int:
    """Cash-ins another LNbits paid from a machine's wallet: LNbits notifies no
    listener of outgoing payments, so they are looked for."""
    landed = 0
    for wallet_id in await crud.list_machine_wallets():
        for payment in await get_payments(
            wallet_id=wallet_id, outgoing=True, complete=True, since=since, limit=500
        ):
            if await land_bitspire_payment(payment):
                landed += 1
    return landed
