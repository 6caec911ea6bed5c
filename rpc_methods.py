"""The bitSpire RPC methods (contract §3 to §5), independent of how requests travel.

``nostr_rpc`` decrypts a request and hands it here with the author's pubkey; this
module authenticates the machine, validates the parameters, enforces the amount
rules, and keys every state-changing effect on (machine, method, tx_id) in the
database so a retried request returns the stored response instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from lnbits.bolt11 import decode as decode_bolt11
from lnbits.core.crud import get_standalone_payment, get_wallet
from lnbits.core.models import Payment
from lnbits.core.services import create_invoice, pay_invoice
from lnbits.exceptions import InvoiceError, PaymentError
from lnbits.settings import settings
from loguru import logger
from pydantic import (
    BaseModel,
    StrictInt,
    StrictStr,
    ValidationError,
    conint,
    constr,
    validator,
)
from sqlalchemy.exc import IntegrityError

from . import audit, crud, fiat, helpers, pairing, services, transactions
from .helpers import EXT_TAG
from .models import MAX_SATS, Direction, MachineStatus
from .nostr import bounded_json

PROTOCOL_VERSION = 1
# A claim still "processing" after this long belongs to a worker that died.
STALE_CLAIM_S = 60
DEFAULT_INVOICE_EXPIRY_S = 600


class RpcError(Exception):
    """An error response: one of the contract's codes and a human message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DuplicateInFlight(Exception):
    """The same request is being handled right now; its answer will follow."""


# --- requests ----------------------------------------------------------------------

RequestId = constr(strict=True, min_length=1, max_length=64)
TxId = constr(strict=True, min_length=1, max_length=64)


class RpcRequest(BaseModel):
    id: RequestId  # type: ignore[valid-type]
    method: StrictStr
    params: dict = {}


def parse_request(plaintext: str) -> RpcRequest:
    """The request JSON; raises RpcError(bad_request) carrying whatever id it had."""
    try:
        data = bounded_json.loads(plaintext)
    except bounded_json.JsonTooComplex as exc:
        raise RpcError("bad_request", f"the request is {exc}") from exc
    except ValueError as exc:
        raise RpcError("bad_request", "the request is not JSON") from exc
    try:
        return RpcRequest.parse_obj(data)
    except ValidationError as exc:
        raise RpcError("bad_request", _first_error(exc)) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


class _Params(BaseModel):
    class Config:
        extra = "ignore"


class MakeInvoiceParams(_Params):
    tx_id: TxId  # type: ignore[valid-type]
    amount_sats: StrictInt
    principal_sats: StrictInt
    fee_sats: StrictInt
    fiat_amount: StrictStr
    fiat_code: StrictStr
    exchange_rate: StrictStr
    memo: constr(strict=True, max_length=200) | None = None  # type: ignore[valid-type]
    expiry_s: StrictInt | None = None


class LookupInvoiceParams(_Params):
    payment_hash: constr(strict=True, regex=r"^[0-9a-f]{64}$") | None = None  # type: ignore[valid-type]
    tx_id: TxId | None = None  # type: ignore[valid-type]


class PayInvoiceParams(_Params):
    tx_id: TxId  # type: ignore[valid-type]
    bolt11: constr(strict=True, min_length=10, max_length=4000)  # type: ignore[valid-type]
    principal_sats: StrictInt
    fee_sats: StrictInt
    fiat_amount: StrictStr
    fiat_code: StrictStr
    exchange_rate: StrictStr


class Bill(_Params):
    denomination: StrictStr
    count: conint(strict=True, ge=0, le=1_000_000)  # type: ignore[valid-type]

    @validator("denomination")
    def _denomination(cls, value: str) -> str:
        fiat.parse_amount(value, "denomination")
        return value


class ReportDispenseParams(_Params):
    tx_id: TxId  # type: ignore[valid-type]
    dispensed_fiat: StrictStr
    bills: list[Bill] | None = None


class CancelTransactionParams(_Params):
    tx_id: TxId  # type: ignore[valid-type]
    reason: constr(strict=True, max_length=500) = ""  # type: ignore[valid-type]


