"""The life of one ATM transaction, whatever moves it on: the RPC methods, the
invoice listener, the dispense timeout or the operator.

Its states (``TxStatus``) and the one table of what may move it from which state to
which (``TRANSITIONS``) are here, and every status change goes through
``transition``: a guarded UPDATE per allowed move, so it happens once however many
relays, retries or processes race for it. What the operator decides for a
transaction that paid nothing out by itself is in ``abandoned``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any

from lnbits.core.crud import get_standalone_payment
from lnbits.db import Connection
from loguru import logger

from .. import audit, calculations, conversions, crud, helpers
from ..database import transaction
from ..models import (
    AtmTransactionRow,
    Direction,
    DispenseConfirmation,
    MachineRow,
)
from .landing import NewSettlement, land_settlement


class TxStatus(str, Enum):
    invoiced = "invoiced"  # cash-out: the invoice is out, not paid yet
    offered = "offered"  # cash-in by LNURL: the link is out, not claimed yet
    paying = "paying"  # cash-in: the payment to the customer is under way
    paid = "paid"  # cash-out: waiting for the dispense; cash-in: done, landed
    dispensed = "dispensed"  # cash-out: its settlement landed
    cancelled = "cancelled"  # the machine gave up before payment
    cancelled_after_payment = "cancelled_after_payment"
    failed = "failed"  # cash-in: the payment to the customer failed
    # cash-out: no dispense report in time; cash-in by LNURL: the link expired
    # unclaimed with the customer's cash in the machine
    abandoned = "abandoned"
    void = "void"  # the operator's decision: nothing lands


class TxEvent(str, Enum):
    invoice_paid = "invoice_paid"
    dispensed = "dispensed"
    cancelled = "cancelled"
    dispense_overdue = "dispense_overdue"
    payment_retried = "payment_retried"
    payment_succeeded = "payment_succeeded"
    payment_failed = "payment_failed"
    resolved_dispensed = "resolved_dispensed"
    resolved_void = "resolved_void"
    link_claimed = "link_claimed"
    link_released = "link_released"  # the claim paid nothing: the link is open
    link_expired = "link_expired"
    link_reissued = "link_reissued"


# Short names, so that the table below reads as one.
_OUT, _IN, _S, _E = Direction.cash_out, Direction.cash_in, TxStatus, TxEvent

INITIAL = {_OUT: _S.invoiced, _IN: _S.paying}

# (direction, event) → {from: to}: every status change there is.
TRANSITIONS: dict[tuple[Direction, TxEvent], dict[TxStatus, TxStatus]] = {
    (_OUT, _E.invoice_paid): {
        _S.invoiced: _S.paid,
        # Paid after the machine cancelled: the sats are in, no cash came out.
        _S.cancelled: _S.cancelled_after_payment,
    },
    (_OUT, _E.dispensed): {_S.paid: _S.dispensed},
    (_OUT, _E.cancelled): {
        _S.invoiced: _S.cancelled,
        _S.paid: _S.cancelled_after_payment,
    },
    (_OUT, _E.dispense_overdue): {_S.paid: _S.abandoned},
    (_OUT, _E.resolved_dispensed): {
        _S.abandoned: _S.dispensed,
        _S.cancelled_after_payment: _S.dispensed,
    },
    (_OUT, _E.resolved_void): {
        _S.abandoned: _S.void,
        _S.cancelled_after_payment: _S.void,
    },
    (_IN, _E.payment_retried): {_S.failed: _S.paying},
    (_IN, _E.payment_succeeded): {_S.paying: _S.paid},
    (_IN, _E.payment_failed): {_S.paying: _S.failed},
    (_IN, _E.resolved_void): {_S.failed: _S.void, _S.abandoned: _S.void},
    # Cash-in by LNURL-withdraw (contract §9.3): the link is the offer.
    (_IN, _E.link_claimed): {_S.offered: _S.paying},
    (_IN, _E.link_released): {_S.paying: _S.offered},
    (_IN, _E.link_expired): {_S.offered: _S.abandoned},
    (_IN, _E.cancelled): {_S.offered: _S.cancelled},
    # The operator's fresh link for a customer who was not paid.
    (_IN, _E.link_reissued): {_S.abandoned: _S.offered, _S.failed: _S.offered},
}

# The abandonment rule: a paid cash-out on a machine that reports its dispenses,
# with no report ``dispense_timeout_s`` (super user setting) after ``paid_at``.
ABANDON_NOTE = "no dispense report before the timeout"


def event_applies(tx: AtmTransactionRow, event: TxEvent) -> bool:
    """Whether ``event`` moves ``tx`` on from the state it was read in."""
    return TxStatus(tx.status) in TRANSITIONS.get((tx.direction, event), {})


async def transition(
    tx: AtmTransactionRow,
    event: TxEvent,
    *,
    from_: Iterable[str] | None = None,
    conn: Connection | None = None,
    **fields: Any,
) -> TxStatus | None:
    """Moves ``tx`` on by ``event``, from any state the table allows (or only from
    those of ``from_``), writing ``fields`` with the new status; the new status if
    this caller moved it, else None (another caller was first, or not allowed)."""
    moves = TRANSITIONS.get((tx.direction, event), {})
    sources = list(moves) if from_ is None else [TxStatus(s) for s in from_]
    for source in sources:
        target = moves.get(source)
        if target is not None and await crud.update_atm_transaction(
            transaction_id=tx.id,
            fields={"status": target.value, **fields},
            only_if_status=[source.value],
            conn=conn,
        ):
            return target
    return None


async def new_atm_transaction(
    machine: MachineRow,
    *,
    direction: Direction,
    tx_id: str,
    payment_hash: str | None,
    bolt11: str | None,
    principal_sats: int,
    fee_sats: int,
    fiat_minor: int,
    exchange_rate: str,
    expires_at: int | None = None,
    fee_version: int | None = None,
    fee_mismatch_sats: int | None = None,
    status: TxStatus | None = None,
) -> AtmTransactionRow:
    """A new transaction in its direction's first state, or ``status`` (raises
    IntegrityError if its tx_id or payment hash is taken)."""
    if machine.fiat_code is None:  # the RPC methods give it one first
        raise ValueError(f"machine {machine.id} has no currency yet")
    now = helpers.now()
    row = AtmTransactionRow(
        id=helpers.new_id(),
        operator_id=machine.operator_id,
        machine_id=machine.id,
        tx_id=tx_id,
        direction=direction,
        status=(status or INITIAL[direction]).value,
        payment_hash=payment_hash,
        bolt11=bolt11,
        amount_sats=calculations.customer_sats(
            direction=direction.value, principal_sats=principal_sats, fee_sats=fee_sats
        ),
        principal_sats=principal_sats,
        fee_sats=fee_sats,
        fiat_amount_minor=fiat_minor,
        fiat_code=machine.fiat_code,
        exchange_rate=exchange_rate,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
        fee_version=fee_version,
        fee_mismatch_sats=fee_mismatch_sats,
    )
    await crud.insert_atm_transaction(row=row)
    return row


async def reloaded(
    tx: AtmTransactionRow, conn: Connection | None = None
) -> AtmTransactionRow:
    """``tx`` as stored now (after a transition, by this caller or another)."""
    fresh = await crud.get_atm_transaction(
        machine_id=tx.machine_id, tx_id=tx.tx_id, conn=conn
    )
    assert fresh is not None
    return fresh


def _pays_out_on_payment(machine: MachineRow) -> bool:
    return machine.dispense_confirmation == DispenseConfirmation.on_payment.value


def _machine_actor(machine: MachineRow) -> str:
    return f"machine:{machine.id}"


async def _audit_move(
    conn: Connection,
    actor: str,
    tx: AtmTransactionRow,
    status: TxStatus,
    **detail: Any,
) -> None:
    """The audit entry of a move, written by the caller that made it, in the
    move's own transaction."""
    await audit.record(
        conn,
        actor=actor,
        operator_id=tx.operator_id,
        action=f"atm_transaction.{status.value}",
        object_type="atm_transaction",
        object_id=tx.id,
        detail={"tx_id": tx.tx_id, **detail},
    )


