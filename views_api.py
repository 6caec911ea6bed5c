"""REST API: authenticate, validate, delegate to ``services``.

Who may call what: the super user (``check_super_user``) owns the platform fee; any
LNbits user with the extension enabled is an operator of their own objects and an
LP of whatever operators enrolled them. Another operator's object is "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
)
from fastapi.routing import APIRoute
from lnbits.core.models import Account, User
from lnbits.decorators import check_super_user, check_user_exists

from . import crud, helpers, services
from .calculations import CalculationError
from .errors import SatMachineError
from .models import (
    AbandonedResolve,
    AtmTransaction,
    BalanceSettle,
    BalanceSettlement,
    DailyMachineStats,
    Deposit,
    DepositCreate,
    Direction,
    ErrorDetail,
    Forward,
    ForwardingSettings,
    LpBalanceSettlement,
    LpCode,
    LpCodeCreate,
    LpDistribution,
    LpEnrol,
    LpEnrolment,
    LpProfile,
    LpSummary,
    Machine,
    MachineCreate,
    MachineUpdate,
    ManualSettlementCreate,
    OperatorTotals,
    Pairing,
    PairingCreate,
    PlatformFee,
    Settlement,
    SettlementPage,
    SettlementTotals,
    SplitPreview,
    SplitPreviewRequest,
    SplitRule,
    SplitsUpdate,
    SuperConfigUpdate,
)
from .rpc import rpc_server
from .services import atm_transactions as transactions
from .services import pairing


class _DomainErrorsAsHttp(APIRoute):
    """Turns the services' domain errors into 4xx answers with their message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SatMachineError as exc:
                raise HTTPException(exc.status, exc.message) from exc
            except CalculationError as exc:
                raise HTTPException(HTTPStatus.BAD_REQUEST, str(exc)) from exc

        return handle


# LNbits answers a malformed request with 400, not FastAPI's 422, and every refusal
# with {"detail": ...}: documenting 4XX says so and keeps FastAPI from listing a 422
# that never comes.
REFUSED = "Refused: `detail` says why."
REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorDetail, "description": REFUSED}
}
# A CSV download is refused in JSON all the same; FastAPI would document the model
# under the route's own media type, text/csv, so the content is spelled out.
CSV_REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": REFUSED,
        "content": {"application/json": {"schema": ErrorDetail.schema()}},
    }
}

api = APIRouter(prefix="/api/v1", route_class=_DomainErrorsAsHttp, responses=REFUSALS)


# Query numbers are parsed here, not by int(): that accepts "1_000", other
# scripts' digits (a superscript two even passes str.isdigit()) and any size; a
# number SQLite or PostgreSQL cannot hold fails in the database with a 500.
# The last second of the year 9999: what a date can say and a BIGINT can hold.
MAX_INSTANT = 253_402_300_799
MAX_OFFSET = 1_000_000_000
ROWS = {"default": 100, "low": 1, "high": 1000}


def _bad_query(message: str) -> HTTPException:
    return HTTPException(HTTPStatus.BAD_REQUEST, message)


def _is_ascii_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _in_range(text: str, low: int, high: int) -> int | None:
    """The ASCII number ``text`` if it lies in low..high, read only if it can."""
    if len(text.lstrip("0")) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def _whole_number(text: str, label: str, low: int, high: int) -> int:
    if not _is_ascii_number(text):
        raise _bad_query(f"{label} must be a whole number written with digits 0-9")
    number = _in_range(text, low, high)
    if number is None:
        raise _bad_query(f"{label} must be from {low} to {high}")
    return number


def query_int(name: str, label: str, *, default: int, low: int, high: int) -> Any:
    """A bounded integer query parameter, with a plain message when it is not."""

    def parse(value: str | None = Query(None, alias=name)) -> int:
        if value is None or not value.strip():
            return default
        return _whole_number(value.strip(), label, low, high)

    return Depends(parse)


# --- super user -----------------------------------------------------------------------


@api.get("/super/config")
async def api_get_super_config(_: Account = Depends(check_super_user)) -> dict:
    return (await services.get_super_config()).public_dict()


@api.put("/super/config")
async def api_update_super_config(
    data: SuperConfigUpdate, account: Account = Depends(check_super_user)
) -> dict:
    config = await services.update_super_config(data, actor_id=account.id)
    return config.public_dict()


@api.get("/super/overview")
async def api_super_overview(
    _: Account = Depends(check_super_user),
) -> list[OperatorTotals]:
    return await services.super_overview()


@api.post("/super/rotate-key")
async def api_rotate_server_key(account: Account = Depends(check_super_user)) -> dict:
    config = await services.rotate_server_key(actor_id=account.id)
    return config.public_dict()


