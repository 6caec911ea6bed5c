"""The RPC server's handling of requests, in process, without a relay.

Events are built and signed the way an ATM would, handed to the server as the
relay pool would hand them over (deduplicated and signature-checked), and the
responses it publishes are captured and decrypted. The relay-facing behaviour is
in test_rpc_relays.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from typing import Any

import pytest
from in_process_rpc import (
    Atm,
    CapturingPool,
    cash_in_params,
    cash_out_params,
    expect,
    pay_from_customer,
    register,
    settlements_of,
)
from payout_business import wait_for_status

from helpers import API, FakeClock, pairing_token
from satmachineadmin import crud, services
from satmachineadmin.database import db
from satmachineadmin.nostr import nip44
from satmachineadmin.nostr.events import Event, sign_event
from satmachineadmin.nostr.keys import KeyPair
from satmachineadmin.rpc import BUDGET_BURST, RpcServer, StrangerGate

# --- the contract's checks, in order -----------------------------------------------


async def test_requests_not_for_us_stale_or_undecryptable_are_dropped(
    server, client, operator
):
    atm = Atm(server)
    await register(client, operator, atm)
    other = KeyPair.generate().public_key_hex
    request = json.dumps({"id": "1", "method": "get_info", "params": {}})
    dropped_before = dict(server.dropped)
    # The machine's own pair request, which confirmed it, is logged already.
    paired = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()

    assert await atm.send(atm.event(request, p=other)) is None
    assert await atm.send(atm.event(request, age=301)) is None
    garbled = atm.event(request)
    tampered = sign_event(
        private_key_hex=atm.keys.private_key_hex,
        kind=21000,
        content=garbled.content[:-8] + "AAAAAAA=",
        tags=garbled.tags,
    )
    assert await atm.send(tampered) is None
    assert (
        await atm.send(
            sign_event(
                private_key_hex=atm.keys.private_key_hex,
                kind=21000,
                content="not nip44 at all",
                tags=garbled.tags,
            )
        )
        is None
    )

    # A payload bigger than NIP-44's 65535-byte plaintext limit allows.
    oversized = base64.b64encode(b"\x02" + os.urandom(32 + 65_600 + 32)).decode()
    assert (
        await atm.send(
            sign_event(
                private_key_hex=atm.keys.private_key_hex,
                kind=21000,
                content=oversized,
                tags=garbled.tags,
            )
        )
        is None
    )

    def grew(key: str) -> int:
        return server.dropped[key] - dropped_before.get(key, 0)

    assert (grew("not_for_us"), grew("stale"), grew("undecryptable")) == (1, 1, 3)
    log = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    assert log == paired
    # Within the clock tolerance the same request is answered.
    answer = await atm.send(atm.event(request, age=250))
    assert answer is not None and answer["result"]["name"] == "Lobby"


async def test_malformed_requests_get_bad_request(server, client, operator):
    atm = Atm(server)
    await register(client, operator, atm)
    for plaintext, expected_id in (
        ("this is not json", ""),
        (json.dumps([1, 2, 3]), ""),
        (json.dumps({"id": "abc", "params": {}}), "abc"),
        (json.dumps({"id": "x" * 65, "method": "get_info"}), ""),
        (json.dumps({"id": 7, "method": "get_info"}), ""),
        (json.dumps({"id": "p1", "method": "get_info", "params": "no"}), "p1"),
    ):
        response = await atm.send(atm.event(plaintext))
        assert response is not None, plaintext
        assert response["id"] == expected_id
        assert response["error"]["code"] == "bad_request", (plaintext, response)


async def test_unknown_machine_unknown_method_and_disabled(server, client, operator):
    clock = FakeClock(1000.0)
    server.strangers = StrangerGate(clock=clock)
    stranger = Atm(server)
    response = await stranger.call("get_info")
    assert response["error"]["code"] == "unknown_machine"
    # One unknown_machine per author per minute: the next is dropped unanswered.
    request = {"id": "again", "method": "make_invoice", "params": cash_out_params()}
    assert await stranger.send(stranger.event(json.dumps(request))) is None
    clock.now += 60
    response = await stranger.call("make_invoice", cash_out_params())
    assert response["error"]["code"] == "unknown_machine"

    atm = Atm(server)
    machine = await register(client, operator, atm)
    assert (await atm.call("steal_everything"))["error"]["code"] == "unknown_method"
    info = (await atm.call("get_info"))["result"]
    assert info["machine_id"] == machine["id"]
    assert info["operator"] == operator.username
    assert info["protocol_version"] == 1
    assert info["dispense_confirmation"] == "report"
    assert abs(info["server_time"] - time.time()) < 5

    await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"status": "disabled"},
        headers=operator.headers,
    )
    assert (await atm.call("get_info"))["error"]["code"] == "unknown_machine"


async def test_amount_rules_refuse_and_store_nothing(server, client, operator):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    cases = [
        (cash_out_params(amount_sats=210_001), "inconsistent_amounts"),
        (cash_out_params(fee_sats=-1, amount_sats=199_999), "inconsistent_amounts"),
        (
            cash_out_params(amount_sats=0, principal_sats=0, fee_sats=0),
            "inconsistent_amounts",
        ),
        (cash_out_params(fiat_code="USD"), "inconsistent_amounts"),
        # 204_001 sats for 1000.00 GTQ is 2.0005 % above the rate: beyond 2 %.
        (
            cash_out_params(principal_sats=204_001, amount_sats=214_001),
            "inconsistent_amounts",
        ),
        (cash_out_params(amount_sats=210_000.0), "bad_request"),
        (cash_out_params(fiat_amount=1000), "bad_request"),
        (cash_out_params(fiat_amount="10.001"), "bad_request"),
        (cash_out_params(exchange_rate="-1"), "bad_request"),
        (cash_out_params(fiat_code="ZZZ"), "bad_request"),
        ({"amount_sats": 1}, "bad_request"),
        # Above LNbits' invoice limit (10M sats by default), however consistent.
        (
            cash_out_params(
                amount_sats=12_000_000,
                principal_sats=12_000_000,
                fee_sats=0,
                fiat_amount="60000.00",
            ),
            "limit_exceeded",
        ),
    ]
    for params, code in cases:
        response = await atm.call("make_invoice", params)
        assert response.get("error", {}).get("code") == code, (params, response)
    # 204_000 is within 2 %: accepted (with the schedule's 5 % of it).
    accepted = await atm.call(
        "make_invoice",
        cash_out_params(principal_sats=204_000, fee_sats=10_200, amount_sats=214_200),
    )
    assert "result" in accepted, accepted

    from lnbits.core.crud import get_payments

    payments = await get_payments(wallet_id=machine["wallet_id"])
    assert len(payments) == 1  # only the accepted request made an invoice
    assert await settlements_of(client, operator) == []


# --- cash-out -------------------------------------------------------------------------


@pytest.mark.slow
async def test_cash_out_end_to_end_and_replays(server, client, operator, make_user):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    again = (await atm.call("make_invoice", params))["result"]
    assert again == invoice  # a retry gets the same invoice, not a second one
    conflict = await atm.call("make_invoice", {**params, "memo": "different"})
    assert conflict["error"]["code"] == "conflict"

    lookup = (await atm.call("lookup_invoice", {"tx_id": params["tx_id"]}))["result"]
    assert lookup["status"] == "pending" and lookup["amount_sats"] == 210_000
    early = await atm.call(
        "report_dispense", {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    )
    assert early["error"]["code"] == "bad_request"

    await pay_from_customer(make_user, invoice["bolt11"])
    by_hash = await atm.call(
        "lookup_invoice", {"payment_hash": invoice["payment_hash"]}
    )
    assert by_hash["result"]["status"] == "paid"
    assert by_hash["result"]["paid_at"] is not None

    report = {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    dispensed = (await atm.call("report_dispense", report))["result"]
    repeated = (await atm.call("report_dispense", report))["result"]
    assert repeated == dispensed
    settlements = await settlements_of(client, operator)
    assert [s["id"] for s in settlements] == [dispensed["settlement_id"]]
    settlement = (
        await client.get(
            f"{API}/settlements/{dispensed['settlement_id']}", headers=operator.headers
        )
    ).json()
    assert settlement["source"] == "rpc"
    assert settlement["machine_id"] == machine["id"]
    assert settlement["payment_hash"] == invoice["payment_hash"]
    assert (settlement["gross_sats"], settlement["principal_sats"]) == (
        210_000,
        200_000,
    )
    assert settlement["platform_fee_sats"] == 3_000
    assert settlement["operator_fee_sats"] == 7_000
    assert settlement["undispensed_sats"] == 0

    await wait_for_status(client, operator, dispensed["settlement_id"], "settled")
    balance = (await atm.call("get_balance"))["result"]["balance_sats"]
    assert balance == 210_000 - 3_000  # the platform fee left; the rest stays
    log = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    methods = [entry["method"] for entry in log if entry["machine_id"] == machine["id"]]
    assert methods.count("make_invoice") == 3
    assert all(entry["latency_ms"] >= 0 for entry in log)
    assert {e["error_code"] for e in log if e["method"] == "make_invoice"} == {
        None,
        "conflict",
    }


async def test_a_paid_cash_out_is_audited_once_however_many_saw_the_payment(
    server, client, operator, make_user
):
    """The invoice listener, a lookup and the dispense report may each see the
    payment: one of them moves the transaction to paid, and only that one writes
    the audit entry."""
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    machine = await crud.get_machine_by_pubkey(pubkey=atm.keys.public_key_hex)
    assert machine is not None
    unpaid = await crud.get_atm_transaction(
        machine_id=machine.id, tx_id=params["tx_id"]
    )
    assert unpaid is not None and unpaid.status == "invoiced"
    await pay_from_customer(make_user, invoice["bolt11"])
    seen = await asyncio.gather(
        *(services.cash_out_paid(unpaid, machine) for _ in range(3))
    )
    assert {tx.status for tx in seen} == {"paid"}
    # The listener too, if it came first: a move and its entry are one commit.
    assert await _paid_entries(operator.id, unpaid.id) == 1


async def _paid_entries(operator_id: str, transaction_id: str) -> int:
    entries = await crud.list_audit(operator_id=operator_id, limit=500)
    return sum(
        entry.action == "atm_transaction.paid" and entry.object_id == transaction_id
        for entry in entries
    )


async def test_partial_dispense_scales_the_settlement(
    server, client, operator, make_user
):
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    too_much = await atm.call(
        "report_dispense", {"tx_id": params["tx_id"], "dispensed_fiat": "1000.01"}
    )
    assert too_much["error"]["code"] == "inconsistent_amounts"
    result = await atm.call(
        "report_dispense",
        {
            "tx_id": params["tx_id"],
            "dispensed_fiat": "250.00",
            "bills": [{"denomination": "50", "count": 5}],
        },
    )
    settlement = (
        await client.get(
            f"{API}/settlements/{result['result']['settlement_id']}",
            headers=operator.headers,
        )
    ).json()
    assert settlement["fiat_amount"] == "250.00"
    assert settlement["principal_sats"] == 50_000
    assert settlement["commission_sats"] == 2_500
    assert settlement["undispensed_sats"] == 157_500
    assert settlement["gross_sats"] == 210_000


async def test_on_payment_machines_land_when_paid(server, client, operator, make_user):
    atm = Atm(server)
    await register(client, operator, atm, dispense_confirmation="on_payment")
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    # The payment listener lands it; lookup also catches up if it ran first.
    await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    settlements = await settlements_of(client, operator)
    mine = [s for s in settlements if s["tx_id"] == params["tx_id"]]
    assert len(mine) == 1 and mine[0]["principal_sats"] == 200_000
    report = await atm.call(
        "report_dispense", {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    )
    assert report["result"]["settlement_id"] == mine[0]["id"]


@pytest.mark.slow
async def test_cancel_before_and_after_payment(server, client, operator, make_user):
    atm = Atm(server)
    await register(client, operator, atm)
    unpaid = cash_out_params()
    await atm.call("make_invoice", unpaid)
    cancelled = await atm.call(
        "cancel_transaction", {"tx_id": unpaid["tx_id"], "reason": "customer left"}
    )
    assert cancelled["result"]["status"] == "cancelled"
    paid = cash_out_params()
    invoice = (await atm.call("make_invoice", paid))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    after = await atm.call(
        "cancel_transaction", {"tx_id": paid["tx_id"], "reason": "jam"}
    )
    assert after["result"]["status"] == "cancelled_after_payment"
    missing = await atm.call("cancel_transaction", {"tx_id": "nope", "reason": ""})
    assert missing["error"]["code"] == "not_found"
    assert await settlements_of(client, operator) == []


# --- cash-in --------------------------------------------------------------------------


@pytest.mark.slow
async def test_cash_in_pays_the_customer_once(server, client, operator, make_user):
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    atm = Atm(server)
    machine = await register(client, operator, atm)
    customer = await make_user("cust")
    params = await cash_in_params(customer.wallet_id)
    from lnbits.bolt11 import decode as decode_bolt11

    invoice = decode_bolt11(params["bolt11"])
    broke = await atm.call("pay_invoice", params)
    assert broke["error"]["code"] == "insufficient_balance"

    wallet = await get_wallet(machine["wallet_id"])
    assert wallet is not None
    await update_wallet_balance(wallet, 500_000)
    retry = {**params, "tx_id": uuid.uuid4().hex}
    wrong = await atm.call("pay_invoice", {**retry, "fee_sats": 9_000})
    assert wrong["error"]["code"] == "inconsistent_amounts"
    paid = (await atm.call("pay_invoice", retry))["result"]
    assert paid == {
        "payment_hash": invoice.payment_hash,
        "status": "paid",
        "fee_paid_sats": 0,
    }
    replay = (await atm.call("pay_invoice", retry))["result"]
    assert replay == paid
    customer_wallet = await get_wallet(customer.wallet_id)
    assert customer_wallet is not None and customer_wallet.balance == 190_000
    settlements = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] == retry["tx_id"]
    ]
    assert len(settlements) == 1
    assert settlements[0]["direction"] == "cash_in"
    assert settlements[0]["commission_sats"] == 10_000
    assert settlements[0]["platform_fee_sats"] == 3_000


# --- pairing --------------------------------------------------------------------------


async def test_pairing_is_single_use_and_expires(server, client, operator):
    created = await client.post(
        f"{API}/pairings",
        json={"name": "Airport", "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    assert created.status_code == 201, created.text
    pairing = created.json()
    assert pairing["seed_url"].startswith("bitspire://pair?v=1&server=npub1")
    assert "qr_svg" not in pairing  # the page draws the QR code of the seed URL
    token = pairing["seed_url"].split("token=")[1].split("&")[0]
    assert pairing["expires_at"] - time.time() == pytest.approx(3600, abs=5)

    atm = Atm(server)
    paired = (await atm.call("pair", {"token": token}))["result"]
    assert paired["name"] == "Airport" and paired["fiat_code"] == "GTQ"
    again = (await atm.call("pair", {"token": token}))["result"]
    assert again == paired  # a lost response is safe to retry
    machines = (await client.get(f"{API}/machines", headers=operator.headers)).json()
    assert paired["machine_id"] in {m["id"] for m in machines}
    assert (await atm.call("get_info"))["result"]["machine_id"] == paired["machine_id"]

    other = Atm(server)
    reused = await other.call("pair", {"token": token})
    assert reused["error"]["code"] == "conflict"
    unknown = await other.call("pair", {"token": "nope"})
    assert unknown["error"]["code"] == "not_found"

    stale = await client.post(
        f"{API}/pairings", json={"name": "Old"}, headers=operator.headers
    )
    stale_token = stale.json()["seed_url"].split("token=")[1].split("&")[0]
    from satmachineadmin.database import db

    await db.execute(
        "UPDATE satmachineadmin.pairings SET expires_at = 1 WHERE id = :id",
        {"id": stale.json()["id"]},
    )
    expired = await other.call("pair", {"token": stale_token})
    assert expired["error"]["code"] == "bad_request"
    assert "expired" in expired["error"]["message"]
    listed = (await client.get(f"{API}/pairings", headers=operator.headers)).json()
    assert {p["id"] for p in listed} >= {pairing["id"], stale.json()["id"]}
    assert all(p["seed_url"] is None for p in listed)  # the token is shown once


async def test_rpc_log_and_pairings_are_per_operator(
    server, client, operator, make_user
):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    await atm.call("get_info")
    await client.post(f"{API}/pairings", json={"name": "A"}, headers=operator.headers)
    other = await make_user("op")
    mine = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    assert machine["id"] in {entry["machine_id"] for entry in mine}
    theirs = await client.get(f"{API}/rpc/log", headers=other.headers)
    assert theirs.json() == []
    assert (await client.get(f"{API}/pairings", headers=other.headers)).json() == []
    foreign = await client.get(
        f"{API}/rpc/log?machine_id={machine['id']}", headers=other.headers
    )
    assert foreign.json() == []
    health = (await client.get(f"{API}/rpc/health", headers=operator.headers)).json()
    assert any(row["code"] == "ok" and row["count"] >= 1 for row in health["last_24h"])


async def test_a_machine_added_by_npub_is_bound_when_it_confirms(
    server, client, operator
):
    atm = Atm(server)
    expected = await expect(client, operator, atm, dispense_confirmation="on_payment")
    assert expected["status"] == "waiting"
    assert expected["expected_npub"] == atm.keys.npub
    await server.refresh()  # as the running server does every second
    # Until the machine confirms, its key is nobody's machine.
    listed = (await client.get(f"{API}/machines", headers=operator.headers)).json()
    assert atm.keys.public_key_hex not in {m["pubkey"] for m in listed}
    assert (await atm.call("get_info"))["error"]["code"] == "unknown_machine"
    await server.handle_event(atm.beacon({"cash_out": True}), "test-relay")
    assert await crud.get_machine_by_pubkey(pubkey=atm.keys.public_key_hex) is None

    # Another key cannot redeem the token made for this one, nor use it up.
    token = pairing_token(expected["seed_url"])
    intruder = await Atm(server).call("pair", {"token": token})
    assert intruder["error"]["code"] == "not_found", intruder

    paired = (await atm.call("pair", {"token": token}))["result"]
    assert paired["name"] == "Lobby" and paired["fiat_code"] == "GTQ"
    info = (await atm.call("get_info"))["result"]
    assert info["machine_id"] == paired["machine_id"]
    assert info["dispense_confirmation"] == "on_payment"
    listed = (await client.get(f"{API}/pairings", headers=operator.headers)).json()
    mine = next(p for p in listed if p["id"] == expected["id"])
    assert (mine["status"], mine["machine_id"]) == ("paired", paired["machine_id"])


async def test_two_operators_expect_one_machine_only_the_confirmed_one_gets_it(
    server, client, operator, make_user
):
    rival = await make_user("op")
    atm = Atm(server)
    ours = await expect(client, operator, atm)
    theirs = await expect(client, rival, atm)
    assert set(ours) == set(theirs)
    assert (ours["status"], theirs["status"]) == ("waiting", "waiting")

    paired = await atm.call("pair", {"token": pairing_token(ours["seed_url"])})
    machine_id = paired["result"]["machine_id"]
    # The rival's token, even redeemed by the machine, binds nothing more.
    refused = await atm.call("pair", {"token": pairing_token(theirs["seed_url"])})
    assert refused["error"]["code"] == "conflict", refused
    assert (await client.get(f"{API}/machines", headers=rival.headers)).json() == []
    owner = await crud.get_machine_by_pubkey(pubkey=atm.keys.public_key_hex)
    assert owner is not None
    assert (owner.id, owner.operator_id) == (machine_id, operator.id)

    # Adding a held key again is answered as for a free key: nothing tells the
    # rival who holds it.
    again = await expect(client, rival, atm)
    fresh = await expect(client, rival, Atm(server))
    assert set(again) == set(fresh) and again["status"] == fresh["status"]
    assert operator.id not in json.dumps(again)
    assert operator.username not in json.dumps(again)


async def test_the_machines_binding_is_unique_in_the_database(server, operator):
    from sqlalchemy.exc import IntegrityError

    atm = Atm(server)
    row = {
        "id": uuid.uuid4().hex,
        "operator_id": operator.id,
        "pubkey": atm.keys.public_key_hex,
        "wallet_id": operator.wallet_id,
        "name": "x",
        "location": None,
        "fiat_code": "GTQ",
        "status": "active",
        "dispense_confirmation": "report",
        "created_at": 1,
        "updated_at": 1,
    }
    await crud.insert_machine(row=row)
    with pytest.raises(IntegrityError):
        await crud.insert_machine(row={**row, "id": uuid.uuid4().hex})
    await crud.delete_machine_without_settlements(
        machine_id=row["id"], operator_id=operator.id
    )


# --- beacons and telemetry ------------------------------------------------------------


async def test_beacons_newest_wins_whatever_the_order(server, client, operator):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    now = int(time.time())

    def beacon(created_at: int, level: str) -> Event:
        return atm.beacon(
            {
                "cash_in": True,
                "cash_out": False,
                "cash_level": level,
                "fiat": 7,
                "model": "bitSpire K1",
                "firmware": "2.1",
            },
            created_at=created_at,
        )

    for event in (
        beacon(now - 10, "newest"),
        beacon(now - 60, "old"),
        beacon(now - 30, "mid"),
    ):
        await server.handle_event(event, "test-relay")
    shown = (
        await client.get(f"{API}/machines/{machine['id']}", headers=operator.headers)
    ).json()
    assert shown["online"] is True
    assert shown["last_seen"] == now - 10
    assert shown["beacon"]["cash_level"] == "newest"
    assert shown["beacon"]["cash_out"] is False
    assert "fiat" not in shown["beacon"]  # wrong type: ignored, not fatal
    assert shown["beacon"]["raw"]["firmware"] == "2.1"  # unknown: kept raw

    telemetry = sign_event(
        private_key_hex=atm.keys.private_key_hex,
        kind=30079,
        content=json.dumps({"temperature_c": 41}),
        tags=[["d", "health"]],
    )
    await server.handle_event(telemetry, "relay-a")
    await server.handle_event(telemetry, "relay-b")
    stored = (
        await client.get(
            f"{API}/machines/{machine['id']}/telemetry", headers=operator.headers
        )
    ).json()
    assert [row["content"] for row in stored] == [{"temperature_c": 41}]

    stranger = KeyPair.generate()
    await server.handle_event(
        sign_event(
            private_key_hex=stranger.private_key_hex,
            kind=30078,
            content="{}",
            tags=[["d", "bitspire-beacon"]],
        ),
        "test-relay",
    )
    assert server.dropped["announcement_from_unknown"] >= 1


async def test_an_event_is_handled_once_even_by_two_servers(server, client, operator):
    """A relay that replays stored requests after a restart, or a second LNbits
    process on the same database: the event id is remembered in the database."""
    atm = Atm(server)
    machine = await register(client, operator, atm)
    event = atm.event(json.dumps({"id": "once", "method": "get_info", "params": {}}))
    first = await atm.send(event)
    assert first is not None and first["result"]["machine_id"] == machine["id"]

    restarted = RpcServer()
    capture = CapturingPool()
    restarted.pool = capture  # type: ignore[assignment]  # a recording stand-in
    restarted.keys = server.keys
    await restarted.handle_event(event, "another-relay")
    assert capture.published == []
    assert restarted.dropped["already_handled"] == 1
    log = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    assert [entry["event_id"] for entry in log].count(event.id) == 1


async def test_a_retry_of_a_pair_still_being_handled_gets_no_conflict(
    server, client, operator, monkeypatch
):
    """A slow server: the machine resends its pair while the first copy is still
    making the machine. The resend must not answer "already used" (the machine
    would show a failure while it is in fact paired): it gets no answer, and the
    first copy's answer follows."""
    import asyncio

    from satmachineadmin.services import pairing as pairing_service

    created = await client.post(
        f"{API}/pairings",
        json={"name": "Slow", "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    token = pairing_token(created.json()["seed_url"])
    making, release = asyncio.Event(), asyncio.Event()
    real_create_machine = pairing_service.create_machine

    async def slow_create_machine(*args, **kwargs):
        making.set()
        await release.wait()
        return await real_create_machine(*args, **kwargs)

    monkeypatch.setattr(pairing_service, "create_machine", slow_create_machine)
    atm = Atm(server)
    request = json.dumps({"id": "p1", "method": "pair", "params": {"token": token}})
    first = asyncio.create_task(server.handle_event(atm.event(request), "relay-a"))
    await asyncio.wait_for(making.wait(), 10)

    in_flight_before = server.dropped["in_flight"]
    assert await atm.send(atm.event(request)) is None
    assert server.dropped["in_flight"] == in_flight_before + 1

    release.set()
    await first
    answer = json.loads(
        nip44.decrypt(server.pool.published[-1].content, atm.conversation_key)
    )
    assert answer["result"]["name"] == "Slow", answer
    again = await atm.send(atm.event(request))
    assert again is not None and again["result"] == answer["result"]


async def test_a_pair_cut_short_after_its_machine_was_made_is_finished_by_the_retry(
    server, client, operator, monkeypatch
):
    """A crash between making the machine and recording it on the pairing: the
    machine's retry finds its machine and is answered as paired."""
    from satmachineadmin.services import pairing as pairing_service

    created = await client.post(
        f"{API}/pairings",
        json={"name": "Cut", "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    token = pairing_token(created.json()["seed_url"])

    async def crash(**kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(pairing_service.crud, "set_pairing_machine", crash)
    atm = Atm(server)
    failed = await atm.call("pair", {"token": token})
    assert failed["error"]["code"] == "internal"
    monkeypatch.undo()

    paired = await atm.pair(token)
    machines = (await client.get(f"{API}/machines", headers=operator.headers)).json()
    assert [m["id"] for m in machines if m["name"] == "Cut"] == [paired["machine_id"]]
    listed = (await client.get(f"{API}/pairings", headers=operator.headers)).json()
    assert {p["status"] for p in listed if p["id"] == created.json()["id"]} == {
        "paired"
    }


async def test_a_pair_is_answered_once_even_by_two_servers(server, client, operator):
    """Two LNbits processes on one database both receive a machine's pair: the one
    that did not redeem the token must not answer the machine with a conflict."""
    atm = Atm(server)
    expected = (
        await client.post(
            f"{API}/machines",
            json={"npub": atm.keys.npub, "name": "Twin", "fiat_code": "GTQ"},
            headers=operator.headers,
        )
    ).json()
    token = pairing_token(expected["seed_url"])
    event = atm.event(
        json.dumps({"id": "p", "method": "pair", "params": {"token": token}})
    )
    other = RpcServer()
    capture = CapturingPool()
    other.pool = capture  # type: ignore[assignment]  # a recording stand-in
    other.keys = server.keys
    first = await atm.send(event)
    assert first is not None and "result" in first, first
    await other.handle_event(event, "another-relay")
    assert capture.published == []
    assert other.dropped["already_handled"] == 1


@pytest.mark.slow
async def test_a_cash_in_cannot_be_cancelled_or_paid_twice(
    server, client, operator, make_user
):
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    atm = Atm(server)
    machine = await register(client, operator, atm, dispense_confirmation="on_payment")
    wallet = await get_wallet(machine["wallet_id"])
    assert wallet is not None
    await update_wallet_balance(wallet, 1_000_000)
    customer, second = await make_user("cust"), await make_user("cust")

    async def bolt11(user) -> str:
        return (await cash_in_params(user.wallet_id))["bolt11"]

    params = await cash_in_params(customer.wallet_id)
    assert (await atm.call("pay_invoice", params))["result"]["status"] == "paid"
    other_invoice = await atm.call(
        "pay_invoice", {**params, "bolt11": await bolt11(second)}
    )
    assert other_invoice["error"]["code"] == "conflict"
    lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    cancel = await atm.call("cancel_transaction", {"tx_id": params["tx_id"]})
    assert (
        cancel["result"]["status"] == "paid"
    )  # the customer was paid: nothing to undo
    queue = (await client.get(f"{API}/abandoned", headers=operator.headers)).json()
    assert params["tx_id"] not in {tx["tx_id"] for tx in queue}
    customer_wallet = await get_wallet(customer.wallet_id)
    second_wallet = await get_wallet(second.wallet_id)
    assert customer_wallet is not None and second_wallet is not None
    assert (customer_wallet.balance, second_wallet.balance) == (190_000, 0)


# --- authors that are not machines ---------------------------------------------------


async def _count(table: str, event_ids: list[str]) -> int:
    names = {f"e{i}": event_id for i, event_id in enumerate(event_ids)}
    row: Any = await db.fetchone(
        f"SELECT COUNT(*) AS n FROM satmachineadmin.{table} "
        f"WHERE event_id IN ({', '.join(':' + name for name in names)})",
        names,
    )
    return int(row["n"])


async def test_a_flood_from_unknown_keys_writes_nothing_and_is_rate_limited(
    server, client, operator
):
    """Unknown authors: no handled_events or rpc_log row, at most one answer per
    author per minute, and a shared budget; an active machine is still answered."""
    clock = FakeClock(1000.0)
    atm = Atm(server)
    await register(client, operator, atm)
    await server.refresh()  # the machine is in the server's list of active keys
    # A fresh budget: the registration's pair (a stranger's until then) spent one.
    server.strangers = StrangerGate(clock=clock)
    pool = server.pool
    assert isinstance(pool, CapturingPool)
    request = json.dumps({"id": "f", "method": "get_info", "params": {}})

    # One key sending again and again: answered once.
    repeater = Atm(server)
    events = [repeater.event(request) for _ in range(10)]
    answers = [await repeater.send(event) for event in events]
    assert [a is not None for a in answers] == [True] + [False] * 9
    assert server.dropped["unknown_rate_limited"] == 9

    # Many fresh keys at once: the burst of the shared budget, then nothing.
    strangers = [Atm(server) for _ in range(2 * BUDGET_BURST)]
    flood = [stranger.event(request) for stranger in strangers]
    before = len(pool.published)
    for stranger, event in zip(strangers, flood, strict=True):
        await stranger.send(event)
    answered = pool.published[before:]
    assert len(answered) == BUDGET_BURST - 1  # the repeater spent one token
    assert len({a.tags[0][1] for a in answered}) == len(answered)
    assert server.dropped["unknown_over_budget"] == BUDGET_BURST + 1

    # The machine, budget or not: answered and logged.
    info = await atm.call("get_info")
    assert info["result"]["name"] == "Lobby"

    all_events = events + flood
    assert await _count("handled_events", [e.id for e in all_events]) == 0
    assert await _count("rpc_log", [e.id for e in all_events]) == 0

    # A minute later the budget has refilled and the repeater is answered again.
    clock.now += 60
    assert await repeater.send(repeater.event(request)) is not None


async def test_a_machine_enabled_since_the_last_refresh_is_answered(
    server, client, operator
):
    """A machine that became active since the server last read the list (enabled
    again, or paired through another LNbits process) is answered at once."""
    atm = Atm(server)
    machine = await register(client, operator, atm)
    url = f"{API}/machines/{machine['id']}"
    await client.patch(url, json={"status": "disabled"}, headers=operator.headers)
    await server.refresh()
    await client.patch(url, json={"status": "active"}, headers=operator.headers)
    assert atm.keys.public_key_hex not in server._active_machines
    info = await atm.call("get_info")
    assert info["result"]["machine_id"] == machine["id"]
    log = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    assert [
        (entry["machine_id"], entry["method"])
        for entry in log
        if entry["machine_id"] == machine["id"]
    ].count((machine["id"], "get_info")) == 1


async def test_a_disabled_machine_gets_one_answer_a_minute(server, client, operator):
    clock = FakeClock(1000.0)
    server.strangers = StrangerGate(clock=clock)
    atm = Atm(server)
    machine = await register(client, operator, atm)
    await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"status": "disabled"},
        headers=operator.headers,
    )
    await server.refresh()
    response = await atm.call("get_info")
    assert response["error"]["code"] == "unknown_machine"
    assert "disabled" in response["error"]["message"]
    request = json.dumps({"id": "d", "method": "get_info", "params": {}})
    events = [atm.event(request) for _ in range(5)]
    assert [await atm.send(event) for event in events] == [None] * 5
    assert await _count("handled_events", [e.id for e in events]) == 0
    log = (await client.get(f"{API}/rpc/log", headers=operator.headers)).json()
    answered = [
        entry
        for entry in log
        if entry["machine_id"] == machine["id"] and entry["method"] == "get_info"
    ]
    assert len(answered) == 1, answered
