"""The bitSpire RPC methods (contract §3 to §5), independent of how requests travel.

``rpc.server`` decrypts a request and hands it to ``dispatch`` with the author's
pubkey; the methods authenticate the machine, validate the parameters, enforce the
amount rules, and run every state-changing effect through ``idempotency.once`` so
that a retried request returns the stored response instead of acting twice. What a
transaction may become is decided by ``services.atm_transactions``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lnbits.core.crud import get_wallet

from .. import helpers, services
from ..models import AdmittedMachine, Direction, MachineRow, MachineStatus
from .cash import get_cassettes, report_cash
from .cash_in import lookup_cash_in, pay_invoice_method
from .cash_out import cancel_transaction, make_invoice, report_dispense
from .errors import DuplicateInFlight, RpcError
from .fees import get_fees
from .params import LookupInvoiceParams, PairParams, RpcRequest, parse_params
from .shared import own_transaction
from .withdraw import create_withdraw, lookup_withdraw, withdraw_link_of

PROTOCOL_VERSION = 1
# The v1.1 additions (contract §9) this server speaks.
FEATURES = ["fees", "withdraw", "cash"]


async def get_info(machine: MachineRow, params: dict) -> dict:
    return {
        "machine_id": machine.id,
        "name": machine.name,
        # Shown on the machine: a name, never the user id (a login credential).
        "operator": await services.OPERATOR_NAMES.get(machine.operator_id),
        "fiat_code": machine.fiat_code,
        "status": machine.status,
        "server_time": helpers.now(),
        "protocol_version": PROTOCOL_VERSION,
        "dispense_confirmation": machine.dispense_confirmation,
        "features": FEATURES,
        "fee_version": await _fee_version(machine),
    }


async def _fee_version(machine: MachineRow) -> int:
    """Read with the request's admission when the machine has a schedule (a
    machine's most frequent request then takes no turn of its own)."""
    if isinstance(machine, AdmittedMachine) and machine.fee_version is not None:
        return machine.fee_version
    return (await services.machine_schedule(machine)).version


async def get_balance(machine: MachineRow, params: dict) -> dict:
    wallet = await get_wallet(machine.wallet_id)
    if wallet is None:
        raise RpcError("internal", "the machine's wallet is missing")
    return {"balance_sats": wallet.balance_msat // 1000}


async def lookup_invoice(machine: MachineRow, params: dict) -> dict:
    p = parse_params(LookupInvoiceParams, params)
    if (p.payment_hash is None) == (p.tx_id is None):
        raise RpcError("bad_request", "give exactly one of payment_hash or tx_id")
    tx = await own_transaction(machine, tx_id=p.tx_id, payment_hash=p.payment_hash)
    link = await withdraw_link_of(tx)
    if link is not None:
        return await lookup_withdraw(link)
    if tx.direction == Direction.cash_in:
        return await lookup_cash_in(tx, machine)
    tx = await services.refresh_cash_out(tx, machine)
    if tx.paid_at is not None:
        status = "paid"
    elif tx.expires_at is not None and helpers.now() >= tx.expires_at:
        status = "expired"
    else:
        status = "pending"
    return {"status": status, "amount_sats": tx.amount_sats, "paid_at": tx.paid_at}


MachineMethod = Callable[[MachineRow, dict], Awaitable[dict]]
METHODS: dict[str, MachineMethod] = {
    "get_info": get_info,
    "make_invoice": make_invoice,
    "lookup_invoice": lookup_invoice,
    "pay_invoice": pay_invoice_method,
    "report_dispense": report_dispense,
    "cancel_transaction": cancel_transaction,
    "get_balance": get_balance,
    "get_fees": get_fees,
    "create_withdraw": create_withdraw,
    "get_cassettes": get_cassettes,
    "report_cash": report_cash,
}


async def dispatch(
    request: RpcRequest, *, pubkey: str, machine: MachineRow | None
) -> dict:
    """Runs one request from ``pubkey``, whose machine (if any) the caller read
    when it claimed the request."""
    if machine is not None and machine.status != MachineStatus.active.value:
        raise RpcError("unknown_machine", "this machine is disabled by its operator")
    if request.method == "pair":
        p = parse_params(PairParams, request.params)
        try:
            return await services.pair_machine(token=p.token, pubkey=pubkey)
        except services.PairingInFlight as exc:
            raise DuplicateInFlight() from exc
        except services.PairingError as exc:
            raise RpcError(exc.code, exc.message) from exc
    if machine is None:
        raise RpcError("unknown_machine", "this key is not a machine of this server")
    method = METHODS.get(request.method)
    if method is None:
        raise RpcError("unknown_method", f"no method '{request.method}'")
    return await method(machine, request.params)