# --- cash-out ------------------------------------------------------------------------


async def incoming_payment_succeeded(tx: AtmTransactionRow, wallet_id: str) -> bool:
    payment = await get_standalone_payment(
        tx.payment_hash or "", incoming=True, wallet_id=wallet_id
    )
    return payment is not None and payment.success


async def refresh_cash_out(
    tx: AtmTransactionRow, machine: MachineRow
) -> AtmTransactionRow:
    """Brings an unpaid cash-out up to date with its invoice (a missed listener
    event must not strand a paid transaction)."""
    if tx.direction != Direction.cash_out:
        return tx
    if event_applies(tx, TxEvent.invoice_paid) and await incoming_payment_succeeded(
        tx, machine.wallet_id
    ):
        return await cash_out_paid(tx, machine)
    if tx.status == TxStatus.paid and _pays_out_on_payment(machine):
        # Paid, and the landing (by whoever saw the payment first) not done yet:
        # landing is idempotent, so this caller may finish it.
        return await land_cash_out(tx, machine, dispensed_minor=tx.fiat_amount_minor)
    return tx


async def cash_out_paid(
    tx: AtmTransactionRow, machine: MachineRow
) -> AtmTransactionRow:
    """The customer paid the cash-out invoice. Paid after the machine cancelled,
    it goes to the operator's abandoned queue: the sats are in, no cash came out."""
    now = helpers.now()
    async with transaction() as conn:  # one turn, and one audit entry per move
        moved = await transition(
            tx, TxEvent.invoice_paid, conn=conn, paid_at=now, updated_at=now
        )
        if moved is not None:
            await _audit_move(
                conn,
                _machine_actor(machine),
                tx,
                moved,
                payment_hash=tx.payment_hash,
            )
        tx = await reloaded(tx, conn)
    if tx.status == TxStatus.paid and _pays_out_on_payment(machine):
        tx = await land_cash_out(tx, machine, dispensed_minor=tx.fiat_amount_minor)
    return tx