class PairParams(_Params):
    token: constr(strict=True, min_length=1, max_length=200)  # type: ignore[valid-type]


_P = TypeVar("_P", bound=_Params)


def _params(model: type[_P], params: dict) -> _P:
    try:
        return model.parse_obj(params)
    except ValidationError as exc:
        raise RpcError("bad_request", _first_error(exc)) from exc


# --- amounts -----------------------------------------------------------------------


async def _fiat_and_rate(
    machine: dict, *, principal_sats: int, fiat_amount: str, fiat_code: str, rate: str
) -> tuple[dict, int, Decimal]:
    """Applies the contract's fiat rules; a machine with no currency adopts this one."""
    try:
        code = fiat.normalize_fiat_code(fiat_code)
        minor = fiat.to_minor(fiat_amount, code)
        parsed_rate = fiat.parse_exchange_rate(rate)
    except ValueError as exc:
        raise RpcError("bad_request", str(exc)) from exc
    if machine["fiat_code"] is None:
        await crud.update_machine(
            machine_id=machine["id"],
            operator_id=machine["operator_id"],
            fields={"fiat_code": code, "updated_at": helpers.now()},
        )
        machine = {**machine, "fiat_code": code}
    elif code != machine["fiat_code"]:
        raise RpcError(
            "inconsistent_amounts",
            f"fiat_code {code} differs from the machine's {machine['fiat_code']}",
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
    return machine, minor, parsed_rate


def _non_negative_sats(**amounts: int) -> None:
    for name, value in amounts.items():
        if not 0 <= value <= MAX_SATS:
            raise RpcError("inconsistent_amounts", f"{name} must be 0..{MAX_SATS}")


# --- idempotency -------------------------------------------------------------------


def _params_hash(params: dict) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored: str) -> dict:
    return json.loads(stored)["result"]


async def _once(
    machine: dict,
    method: str,
    tx_id: str,
    params: dict,
    effect: Callable[[], Awaitable[dict]],
    *,
    is_final: Callable[[dict], bool] = lambda result: True,
) -> dict:
    """Runs ``effect`` once per (machine, method, tx_id) and stores its response.

    The claim is a row with a unique key: of two racing copies, one inserts it and
    the other reads the stored response (or, while it is being made, answers
    nothing: the machine retries). A claim left behind by a crash is taken over
    after STALE_CLAIM_S, and the effects are written so that resuming them does
    not repeat a payment. Only results are stored: an error means nothing
    happened, so the claim is released and a retry is evaluated afresh.
    """
    now = helpers.now()
    params_hash = _params_hash(params)
    claim = {
        "id": helpers.new_id(),
        "machine_id": machine["id"],
        "method": method,
        "tx_id": tx_id,
        "params_hash": params_hash,
        "status": "processing",
        "created_at": now,
        "updated_at": now,
    }
    try:
        await crud.claim_rpc_request(row=claim)
    except IntegrityError:
        existing = await crud.get_rpc_request(
            machine_id=machine["id"], method=method, tx_id=tx_id
        )
        if existing is None:  # released between our insert and read
            raise DuplicateInFlight() from None
        if existing["params_hash"] != params_hash:
            raise RpcError(
                "conflict", f"tx_id {tx_id} was used before with other parameters"
            ) from None
        if existing["status"] == "done":
            return _replay(existing["response"])
        if not await crud.take_over_rpc_request(
            request_id=existing["id"], stale_before=now - STALE_CLAIM_S, now=now
        ):
            raise DuplicateInFlight() from None
        claim = existing
    try:
        result = await effect()
    except BaseException:
        # An error means no effect happened: the claim goes, and a retry runs
        # again (a top-up or a payment arriving in between can change the answer).
        await crud.release_rpc_request(request_id=claim["id"])
        raise
    if not is_final(result):
        # Not settled yet (a payment in flight): the retry asks again, and the
        # effect finds the payment it already started instead of starting another.
        await crud.release_rpc_request(request_id=claim["id"])
        return result
    await crud.finish_rpc_request(
        request_id=claim["id"],
        response=json.dumps({"result": result}),
        now=helpers.now(),
    )
    return result


