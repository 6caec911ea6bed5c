"""Each state-changing request acts once per (machine, method, tx_id).

The claim is a row with a unique key: of two racing copies, one inserts it and the
other reads the stored response (or, while it is being made, answers nothing: the
machine retries). A claim left behind by a crash is taken over after
STALE_CLAIM_S, and the effects are written so that resuming them does not repeat a
payment. Only results are stored: an error means nothing happened, so the claim is
released and a retry is evaluated afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from .. import crud, helpers
from ..models import MachineRow, RpcRequestRow
from .errors import DuplicateInFlight, RpcError

# A claim still "processing" after this long belongs to a worker that died.
STALE_CLAIM_S = 60


def _params_hash(params: dict) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class _Replay:
    """The stored result of a request that was answered before."""

    result: dict


def _always_final(result: dict) -> bool:
    return True


async def once(
    machine: MachineRow,
    method: str,
    tx_id: str,
    params: dict,
    effect: Callable[[], Awaitable[dict]],
    *,
    is_final: Callable[[dict], bool] = _always_final,
) -> dict:
    """Runs ``effect`` once per (machine, method, tx_id) and stores its result;
    a retry with the same parameters gets the stored result again."""
    claim = await _claim(
        machine_id=machine.id,
        method=method,
        tx_id=tx_id,
        params_hash=_params_hash(params),
    )
    if isinstance(claim, _Replay):
        return claim.result
    try:
        result = await effect()
    except BaseException:
        # An error means no effect happened: the claim goes, and a retry runs
        # again (a top-up or a payment arriving in between can change the answer).
        await crud.release_rpc_request(request_id=claim)
        raise
    if not is_final(result):
        # Not settled yet (a payment in flight): the retry asks again, and the
        # effect finds the payment it already started instead of starting another.
        await crud.release_rpc_request(request_id=claim)
        return result
    await crud.finish_rpc_request(
        request_id=claim,
        response=json.dumps({"result": result}),
        now=helpers.now(),
    )
    return result


async def _claim(
    *, machine_id: str, method: str, tx_id: str, params_hash: str
) -> str | _Replay:
    """The id of the claim this caller holds now, or the result to replay."""
    now = helpers.now()
    claim = RpcRequestRow(
        id=helpers.new_id(),
        machine_id=machine_id,
        method=method,
        tx_id=tx_id,
        params_hash=params_hash,
        status="processing",
        created_at=now,
        updated_at=now,
    )
    try:
        await crud.claim_rpc_request(row=claim)
        return claim.id
    except IntegrityError:
        pass
    existing = await crud.get_rpc_request(
        machine_id=machine_id, method=method, tx_id=tx_id
    )
    if existing is None:  # released between our insert and read
        raise DuplicateInFlight()
    if existing.params_hash != params_hash:
        raise RpcError(
            "conflict", f"tx_id {tx_id} was used before with other parameters"
        )
    if existing.status == "done" and existing.response is not None:
        return _Replay(json.loads(existing.response)["result"])
    if not await crud.take_over_rpc_request(
        request_id=existing.id, stale_before=now - STALE_CLAIM_S, now=now
    ):
        raise DuplicateInFlight()
    return existing.id