def _settlement_of(
    tx: AtmTransactionRow,
    machine: MachineRow,
    direction: Direction,
    *,
    principal_sats: int,
    fee_sats: int,
    fiat_minor: int,
    undispensed_sats: int = 0,
    paid_sats: int | None = None,
    source: str = "rpc",
) -> NewSettlement:
    """The settlement an RPC transaction lands: its ids, currency and rate, with
    the amounts it settles for (a cash-out's may be scaled to a partial dispense)."""
    return NewSettlement(
        operator_id=tx.operator_id,
        machine=machine,
        direction=direction,
        source=source,
        tx_id=tx.tx_id,
        payment_hash=tx.payment_hash,
        principal_sats=principal_sats,
        fee_sats=fee_sats,
        fiat_minor=fiat_minor,
        fiat_code=tx.fiat_code,
        exchange_rate=tx.exchange_rate,
        actor=_machine_actor(machine),
        undispensed_sats=undispensed_sats,
        paid_sats=paid_sats,
        fee_version=tx.fee_version,
        fee_mismatch_sats=tx.fee_mismatch_sats,
    )


def _quoted_sats(tx: AtmTransactionRow) -> int:
    """What the quote asked of the customer; landing checks it against what they
    actually paid, so the undispensed part is worked out from the quote."""
    return calculations.customer_sats(
        direction=Direction.cash_out.value,
        principal_sats=tx.principal_sats,
        fee_sats=tx.fee_sats,
    )