# --- methods -----------------------------------------------------------------------


async def get_info(machine: dict, params: dict) -> dict:
    return {
        "machine_id": machine["id"],
        "name": machine["name"],
        # Shown on the machine: a name, never the user id (a login credential).
        "operator": await services.person_name(machine["operator_id"]),
        "fiat_code": machine["fiat_code"],
        "status": machine["status"],
        "server_time": int(time.time()),
        "protocol_version": PROTOCOL_VERSION,
        "dispense_confirmation": machine["dispense_confirmation"],
    }


def _bitspire_extra(direction: Direction, machine: dict, tx_id: str, p: Any) -> dict:
    return {
        "tag": EXT_TAG,
        "source": "bitspire",
        "type": direction.value,
        "machine_id": machine["id"],
        "tx_id": tx_id,
        "principal_sats": p.principal_sats,
        "fee_sats": p.fee_sats,
        "fiat_amount": p.fiat_amount,
        "fiat_code": p.fiat_code,
        "exchange_rate": p.exchange_rate,
    }


async def make_invoice(machine: dict, params: dict) -> dict:
    p = _params(MakeInvoiceParams, params)
    _non_negative_sats(
        amount_sats=p.amount_sats, principal_sats=p.principal_sats, fee_sats=p.fee_sats
    )
    if p.amount_sats != p.principal_sats + p.fee_sats or p.amount_sats < 1:
        raise RpcError(
            "inconsistent_amounts",
            "amount_sats must equal principal_sats + fee_sats and be at least 1",
        )
    expiry = DEFAULT_INVOICE_EXPIRY_S if p.expiry_s is None else p.expiry_s
    if not 60 <= expiry <= 86400:
        raise RpcError("bad_request", "expiry_s must be 60..86400")
    if p.amount_sats > settings.lnbits_max_incoming_payment_amount_sats:
        raise RpcError(
            "limit_exceeded",
            f"amount_sats is above this server's invoice limit of "
            f"{settings.lnbits_max_incoming_payment_amount_sats} sats",
        )
    machine, fiat_minor, rate = await _fiat_and_rate(
        machine,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fiat_code=p.fiat_code,
        rate=p.exchange_rate,
    )

    async def effect() -> dict:
        existing = await crud.get_atm_transaction(
            machine_id=machine["id"], tx_id=p.tx_id
        )
        if existing is None:
            existing = await _create_cash_out(machine, p, fiat_minor, rate, expiry)
        elif existing["direction"] != Direction.cash_out.value:
            raise RpcError("conflict", f"tx_id {p.tx_id} is a {existing['direction']}")
        return {
            "payment_hash": existing["payment_hash"],
            "bolt11": existing["bolt11"],
            "expires_at": existing["expires_at"],
        }

    return await _once(machine, "make_invoice", p.tx_id, params, effect)


async def _create_cash_out(
    machine: dict, p: MakeInvoiceParams, fiat_minor: int, rate: Decimal, expiry: int
) -> dict:
    try:
        payment = await create_invoice(
            wallet_id=machine["wallet_id"],
            amount=p.amount_sats,
            memo=p.memo or f"{machine['name']} cash-out",
            expiry=expiry,
            extra=_bitspire_extra(Direction.cash_out, machine, p.tx_id, p),
        )
    except InvoiceError as exc:
        raise RpcError(
            "internal", f"could not create the invoice: {exc.message}"
        ) from exc
    now = helpers.now()
    row = {
        "id": helpers.new_id(),
        "operator_id": machine["operator_id"],
        "machine_id": machine["id"],
        "tx_id": p.tx_id,
        "direction": Direction.cash_out.value,
        "status": transactions.CASH_OUT_UNPAID,
        "payment_hash": payment.payment_hash,
        "bolt11": payment.bolt11,
        "amount_sats": p.amount_sats,
        "principal_sats": p.principal_sats,
        "fee_sats": p.fee_sats,
        "fiat_amount_minor": fiat_minor,
        "fiat_code": machine["fiat_code"],
        "exchange_rate": str(rate),
        "expires_at": now + expiry,
        "created_at": now,
        "updated_at": now,
    }
    await crud.insert_atm_transaction(row=row)
    return row


