"""A request's envelope and each method's parameters (contract §3 to §5), parsed
strictly: a wrong type or an oversized string is ``bad_request``, never coerced."""

from __future__ import annotations

from typing import TypeVar

from pydantic import (
    BaseModel,
    StrictInt,
    StrictStr,
    ValidationError,
    conint,
    conlist,
    constr,
    validator,
)

from .. import fiat
from ..nostr import bounded_json
from .errors import RpcError

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


class Params(BaseModel):
    class Config:
        extra = "ignore"


class MakeInvoiceParams(Params):
    tx_id: TxId  # type: ignore[valid-type]
    amount_sats: StrictInt
    principal_sats: StrictInt
    fee_sats: StrictInt
    fiat_amount: StrictStr
    fiat_code: StrictStr
    exchange_rate: StrictStr
    memo: constr(strict=True, max_length=200) | None = None  # type: ignore[valid-type]
    expiry_s: StrictInt | None = None
    fee_version: StrictInt | None = None


class LookupInvoiceParams(Params):
    payment_hash: constr(strict=True, regex=r"^[0-9a-f]{64}$") | None = None  # type: ignore[valid-type]
    tx_id: TxId | None = None  # type: ignore[valid-type]


class PayInvoiceParams(Params):
    tx_id: TxId  # type: ignore[valid-type]
    bolt11: constr(strict=True, min_length=10, max_length=4000)  # type: ignore[valid-type]
    principal_sats: StrictInt
    fee_sats: StrictInt
    fiat_amount: StrictStr
    fiat_code: StrictStr
    exchange_rate: StrictStr
    fee_version: StrictInt | None = None


class CreateWithdrawParams(Params):
    tx_id: TxId  # type: ignore[valid-type]
    principal_sats: StrictInt
    fiat_amount: StrictStr
    fiat_code: StrictStr
    exchange_rate: StrictStr
    fee_version: StrictInt | None = None
    expiry_s: StrictInt | None = None


def _denomination(value: str) -> str:
    fiat.parse_amount(value, "denomination")
    return value


class Bill(Params):
    denomination: StrictStr
    count: conint(strict=True, ge=0, le=1_000_000)  # type: ignore[valid-type]

    _denomination = validator("denomination", allow_reuse=True)(_denomination)


MAX_BILL_KINDS = 32
MAX_BILLS_PER_DISPENSE = 1_000_000


class ReportDispenseParams(Params):
    tx_id: TxId  # type: ignore[valid-type]
    dispensed_fiat: StrictStr
    bills: conlist(Bill, max_items=MAX_BILL_KINDS) | None = None  # type: ignore[valid-type]

    @validator("bills")
    def _bounded(cls, value: list[Bill] | None) -> list[Bill] | None:
        if value and sum(bill.count for bill in value) > MAX_BILLS_PER_DISPENSE:
            raise ValueError(f"more than {MAX_BILLS_PER_DISPENSE} bills")
        return value


MAX_CASSETTES = 16
MAX_COUNT = 1_000_000
Position = constr(strict=True, regex=r"^[1-9][0-9]?$")
Count = conint(strict=True, ge=0, le=MAX_COUNT)


class CassetteCount(Params):
    denomination: StrictStr
    count: Count  # type: ignore[valid-type]

    _denomination = validator("denomination", allow_reuse=True)(_denomination)


class CashboxCount(Params):
    count: Count  # type: ignore[valid-type]
    fiat: StrictStr

    @validator("fiat")
    def _fiat(cls, value: str) -> str:
        fiat.parse_amount(value, "cashbox fiat")
        return value


class ReportCashParams(Params):
    report_id: TxId  # type: ignore[valid-type]
    positions: dict[Position, CassetteCount]  # type: ignore[valid-type]
    cashbox: CashboxCount | None = None

    @validator("positions", pre=True)
    def _some(cls, value: object) -> object:
        # Before each entry is parsed: a huge object is refused at once.
        if isinstance(value, dict) and not 1 <= len(value) <= MAX_CASSETTES:
            raise ValueError(f"give 1 to {MAX_CASSETTES} positions")
        return value


class CancelTransactionParams(Params):
    tx_id: TxId  # type: ignore[valid-type]
    reason: constr(strict=True, max_length=500) = ""  # type: ignore[valid-type]


class PairParams(Params):
    token: constr(strict=True, min_length=1, max_length=200)  # type: ignore[valid-type]


P = TypeVar("P", bound=Params)


def parse_params(model: type[P], params: dict) -> P:
    try:
        return model.parse_obj(params)
    except ValidationError as exc:
        raise RpcError("bad_request", _first_error(exc)) from exc
