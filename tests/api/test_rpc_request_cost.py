"""What a machine's routine traffic costs the databases.

With a fleet, machines' get_info and beacons arrive many times a second; each turn
on a database waits behind every other (LNbits hands out one connection per
database at a time). These tests count the turns, so that a change which adds
one to the hot path fails here rather than in a fleet.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from types import FrameType

import pytest
from in_process_rpc import (
    Atm,
    cash_out_params,
    pay_from_customer,
    register,
    rpc_server,
)
from turn_counting import count_turns

from helpers import API, wait_until
from satmachineadmin import crud
from satmachineadmin.database import db
from satmachineadmin.models import RpcLogRow
from satmachineadmin.rpc import request_log
from satmachineadmin.rpc.request_log import RequestLog
from satmachineadmin.rpc.server import RpcServer


def _parts(server: RpcServer) -> set[int]:
    """The ids of ``server`` and of the helpers it holds (its admissions, its
    request log, ...): the objects whose methods do its work."""
    held = (
        value
        for value in vars(server).values()
        if type(value).__module__.startswith("satmachineadmin.")
    )
    return {id(server), *map(id, held)}


def _asked_by(parts: set[int], frame: FrameType | None) -> bool:
    """Whether the code asking for a connection is a method of one of ``parts``
    (its task's frames). The app's own RPC server refreshes every second, and
    the payout worker and LNbits' tasks take turns at any moment: none of them
    is the server under test."""
    while frame is not None:
        owner = frame.f_locals.get("self")
        if owner is not None and id(owner) in parts:
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def turns(monkeypatch, server) -> Counter:
    """Connections the RPC server under test opened, per database: "extension"
    and "lnbits"."""
    from lnbits.core.db import db as core_db

    parts = _parts(server)
    counted: Counter = Counter()
    for name, database in (("extension", db), ("lnbits", core_db)):

        def key(frame: FrameType | None, name: str = name) -> str | None:
            return name if _asked_by(parts, frame) else None

        count_turns(monkeypatch, database, key, counted)
    return counted


async def test_a_get_info_takes_one_turn_on_the_extension_and_none_on_lnbits(
    server, client, operator, turns, monkeypatch
):
    atm = Atm(server)
    await register(client, operator, atm)
    await atm.call("get_info")  # the operator's name is read once, then kept
    await server.request_log.flush()
    at_answer: list[Counter] = []
    publish = server.pool.publish

    async def publishing(event):
        at_answer.append(Counter(turns))
        return await publish(event)

    monkeypatch.setattr(server.pool, "publish", publishing)
    turns.clear()
    info = await atm.call("get_info")
    assert info["result"]["operator"] == operator.username
    # The claim, and the machine with its fee version: one transaction.
    assert at_answer == [Counter({"extension": 1})]
    await server.request_log.flush()
    assert turns == Counter({"extension": 2})  # its line in the RPC log, after
    schedule = await crud.current_fee_version(machine_id=info["result"]["machine_id"])
    assert schedule is not None
    assert info["result"]["fee_version"] == schedule.version
    logged = await crud.list_rpc_log(operator_id=operator.id, limit=10)
    assert sum(row.method == "get_info" for row in logged) == 2


async def test_a_dispense_report_takes_no_turn_on_lnbits(
    server, client, operator, make_user, turns
):
    """Landing a cash-out names nobody: the machine is answered with the
    settlement's id and status, and naming its legs would read each operator
    wallet on LNbits' database, the one its payments wait for."""
    employee = await make_user("emp")
    splits = await client.put(
        f"{API}/splits",
        json={
            "rules": [
                {"label": "self", "wallet_id": operator.wallet_id, "weight_bps": 6000},
                {"label": "emp", "wallet_id": employee.wallet_id, "weight_bps": 4000},
            ]
        },
        headers=operator.headers,
    )
    assert splits.status_code == 200, splits.text
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    paid = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert paid["result"]["status"] == "paid"
    turns.clear()
    report = {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    dispensed = (await atm.call("report_dispense", report))["result"]
    assert turns["lnbits"] == 0
    settlement = await client.get(
        f"{API}/settlements/{dispensed['settlement_id']}", headers=operator.headers
    )
    legs = settlement.json()["legs"]
    assert len(legs) == 3  # the platform's fee and the two wallets'
    assert all(leg["target_name"] for leg in legs)  # the page still names them


async def test_a_known_machines_beacon_takes_one_turn(server, client, operator, turns):
    atm = Atm(server)
    await register(client, operator, atm)
    await server.refresh()  # as the running server does every second
    turns.clear()
    beacon = atm.beacon({"cash_out": True})
    await server.handle_event(beacon, "test-relay")
    assert turns == Counter({"extension": 1})
    machine = await crud.get_machine_by_pubkey(pubkey=atm.keys.public_key_hex)
    assert machine is not None
    stored = await crud.latest_beacons(machine_ids=[machine.id])
    assert [row.event_id for row in stored] == [beacon.id]


async def test_the_servers_refresh_takes_one_turn(server, client, operator, turns):
    """Every second: the super user's settings, the key and the machines."""
    atm = Atm(server)
    await register(client, operator, atm)
    await server.refresh()  # the first one may announce the machines' documents
    app_server = await rpc_server()  # as the app's own, refreshing every second
    await app_server.refresh()
    turns.clear()
    await app_server.refresh()  # not the server under test: not counted
    await server.refresh()
    assert turns == Counter({"extension": 1})
    assert atm.keys.public_key_hex in server._active_machines


async def test_requests_that_arrive_together_are_admitted_in_one_turn(
    server, client, operator, turns, monkeypatch
):
    atms = [Atm(server) for _ in range(5)]
    for atm in atms:
        await register(client, operator, atm)
    claims: list[int] = []
    real = crud.claim_events

    async def counting(*, event_ids, now, conn=None):
        claims.append(len(event_ids))
        return await real(event_ids=event_ids, now=now, conn=conn)

    monkeypatch.setattr(crud, "claim_events", counting)
    answers = await asyncio.gather(*(atm.call("get_info") for atm in atms))
    assert all("result" in answer for answer in answers)
    assert claims == [5]
    names = {answer["result"]["machine_id"] for answer in answers}
    assert len(names) == 5  # each machine its own


async def test_a_request_and_its_copy_arriving_together_are_handled_once(
    server, client, operator
):
    atm = Atm(server)
    await register(client, operator, atm)
    request = {"id": "twice", "method": "get_info", "params": {}}
    event = atm.event(json.dumps(request))
    published = len(server.pool.published)
    await asyncio.gather(
        server.handle_event(event, "relay-a"), server.handle_event(event, "relay-b")
    )
    assert len(server.pool.published) == published + 1
    assert server.dropped["already_handled"] >= 1


def _row(n: int) -> RpcLogRow:
    return RpcLogRow(
        id=uuid.uuid4().hex,
        created_at=1_700_000_000 + n,
        pubkey="ab" * 32,
        event_id=uuid.uuid4().hex * 2,
        method="get_info",
        latency_ms=1,
    )


async def test_log_lines_that_arrive_together_are_written_together(monkeypatch):
    writes: list[int] = []
    real = crud.insert_rpc_log

    async def counting(*, rows, conn=None):
        writes.append(len(rows))
        await real(rows=rows, conn=conn)

    monkeypatch.setattr(crud, "insert_rpc_log", counting)
    log = RequestLog()
    rows = [_row(n) for n in range(120)]
    for row in rows:
        log.add(row)
    await log.flush()
    assert writes == [120]
    stored: list = await db.fetchall(
        "SELECT COUNT(*) AS n FROM satmachineadmin.rpc_log WHERE event_id IN "
        f"({', '.join(repr(row.event_id) for row in rows)})"
    )
    assert stored[0]["n"] == 120


async def test_a_log_the_database_refuses_is_kept_bounded_and_retried(monkeypatch):
    attempts: list[int] = []

    async def refusing(*, rows, conn=None):
        attempts.append(len(rows))
        raise RuntimeError("database is locked")

    monkeypatch.setattr(crud, "insert_rpc_log", refusing)
    monkeypatch.setattr(request_log, "MAX_QUEUED", 50)
    monkeypatch.setattr(request_log, "RETRY_AFTER_S", 0.01)
    log = RequestLog()
    for n in range(60):
        log.add(_row(n))
    await wait_until(lambda: len(attempts) >= 2, what="a retry")  # not given up on
    assert log.dropped == 10  # the oldest ten
    written: list[int] = []

    async def accepting(*, rows, conn=None):
        written.extend(row.created_at - 1_700_000_000 for row in rows)

    monkeypatch.setattr(crud, "insert_rpc_log", accepting)
    await log.flush()
    assert written == list(range(10, 60))