async def _own_transaction(machine: dict, *, tx_id=None, payment_hash=None) -> dict:
    tx = await crud.get_atm_transaction(
        machine_id=machine["id"], tx_id=tx_id, payment_hash=payment_hash
    )
    if tx is None:
        raise RpcError("not_found", "no such transaction on this machine")
    return tx


async def lookup_invoice(machine: dict, params: dict) -> dict:
    p = _params(LookupInvoiceParams, params)
    if (p.payment_hash is None) == (p.tx_id is None):
        raise RpcError("bad_request", "give exactly one of payment_hash or tx_id")
    tx = await _own_transaction(machine, tx_id=p.tx_id, payment_hash=p.payment_hash)
    if tx["direction"] == Direction.cash_in.value:
        return await _lookup_cash_in(tx, machine)
    tx = await transactions.refresh_cash_out(tx, machine)
    if tx["paid_at"] is not None:
        status = "paid"
    elif tx["expires_at"] is not None and helpers.now() >= tx["expires_at"]:
        status = "expired"
    else:
        status = "pending"
    return {
        "status": status,
        "amount_sats": tx["amount_sats"],
        "paid_at": tx["paid_at"],
    }


async def _lookup_cash_in(tx: dict, machine: dict) -> dict:
    """A cash-in's payment to the customer: ``paid``, ``pending`` or ``failed``."""
    status = {"paid": "paid", "paying": "pending"}.get(tx["status"], "failed")
    if status == "pending":
        payment = await get_standalone_payment(
            tx["payment_hash"], incoming=False, wallet_id=machine["wallet_id"]
        )
        if payment is not None:
            status = await _sync_cash_in(tx, machine, payment)
            tx = await _own_transaction(machine, tx_id=tx["tx_id"])
    return {
        "status": status,
        "amount_sats": tx["amount_sats"],
        "paid_at": tx["paid_at"],
    }


async def pay_invoice_method(machine: dict, params: dict) -> dict:
    p = _params(PayInvoiceParams, params)
    _non_negative_sats(principal_sats=p.principal_sats, fee_sats=p.fee_sats)
    try:
        invoice = decode_bolt11(p.bolt11)
    except Exception as exc:
        raise RpcError("bad_request", "bolt11 is not a valid invoice") from exc
    if (
        p.fee_sats > p.principal_sats
        or invoice.amount_msat is None
        or invoice.amount_msat != (p.principal_sats - p.fee_sats) * 1000
    ):
        raise RpcError(
            "inconsistent_amounts",
            "the invoice amount must equal principal_sats - fee_sats, and "
            "fee_sats may not exceed principal_sats",
        )
    machine, fiat_minor, rate = await _fiat_and_rate(
        machine,
        principal_sats=p.principal_sats,
        fiat_amount=p.fiat_amount,
        fiat_code=p.fiat_code,
        rate=p.exchange_rate,
    )

    async def effect() -> dict:
        return await _pay_cash_in(machine, p, invoice.payment_hash, fiat_minor, rate)

    return await _once(
        machine,
        "pay_invoice",
        p.tx_id,
        params,
        effect,
        is_final=lambda result: result["status"] != "pending",
    )