@api.get("/super/relays")
async def api_relay_status(_: Account = Depends(check_super_user)) -> dict:
    return rpc_server.status()


@api.get("/platform-fee")
async def api_platform_fee(_: User = Depends(check_user_exists)) -> PlatformFee:
    return await services.get_platform_fee()


# --- machines -------------------------------------------------------------------------


@api.get("/machines")
async def api_list_machines(user: User = Depends(check_user_exists)) -> list[Machine]:
    return await services.list_machines(user.id)


@api.post("/machines", status_code=HTTPStatus.CREATED)
async def api_create_machine(
    data: MachineCreate, user: User = Depends(check_user_exists)
) -> Pairing:
    """Adds an *expected* machine: it is bound to this operator only when the
    machine with that key redeems the answer's one-time token (``pair``)."""
    return await pairing.expect_machine(user.id, data)


@api.get("/machines/{machine_id}")
async def api_get_machine(
    machine_id: str, user: User = Depends(check_user_exists)
) -> Machine:
    return await services.get_machine(user.id, machine_id)


@api.patch("/machines/{machine_id}")
async def api_update_machine(
    machine_id: str, data: MachineUpdate, user: User = Depends(check_user_exists)
) -> Machine:
    return await services.update_machine(user.id, machine_id, data)


@api.delete("/machines/{machine_id}")
async def api_delete_machine(
    machine_id: str, user: User = Depends(check_user_exists)
) -> dict:
    return await services.delete_machine(user.id, machine_id)


