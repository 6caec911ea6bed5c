"""The RPC log is kept for the super user's ``rpc_log_retention_days``, then purged."""

from __future__ import annotations

import uuid
from typing import Any

from helpers import API
from satmachineadmin import crud, helpers, tasks
from satmachineadmin.database import db

DAY = 86400


async def _log_entry(age_s: int) -> str:
    entry_id = uuid.uuid4().hex
    await crud.insert_rpc_log(
        rows=[
            {
                "id": entry_id,
                "created_at": helpers.now() - age_s,
                "operator_id": None,
                "machine_id": None,
                "pubkey": "ab" * 32,
                "event_id": uuid.uuid4().hex * 2,
                "relay": "test-relay",
                "request_id": "r",
                "method": "get_info",
                "tx_id": None,
                "latency_ms": 1,
                "error_code": None,
            }
        ]
    )
    return entry_id


async def _stored(ids: list[str]) -> set[str]:
    names = {f"i{n}": entry_id for n, entry_id in enumerate(ids)}
    rows: list[Any] = await db.fetchall(
        "SELECT id FROM satmachineadmin.rpc_log "
        f"WHERE id IN ({', '.join(':' + name for name in names)})",
        names,
    )
    return {row["id"] for row in rows}


async def test_the_retention_is_a_bounded_super_setting(
    client, super_user, super_config
):
    response = await client.get(f"{API}/super/config", headers=super_user.headers)
    config = response.json()
    assert config["rpc_log_retention_days"] == 90
    for bad in (0, 3651, "a week"):
        response = await super_config.put({"rpc_log_retention_days": bad})
        assert response.status_code == 400, (bad, response.text)
    response = await super_config.put({"rpc_log_retention_days": 7})
    assert response.status_code == 200, response.text
    assert response.json()["rpc_log_retention_days"] == 7


async def test_maintenance_purges_the_log_past_its_retention(monkeypatch, super_config):
    response = await super_config.put({"rpc_log_retention_days": 7})
    assert response.status_code == 200, response.text
    old = [await _log_entry(7 * DAY + 60 + n) for n in range(5)]
    kept = [await _log_entry(age) for age in (0, DAY, 7 * DAY - 60)]
    monkeypatch.setattr(tasks, "RPC_LOG_PURGE_BATCH", 2)  # several batches
    monkeypatch.setattr(tasks, "MAINTENANCE_EVERY_S", 0)
    await tasks.maintenance()
    assert await _stored(old + kept) == set(kept)