async def _pay_cash_in(
    machine: dict,
    p: PayInvoiceParams,
    payment_hash: str,
    fiat_minor: int,
    rate: Decimal,
) -> dict:
    tx = await crud.get_atm_transaction(machine_id=machine["id"], tx_id=p.tx_id)
    if tx is not None and (
        tx["direction"] != Direction.cash_in.value
        or tx["payment_hash"] != payment_hash
        or (tx["principal_sats"], tx["fee_sats"], tx["fiat_amount_minor"])
        != (p.principal_sats, p.fee_sats, fiat_minor)
    ):
        # The claim of a payment still in flight is released (so that the retry
        # can look again): the transaction row is what pins its parameters.
        raise RpcError("conflict", f"tx_id {p.tx_id} was used with other parameters")
    # Resuming after a crash: a payment already made is looked up, never repeated.
    payment = await get_standalone_payment(
        payment_hash, incoming=False, wallet_id=machine["wallet_id"]
    )
    if payment is None:
        amount_sats = p.principal_sats - p.fee_sats
        wallet = await get_wallet(machine["wallet_id"])
        if wallet is None or wallet.balance_msat < amount_sats * 1000:
            raise RpcError(
                "insufficient_balance", "the machine's wallet cannot pay this invoice"
            )
        tx = await _start_cash_in(machine, p, tx, payment_hash, fiat_minor, rate)
        try:
            payment = await pay_invoice(
                wallet_id=machine["wallet_id"],
                payment_request=p.bolt11,
                extra=_bitspire_extra(Direction.cash_in, machine, p.tx_id, p),
                tag=EXT_TAG,
            )
        except PaymentError as exc:
            logger.warning(f"cash-in {p.tx_id} payment failed: {exc.message}")
            if exc.status != "failed":
                raise RpcError(
                    "internal", f"payment state unknown: {exc.message}"
                ) from exc
            await crud.update_atm_transaction(
                transaction_id=tx["id"],
                fields={"status": "failed", "note": exc.message[:500]},
                only_if_status=["paying"],
            )
            return {
                "payment_hash": payment_hash,
                "status": "failed",
                "fee_paid_sats": 0,
            }
    if tx is None:
        raise RpcError(
            "conflict", "that invoice was already paid by another transaction"
        )
    status = await _sync_cash_in(tx, machine, payment)
    fee_paid = abs(payment.fee) // 1000
    return {"payment_hash": payment_hash, "status": status, "fee_paid_sats": fee_paid}


async def _sync_cash_in(tx: dict, machine: dict, payment: Payment) -> str:
    """Moves a cash-in on with its payment: paid (and landed), failed (to the
    abandoned queue), or still pending."""
    if payment.success:
        await crud.update_atm_transaction(
            transaction_id=tx["id"],
            fields={"status": transactions.PAID, "paid_at": helpers.now()},
            only_if_status=["paying"],
        )
        await transactions.land_cash_in(
            await _own_transaction(machine, tx_id=tx["tx_id"]), machine
        )
        return "paid"
    if payment.failed:
        await crud.update_atm_transaction(
            transaction_id=tx["id"],
            fields={"status": "failed", "updated_at": helpers.now()},
            only_if_status=["paying"],
        )
        return "failed"
    return "pending"


async def _start_cash_in(
    machine: dict,
    p: PayInvoiceParams,
    tx: dict | None,
    payment_hash: str,
    fiat_minor: int,
    rate: Decimal,
) -> dict:
    """The transaction row, in state ``paying``, written before the payment."""
    now = helpers.now()
    if tx is not None:
        await crud.update_atm_transaction(
            transaction_id=tx["id"],
            fields={"status": "paying", "updated_at": now},
            only_if_status=["failed"],
        )
        return tx
    row = {
        "id": helpers.new_id(),
        "operator_id": machine["operator_id"],
        "machine_id": machine["id"],
        "tx_id": p.tx_id,
        "direction": Direction.cash_in.value,
        "status": "paying",
        "payment_hash": payment_hash,
        "bolt11": p.bolt11,
        "amount_sats": p.principal_sats - p.fee_sats,
        "principal_sats": p.principal_sats,
        "fee_sats": p.fee_sats,
        "fiat_amount_minor": fiat_minor,
        "fiat_code": machine["fiat_code"],
        "exchange_rate": str(rate),
        "created_at": now,
        "updated_at": now,
    }
    try:
        await crud.insert_atm_transaction(row=row)
    except IntegrityError as exc:
        raise RpcError(
            "conflict", "that invoice belongs to another transaction"
        ) from exc
    return row