@api.get("/machines/{machine_id}/telemetry")
async def api_machine_telemetry(
    machine_id: str,
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    return await services.machine_telemetry(user.id, machine_id, limit)


@api.post("/pairings", status_code=HTTPStatus.CREATED)
async def api_create_pairing(
    data: PairingCreate, user: User = Depends(check_user_exists)
) -> Pairing:
    return await pairing.create_pairing(user.id, data)


@api.get("/pairings")
async def api_list_pairings(user: User = Depends(check_user_exists)) -> list[Pairing]:
    return await pairing.list_pairings(user.id)


@api.get("/rpc/log")
async def api_rpc_log(
    machine_id: str | None = None,
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    return await crud.list_rpc_log(
        operator_id=user.id, machine_id=machine_id, limit=limit
    )


@api.get("/rpc/health")
async def api_rpc_health(user: User = Depends(check_user_exists)) -> dict:
    """What an operator needs to see that their machines can reach the server."""
    status = rpc_server.status()
    day_ago = helpers.now() - 86400
    return {
        "server_pubkey": status["server_pubkey"],
        "relays_connected": sum(1 for relay in status["relays"] if relay["connected"]),
        "relays_total": len(status["relays"]),
        "last_24h": await crud.rpc_error_counts(operator_id=user.id, since=day_ago),
    }


# --- splits ---------------------------------------------------------------------------


@api.get("/splits")
async def api_get_splits(user: User = Depends(check_user_exists)) -> dict:
    return {"rules": await services.get_splits(user.id)}


@api.put("/splits")
async def api_set_splits(
    data: SplitsUpdate, user: User = Depends(check_user_exists)
) -> dict[str, list[SplitRule]]:
    return {"rules": await services.set_splits(user.id, data)}


@api.post("/splits/preview")
async def api_preview_splits(
    data: SplitPreviewRequest, user: User = Depends(check_user_exists)
) -> SplitPreview:
    return await services.preview_split(user.id, data)


# --- settlements ----------------------------------------------------------------------


def _seconds(text: str, *, end_of_day: bool) -> int | None:
    """Unix seconds of an ISO date (midnight UTC) or an ISO datetime, if it is one."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return int((start + timedelta(days=1 if end_of_day else 0)).timestamp())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _instant(value: str | None, label: str, *, end_of_day: bool) -> int | None:
    """Unix seconds, an ISO date (midnight UTC) or an ISO datetime."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if _is_ascii_number(text):
        seconds = _in_range(text, 0, MAX_INSTANT)
        if seconds is None:
            raise _bad_query(f"{label} is out of range")
        return seconds
    if text.isascii() and len(text) <= 40:
        try:
            seconds = _seconds(text, end_of_day=end_of_day)
        except OverflowError:  # the day after 9999-12-31
            raise _bad_query(f"{label} is out of range") from None
    else:
        seconds = None
    if seconds is None:
        raise _bad_query(
            f"{label} must be Unix seconds, a date such as 2024-01-31 or a date "
            "and time such as 2024-01-31T12:00:00Z"
        )
    if not 0 <= seconds <= MAX_INSTANT:
        raise _bad_query(f"{label} is out of range")
    return seconds


def settlement_filter(
    machine_id: str | None = None,
    status: str | None = Query(None, max_length=32),
    direction: Direction | None = None,
    since: str | None = Query(None, description="inclusive; date means 00:00 UTC"),
    until: str | None = Query(None, description="exclusive; a date includes that day"),
) -> services.SettlementFilter:
    return services.SettlementFilter(
        machine_id=machine_id,
        status=status,
        direction=direction,
        since=_instant(since, "The start date (since)", end_of_day=False),
        until=_instant(until, "The end date (until)", end_of_day=True),
    )


@api.get("/settlements", response_model=SettlementPage)
async def api_list_settlements(
    filters: services.SettlementFilter = Depends(settlement_filter),
    limit: int = query_int(
        "limit", "The page size (limit)", default=50, low=1, high=500
    ),
    offset: int = query_int("offset", "The offset", default=0, low=0, high=MAX_OFFSET),
    user: User = Depends(check_user_exists),
) -> Response:
    page = await services.list_settlements(user.id, filters, limit=limit, offset=offset)
    # The page is a validated model already: FastAPI's response_model path would
    # validate and encode it again, which costs more than the query (bench/README).
    return Response(page.json(), media_type="application/json")


class CsvResponse(Response):
    """A CSV download; as a route's response_class, the schema says text/csv."""

    media_type = "text/csv"


def _csv(content: str, filename: str) -> CsvResponse:
    return CsvResponse(
        content=content,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api.get("/settlements.csv", response_class=CsvResponse, responses=CSV_REFUSALS)
async def api_settlements_csv(
    filters: services.SettlementFilter = Depends(settlement_filter),
    user: User = Depends(check_user_exists),
) -> Response:
    return _csv(await services.settlements_csv(user.id, filters), "settlements.csv")


@api.get("/settlements/totals")
async def api_settlement_totals(
    filters: services.SettlementFilter = Depends(settlement_filter),
    user: User = Depends(check_user_exists),
) -> SettlementTotals:
    return await services.settlement_totals(user.id, filters)


@api.get("/stats/daily")
async def api_daily_stats(
    days: int = query_int("days", "The number of days", default=30, low=1, high=366),
    user: User = Depends(check_user_exists),
) -> list[DailyMachineStats]:
    return await services.daily_stats(user.id, days=days)


@api.get("/settlements/{settlement_id}")
async def api_get_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> Settlement:
    return await services.get_settlement(user.id, settlement_id)


@api.post(
    "/settlements/manual",
    status_code=HTTPStatus.CREATED,
    responses={
        200: {
            "model": Settlement,
            "description": "Recorded before under this tx_id: that settlement.",
        }
    },
)
async def api_manual_settlement(
    data: ManualSettlementCreate,
    response: Response,
    user: User = Depends(check_user_exists),
) -> Settlement:
    settlement, created = await services.record_manual_settlement(user.id, data)
    if not created:
        response.status_code = HTTPStatus.OK
    return settlement


@api.get("/worklist")
async def api_worklist(user: User = Depends(check_user_exists)) -> list[Settlement]:
    """Settlements with legs that failed to pay, with attempts and last errors."""
    return await services.worklist(user.id)


@api.post("/settlements/{settlement_id}/retry")
async def api_retry_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> Settlement:
    return await services.retry_settlement(user.id, settlement_id)


@api.get("/abandoned")
async def api_abandoned(
    user: User = Depends(check_user_exists),
) -> list[AtmTransaction]:
    return await services.list_abandoned(user.id)


@api.post("/abandoned/{transaction_id}/resolve")
async def api_resolve_abandoned(
    transaction_id: str,
    data: AbandonedResolve,
    user: User = Depends(check_user_exists),
) -> AtmTransaction:
    row = await transactions.resolve_abandoned(user.id, transaction_id, data)
    return services.atm_transaction(row)


# --- liquidity providers (operator side) ----------------------------------------------


@api.get("/lps")
async def api_list_lps(user: User = Depends(check_user_exists)) -> list[LpEnrolment]:
    return await services.list_lps(user.id)


@api.post("/lps", status_code=HTTPStatus.CREATED)
async def api_enrol_lp(
    data: LpEnrol, user: User = Depends(check_user_exists)
) -> LpEnrolment:
    return await services.enrol_lp(user.id, data)


@api.post("/lps/{enrolment_id}/deposits", status_code=HTTPStatus.CREATED)
async def api_add_deposit(
    enrolment_id: str, data: DepositCreate, user: User = Depends(check_user_exists)
) -> Deposit:
    return await services.add_deposit(user.id, enrolment_id, data)


@api.post("/lps/{enrolment_id}/settle", status_code=HTTPStatus.CREATED)
async def api_settle_lp_balance(
    enrolment_id: str,
    data: BalanceSettle,
    response: Response,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    user: User = Depends(check_user_exists),
) -> BalanceSettlement:
    """With an ``Idempotency-Key`` header, a repeated request (same key, same
    body) settles once: the repeat gets the first answer with 200; the same key
    with another body is a 409."""
    settlement, created = await services.settle_lp_balance(
        user.id,
        enrolment_id,
        data,
        user_wallet_ids={wallet.id for wallet in user.wallets},
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = HTTPStatus.OK
    return settlement


@api.get("/balance-settlements")
async def api_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[BalanceSettlement]:
    return await services.list_balance_settlements(user.id)


@api.get("/worklist/balance-settlements")
async def api_worklist_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[BalanceSettlement]:
    """Failed LP balance settlements, with the reason: retry or void each."""
    return await services.failed_balance_settlements(user.id)


@api.post("/balance-settlements/{settlement_id}/retry")
async def api_retry_balance_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> BalanceSettlement:
    return await services.retry_balance_settlement(user.id, settlement_id)


@api.post("/balance-settlements/{settlement_id}/void")
async def api_void_balance_settlement(
    settlement_id: str, user: User = Depends(check_user_exists)
) -> BalanceSettlement:
    """A failed balance settlement given up: its amount is the LP's balance again."""
    return await services.void_balance_settlement(user.id, settlement_id)


@api.put("/deposits/{deposit_id}/confirm")
async def api_confirm_deposit(
    deposit_id: str, user: User = Depends(check_user_exists)
) -> Deposit:
    return await services.confirm_deposit(user.id, deposit_id)


@api.get("/deposits")
async def api_list_deposits(
    enrolment_id: str | None = None,
    status: str | None = Query(None, regex="^(pending|confirmed)$"),
    user: User = Depends(check_user_exists),
) -> list[Deposit]:
    return await services.list_deposits(user.id, enrolment_id, status)


@api.get("/audit")
async def api_audit_log(
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    return await services.audit_log(user.id, limit)


# --- liquidity providers (their own view) ---------------------------------------------


@api.get("/lp/me")
async def api_lp_me(user: User = Depends(check_user_exists)) -> LpSummary:
    return await services.lp_summary(user.id)


@api.post("/lp/code", status_code=HTTPStatus.CREATED)
async def api_create_lp_code(
    data: LpCodeCreate, user: User = Depends(check_user_exists)
) -> LpCode:
    """A one-time code the LP gives an operator: their consent to be enrolled."""
    return await services.create_lp_code(
        user.id, data, user_wallet_ids=[wallet.id for wallet in user.wallets]
    )


@api.get("/lp/code")
async def api_get_lp_code(user: User = Depends(check_user_exists)) -> LpCode | None:
    return await services.get_lp_code(user.id)


@api.get("/lp/profile")
async def api_get_lp_profile(user: User = Depends(check_user_exists)) -> LpProfile:
    return await services.get_lp_profile(user.id)


@api.put("/lp/profile")
async def api_set_lp_profile(
    data: LpProfile, user: User = Depends(check_user_exists)
) -> LpProfile:
    """The name operators see for this LP (else the LNbits username)."""
    return await services.set_lp_profile(user.id, data)


@api.get("/lp/distributions")
async def api_lp_distributions(
    user: User = Depends(check_user_exists),
) -> list[LpDistribution]:
    return await services.lp_distributions(user.id)


@api.get("/lp/balance-settlements")
async def api_lp_balance_settlements(
    user: User = Depends(check_user_exists),
) -> list[LpBalanceSettlement]:
    """The LP's balance settlements: held until paid, paid, or voided."""
    return await services.lp_balance_settlements(user.id)


@api.get("/lp/distributions.csv", response_class=CsvResponse, responses=CSV_REFUSALS)
async def api_lp_distributions_csv(user: User = Depends(check_user_exists)) -> Response:
    return _csv(await services.lp_distributions_csv(user.id), "distributions.csv")


@api.get("/lp/forwarding")
async def api_get_forwarding(
    user: User = Depends(check_user_exists),
) -> ForwardingSettings:
    return await services.get_forwarding(user.id)


@api.put("/lp/forwarding")
async def api_set_forwarding(
    data: ForwardingSettings, user: User = Depends(check_user_exists)
) -> ForwardingSettings:
    return await services.set_forwarding(user.id, data)


@api.get("/lp/forwards")
async def api_list_forwards(user: User = Depends(check_user_exists)) -> list[Forward]:
    return await services.list_forwards(user.id)