async def land_cash_out(
    tx: AtmTransactionRow,
    machine: MachineRow,
    *,
    dispensed_minor: int,
    event: TxEvent = TxEvent.dispensed,
) -> AtmTransactionRow:
    """Lands the settlement of a paid cash-out for the fiat actually dispensed."""
    scaled = conversions.scale_for_partial_dispense(
        principal_sats=tx.principal_sats,
        fee_sats=tx.fee_sats,
        fiat_minor=tx.fiat_amount_minor,
        dispensed_fiat_minor=dispensed_minor,
    )
    settlement_id, _ = await land_settlement(
        _settlement_of(
            tx,
            machine,
            Direction.cash_out,
            principal_sats=scaled.principal_sats,
            fee_sats=scaled.fee_sats,
            fiat_minor=scaled.fiat_minor,
            undispensed_sats=_quoted_sats(tx)
            - calculations.customer_sats(
                direction=Direction.cash_out.value,
                principal_sats=scaled.principal_sats,
                fee_sats=scaled.fee_sats,
            ),
            paid_sats=tx.amount_sats,
        )
    )
    async with transaction() as conn:
        await transition(
            tx, event, conn=conn, settlement_id=settlement_id, updated_at=helpers.now()
        )
        return await reloaded(tx, conn)


async def cancel_cash_out(
    tx: AtmTransactionRow, machine: MachineRow, *, reason: str
) -> AtmTransactionRow:
    """The machine gave up on a cash-out: before payment it is cancelled, after it
    goes to the operator's abandoned queue; in any other state nothing changes."""
    tx = await refresh_cash_out(tx, machine)
    async with transaction() as conn:
        moved = await transition(
            tx,
            TxEvent.cancelled,
            from_=[tx.status],
            conn=conn,
            note=reason or None,
            updated_at=helpers.now(),
        )
        if moved is not None:
            await _audit_move(conn, _machine_actor(machine), tx, moved, reason=reason)
        return await reloaded(tx, conn)


async def abandon_overdue() -> None:
    """A paid cash-out whose machine reported no dispense in time pays nothing
    until the operator resolves it."""
    config = await crud.get_super_config()
    if config is None:
        return
    now = helpers.now()
    timeout = config.dispense_timeout_s
    overdue = await crud.list_paid_before(
        direction=Direction.cash_out.value,
        statuses=[s.value for s in TRANSITIONS[(_OUT, _E.dispense_overdue)]],
        dispense_confirmation=DispenseConfirmation.report.value,
        paid_before=now - timeout,
    )
    for tx in overdue:
        async with transaction() as conn:  # the move and its entry, together
            moved = await transition(
                tx,
                TxEvent.dispense_overdue,
                conn=conn,
                note=ABANDON_NOTE,
                updated_at=now,
            )
            if moved is None:
                continue
            await _audit_move(
                conn, "system:dispense-timeout", tx, moved, timeout_s=timeout
            )
        logger.warning(
            f"satmachineadmin: cash-out {tx.tx_id} on machine {tx.machine_id} "
            "abandoned: no dispense report"
        )


# --- cash-in -------------------------------------------------------------------------


async def retry_cash_in(tx: AtmTransactionRow) -> None:
    """A failed cash-in asked for again: paying once more, before the payment."""
    await transition(tx, TxEvent.payment_retried, updated_at=helpers.now())


async def cash_in_failed(tx: AtmTransactionRow, **fields: Any) -> None:
    await transition(tx, TxEvent.payment_failed, **fields)


async def cash_in_paid(
    tx: AtmTransactionRow, machine: MachineRow, *, source: str = "rpc"
) -> AtmTransactionRow:
    """The customer got the sats: paid, and its settlement lands (once); a
    cash-in by LNURL-withdraw lands with the source ``lnurl``."""
    await transition(tx, TxEvent.payment_succeeded, paid_at=helpers.now())
    tx = await reloaded(tx)
    settlement_id, _ = await land_settlement(
        _settlement_of(
            tx,
            machine,
            Direction.cash_in,
            principal_sats=tx.principal_sats,
            fee_sats=tx.fee_sats,
            fiat_minor=tx.fiat_amount_minor,
            source=source,
        )
    )
    await crud.update_atm_transaction(
        transaction_id=tx.id,
        fields={"settlement_id": settlement_id, "updated_at": helpers.now()},
    )
    return await reloaded(tx)