async def report_dispense(machine: dict, params: dict) -> dict:
    p = _params(ReportDispenseParams, params)
    tx = await _own_transaction(machine, tx_id=p.tx_id)
    if tx["direction"] != Direction.cash_out.value:
        raise RpcError("bad_request", "report_dispense is for cash-out transactions")
    try:
        dispensed = fiat.to_minor(p.dispensed_fiat, tx["fiat_code"])
    except ValueError as exc:
        raise RpcError("bad_request", f"dispensed_fiat: {exc}") from exc
    if dispensed > tx["fiat_amount_minor"]:
        raise RpcError(
            "inconsistent_amounts", "dispensed_fiat is more than the transaction's fiat"
        )

    async def effect() -> dict:
        current = await transactions.refresh_cash_out(
            await _own_transaction(machine, tx_id=p.tx_id), machine
        )
        if current["status"] == transactions.PAID:
            current = await transactions.land_cash_out(
                current, machine, dispensed_minor=dispensed
            )
        if current["status"] != transactions.DISPENSED:
            raise RpcError(
                "bad_request",
                f"the transaction is {current['status']}: only a paid cash-out "
                "can be dispensed",
            )
        settlement = await services.get_settlement(
            machine["operator_id"], current["settlement_id"]
        )
        return {"settlement_id": settlement.id, "status": settlement.status}

    return await _once(machine, "report_dispense", p.tx_id, params, effect)


async def cancel_transaction(machine: dict, params: dict) -> dict:
    p = _params(CancelTransactionParams, params)
    await _own_transaction(machine, tx_id=p.tx_id)

    async def effect() -> dict:
        tx = await _own_transaction(machine, tx_id=p.tx_id)
        if tx["direction"] != Direction.cash_out.value:
            # A cash-in is decided by its payment, not by the machine: nothing
            # to cancel (a failed one is already in the operator's queue).
            return {"status": tx["status"]}
        tx = await transactions.refresh_cash_out(tx, machine)
        target = {
            transactions.CASH_OUT_UNPAID: transactions.CANCELLED,
            transactions.PAID: transactions.CANCELLED_AFTER_PAYMENT,
        }.get(tx["status"])
        if target is not None and await crud.update_atm_transaction(
            transaction_id=tx["id"],
            fields={
                "status": target,
                "note": p.reason or None,
                "updated_at": helpers.now(),
            },
            only_if_status=[tx["status"]],
        ):
            await audit.record(
                None,
                actor=f"machine:{machine['id']}",
                operator_id=machine["operator_id"],
                action=f"atm_transaction.{target}",
                object_type="atm_transaction",
                object_id=tx["id"],
                detail={"tx_id": tx["tx_id"], "reason": p.reason},
            )
        tx = await _own_transaction(machine, tx_id=p.tx_id)
        return {"status": tx["status"]}

    return await _once(machine, "cancel_transaction", p.tx_id, params, effect)


async def get_balance(machine: dict, params: dict) -> dict:
    wallet = await get_wallet(machine["wallet_id"])
    if wallet is None:
        raise RpcError("internal", "the machine's wallet is missing")
    return {"balance_sats": wallet.balance_msat // 1000}


MachineMethod = Callable[[dict, dict], Awaitable[dict]]
METHODS: dict[str, MachineMethod] = {
    "get_info": get_info,
    "make_invoice": make_invoice,
    "lookup_invoice": lookup_invoice,
    "pay_invoice": pay_invoice_method,
    "report_dispense": report_dispense,
    "cancel_transaction": cancel_transaction,
    "get_balance": get_balance,
}


async def dispatch(request: RpcRequest, *, pubkey: str) -> tuple[dict, dict | None]:
    """Runs one request from ``pubkey``; returns its result and the machine."""
    machine = await crud.get_machine_by_pubkey(pubkey=pubkey)
    if machine is not None and machine["status"] != MachineStatus.active.value:
        raise RpcError("unknown_machine", "this machine is disabled by its operator")
    if request.method == "pair":
        p = _params(PairParams, request.params)
        try:
            return await pairing.pair_machine(token=p.token, pubkey=pubkey), machine
        except pairing.PairingError as exc:
            raise RpcError(exc.code, exc.message) from exc
    if machine is None:
        raise RpcError("unknown_machine", "this key is not a machine of this server")
    method = METHODS.get(request.method)
    if method is None:
        raise RpcError("unknown_method", f"no method '{request.method}'")
    return await method(machine, request.params), machine
