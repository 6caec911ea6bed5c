"""An operator's machines: adding and pairing them, their settings, telemetry and
the RPC log and health of their link to the server."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends
from lnbits.core.models import User
from lnbits.decorators import check_user_exists

from .. import crud, helpers, services
from ..models import Machine, MachineCreate, MachineUpdate, Pairing, PairingCreate
from ..rpc import rpc_server
from ..services import pairing
from .queries import ROWS, query_int
from .routing import concern_router

router = concern_router()


@router.get("/machines")
async def api_list_machines(user: User = Depends(check_user_exists)) -> list[Machine]:
    return await services.list_machines(user.id)


@router.post("/machines", status_code=HTTPStatus.CREATED)
async def api_create_machine(
    data: MachineCreate, user: User = Depends(check_user_exists)
) -> Pairing:
    """Adds an *expected* machine: it is bound to this operator only when the
    machine with that key redeems the answer's one-time token (``pair``)."""
    return await pairing.expect_machine(user.id, data)


@router.get("/machines/{machine_id}")
async def api_get_machine(
    machine_id: str, user: User = Depends(check_user_exists)
) -> Machine:
    return await services.get_machine(user.id, machine_id)


@router.patch("/machines/{machine_id}")
async def api_update_machine(
    machine_id: str, data: MachineUpdate, user: User = Depends(check_user_exists)
) -> Machine:
    return await services.update_machine(user.id, machine_id, data)


@router.delete("/machines/{machine_id}")
async def api_delete_machine(
    machine_id: str, user: User = Depends(check_user_exists)
) -> dict:
    return await services.delete_machine(user.id, machine_id)


@router.get("/machines/{machine_id}/telemetry")
async def api_machine_telemetry(
    machine_id: str,
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    return await services.machine_telemetry(user.id, machine_id, limit)


@router.post("/pairings", status_code=HTTPStatus.CREATED)
async def api_create_pairing(
    data: PairingCreate, user: User = Depends(check_user_exists)
) -> Pairing:
    return await pairing.create_pairing(user.id, data)


@router.get("/pairings")
async def api_list_pairings(user: User = Depends(check_user_exists)) -> list[Pairing]:
    return await pairing.list_pairings(user.id)


@router.get("/rpc/log")
async def api_rpc_log(
    machine_id: str | None = None,
    limit: int = query_int("limit", "The number of rows (limit)", **ROWS),
    user: User = Depends(check_user_exists),
) -> list[dict]:
    rows = await crud.list_rpc_log(
        operator_id=user.id, machine_id=machine_id, limit=limit
    )
    return [row.dict() for row in rows]


@router.get("/rpc/health")
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
