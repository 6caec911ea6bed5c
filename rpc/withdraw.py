"""Cash-in by LNURL-withdraw on the wire (contract §9.3): ``create_withdraw``,
and what ``lookup_invoice`` and ``cancel_transaction`` say and do for a link.

The server prices the request (there is no ``fee_sats`` to check): the fee is
the rule of the machine's current fee schedule, or of the one ``fee_version``
names if it was replaced less than ``fee_grace_s`` ago; a machine with no
schedule charges nothing. The link itself, its callback and what becomes of it
are ``services.withdraw``'s.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from .. import crud, helpers, services
from ..models import (
    WITHDRAW_EXPIRY_DEFAULT_S,
    WITHDRAW_EXPIRY_MAX_S,
    WITHDRAW_EXPIRY_MIN_S,
    AtmTransactionRow,
    Direction,
    LinkStatus,
    MachineRow,
    SuperConfig,
    WithdrawLinkRow,
)
from ..services import TxStatus
from ..services import withdraw as links
from .errors import RpcError
from .fees import server_fee
from .idempotency import once
from .params import CreateWithdrawParams, parse_params
from .shared import fiat_and_rate, non_negative_sats


async def create_withdraw(machine: MachineRow, params: dict) -> dict:
    p = parse_params(CreateWithdrawParams, params)
    non_negative_sats(principal_sats=p.principal_sats)
    expiry_s = WITHDRAW_EXPIRY_DEFAULT_S if p.expiry_s is None else p.expiry_s
    if not WITHDRAW_EXPIRY_MIN_S <= expiry_s <= WITHDRAW_EXPIRY_MAX_S:
        raise RpcError(
            "bad_request",
            f"expiry_s must be {WITHDRAW_EXPIRY_MIN_S}..{WITHDRAW_EXPIRY_MAX_S}",
        )
    machine, fiat_minor, rate, config = await fiat_and_rate(
        machine,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fiat_code=p.fiat_code,
        rate=p.exchange_rate,
    )

    async def effect() -> dict:
        return await _offer(machine, p, fiat_minor, rate, expiry_s, config)

    return await once(machine, "create_withdraw", p.tx_id, params, effect)


async def _price(
    machine: MachineRow, p: CreateWithdrawParams, config: SuperConfig
) -> tuple[int, int]:
    """The fee and the schedule version it comes from."""
    return await server_fee(
        machine,
        Direction.cash_in,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fee_version=p.fee_version,
        config=config,
    )


async def _offer(
    machine: MachineRow,
    p: CreateWithdrawParams,
    fiat_minor: int,
    rate: Decimal,
    expiry_s: int,
    config: SuperConfig,
) -> dict:
    tx = await crud.get_atm_transaction(machine_id=machine.id, tx_id=p.tx_id)
    link = await crud.get_withdraw_link(machine_id=machine.id, tx_id=p.tx_id)
    if tx is None:
        tx = await _new_transaction(machine, p, fiat_minor, rate, expiry_s, config)
    elif (
        tx.direction != Direction.cash_in
        or (tx.principal_sats, tx.fiat_amount_minor) != (p.principal_sats, fiat_minor)
        or (link is None and tx.status != TxStatus.offered)
    ):
        raise RpcError("conflict", f"tx_id {p.tx_id} was used with other parameters")
    if link is None:  # resuming after a crash between the two writes
        link = await links.offer_link(tx, expiry_s=expiry_s, fee_version=tx.fee_version)
    shown = links.link_of(link)
    return {
        "lnurl": shown.lnurl,
        "url": shown.url,
        "amount_sats": link.amount_sats,
        "fee_sats": link.fee_sats,
        "fee_version": link.fee_version,
        "expires_at": link.expires_at,
    }


async def _new_transaction(
    machine: MachineRow,
    p: CreateWithdrawParams,
    fiat_minor: int,
    rate: Decimal,
    expiry_s: int,
    config: SuperConfig,
) -> AtmTransactionRow:
    fee_sats, fee_version = await _price(machine, p, config)
    if p.principal_sats - fee_sats < 1:
        raise RpcError(
            "inconsistent_amounts",
            f"principal_sats {p.principal_sats} does not cover the fee of "
            f"{fee_sats} sats and at least 1 sat for the customer",
        )
    try:
        return await services.new_atm_transaction(
            machine,
            direction=Direction.cash_in,
            tx_id=p.tx_id,
            payment_hash=None,
            bolt11=None,
            principal_sats=p.principal_sats,
            fee_sats=fee_sats,
            fiat_minor=fiat_minor,
            exchange_rate=str(rate),
            expires_at=helpers.now() + expiry_s,
            fee_version=fee_version,
            fee_mismatch_sats=None if fee_version is None else 0,
            status=TxStatus.offered,
        )
    except IntegrityError as exc:
        raise RpcError(
            "conflict", f"tx_id {p.tx_id} was used with other parameters"
        ) from exc


# lookup_invoice's words (contract §9.3); a cancelled link will never be paid.
WIRE_STATUS = {
    LinkStatus.pending: "pending",
    LinkStatus.claimed: "pending",
    LinkStatus.paid: "paid",
    LinkStatus.failed: "failed",
    LinkStatus.expired: "expired",
    LinkStatus.cancelled: "expired",
}


async def withdraw_link_of(tx: AtmTransactionRow) -> WithdrawLinkRow | None:
    if tx.direction != Direction.cash_in:
        return None
    return await crud.get_withdraw_link(machine_id=tx.machine_id, tx_id=tx.tx_id)


async def lookup_withdraw(link: WithdrawLinkRow) -> dict:
    """``pending`` (unclaimed, or paying), ``paid``, ``failed`` or ``expired``."""
    link = await links.refresh_link(link)
    return {
        "status": WIRE_STATUS[link.status],
        "amount_sats": link.amount_sats,
        "paid_at": link.paid_at,
    }


async def cancel_withdraw(
    link: WithdrawLinkRow, tx: AtmTransactionRow, *, reason: str
) -> AtmTransactionRow:
    """Voids an unclaimed link; any other link is left as it is."""
    await links.cancel_link(link, tx, reason=reason)
    fresh = await crud.get_atm_transaction(machine_id=tx.machine_id, tx_id=tx.tx_id)
    assert fresh is not None
    return fresh
