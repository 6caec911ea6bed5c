"""``report_cash`` and the ``bills`` of ``report_dispense`` (contract §9.4): a
replay records once, the bills lower the estimate until the next count, and
every count is reconciled against the estimate."""

from __future__ import annotations

import uuid

import pytest
from in_process_rpc import Atm, cash_out_params, pay_from_customer, register

from helpers import API
from satmachineadmin.database import db


async def set_cassettes(client, operator, machine_id) -> dict:
    client.cookies.clear()
    response = await client.put(
        f"{API}/machines/{machine_id}/cassettes",
        json={
            "cassettes": [
                {"position": "1", "denomination": "100", "capacity": 500},
                {"position": "2", "denomination": "50", "capacity": 500},
            ],
            "cashbox_capacity": 1000,
        },
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def cash_of(client, operator, machine_id) -> dict:
    client.cookies.clear()
    response = await client.get(
        f"{API}/machines/{machine_id}/cash", headers=operator.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def report(report_id: str | None = None, one=372, two=100, cashbox=None) -> dict:
    params: dict = {
        "report_id": report_id or uuid.uuid4().hex,
        "positions": {
            "1": {"denomination": "100", "count": one},
            "2": {"denomination": "50.00", "count": two},
        },
    }
    if cashbox is not None:
        params["cashbox"] = cashbox
    return params


async def count_rows(machine_id: str) -> int:
    row: dict = await db.fetchone(
        "SELECT COUNT(*) AS n FROM satmachineadmin.cash_counts "
        "WHERE machine_id = :m AND kind = 'report'",
        {"m": machine_id},
    )
    return row["n"]


@pytest.fixture
async def machine_with_cassettes(server, client, operator):
    atm = Atm(server)
    machine = await register(client, operator, atm)
    await set_cassettes(client, operator, machine["id"])
    return atm, machine


async def test_a_replayed_report_records_once(machine_with_cassettes, client, operator):
    atm, machine = machine_with_cassettes
    params = report(cashbox={"count": 120, "fiat": "6000"})
    first = await atm.call("report_cash", params)
    assert first["result"] == {"recorded": True}
    again = await atm.call("report_cash", params)
    assert again["result"] == {"recorded": True}
    assert await count_rows(machine["id"]) == 1
    conflict = await atm.call("report_cash", {**params, "cashbox": None})
    assert conflict["error"]["code"] == "conflict"
    assert await count_rows(machine["id"]) == 1

    cash = await cash_of(client, operator, machine["id"])
    (counted,) = [c for c in cash["counts"] if c["kind"] == "report"]
    assert counted["report_id"] == params["report_id"]
    assert counted["positions"] == {"1": 372, "2": 100}
    # The cassettes were set empty: the machine found more than estimated.
    assert counted["differences"] == {"1": 372, "2": 100}
    assert cash["cassettes"][0]["last_count"] == 372
    assert cash["cassettes"][0]["estimated_count"] == 372
    assert cash["cassettes"][0]["fiat_held"] == "37200.00"
    assert cash["fiat_held"] == "42200.00"
    assert cash["cashbox"]["count"] == 120 and cash["cashbox"]["fiat"] == "6000.00"
    assert cash["cashbox"]["fill_percent"] == 12


async def test_bills_lower_the_estimate_until_the_next_count(
    machine_with_cassettes, client, operator, make_user
):
    atm, machine = machine_with_cassettes
    await atm.call("report_cash", report(one=372, two=100))
    params = cash_out_params()  # 1000.00 GTQ
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    dispense = {
        "tx_id": params["tx_id"],
        "dispensed_fiat": "1000.00",
        "bills": [
            {"denomination": "100", "count": 8},
            {"denomination": "50", "count": 3},
            {"denomination": "100.00", "count": 1},
        ],
    }
    assert "result" in await atm.call("report_dispense", dispense)
    assert "result" in await atm.call("report_dispense", dispense)  # a retry

    cash = await cash_of(client, operator, machine["id"])
    one, two = cash["cassettes"]
    assert one["last_count"] == 372 and one["estimated_count"] == 363
    assert two["last_count"] == 100 and two["estimated_count"] == 97
    # Bills went out today: the pace is today's (a window of at least an hour).
    assert one["days_until_empty"] is not None
    assert cash["days_until_empty"] is not None

    # The next count is reconciled against the estimate, and starts anew.
    await atm.call("report_cash", report(one=360, two=97))
    cash = await cash_of(client, operator, machine["id"])
    latest = cash["counts"][0]
    assert latest["estimated"] == {"1": 363, "2": 97}
    assert latest["differences"] == {"1": -3, "2": 0}
    # What the bills add up to, against what the dispense reported.
    assert latest["bills_fiat"] == "1050.00" and latest["settled_fiat"] == "1000.00"
    assert cash["cassettes"][0]["estimated_count"] == 360


async def test_a_refill_reconciles_what_was_found(
    machine_with_cassettes, client, operator
):
    atm, machine = machine_with_cassettes
    await atm.call("report_cash", report(one=10, two=20))
    client.cookies.clear()
    refilled = await client.post(
        f"{API}/machines/{machine['id']}/refills",
        json={"loaded": {"1": 500, "2": 400}, "found": {"1": 9}},
        headers=operator.headers,
    )
    assert refilled.status_code == 201, refilled.text
    latest = refilled.json()["counts"][0]
    assert latest["kind"] == "refill" and latest["differences"] == {"1": -1}
    assert latest["counted"] == {"1": 9} and latest["positions"]["1"] == 500
    assert (await atm.call("get_cassettes"))["result"]["positions"]["1"]["count"] == 500


@pytest.mark.parametrize(
    "params, code, why",
    [
        ({"positions": {}}, "bad_request", "report_id"),
        ({**report(), "report_id": ""}, "bad_request", "report_id"),
        ({**report(), "report_id": "x" * 65}, "bad_request", "report_id"),
        ({**report(), "positions": {}}, "bad_request", "1 to 16"),
        (
            {
                **report(),
                "positions": {
                    str(n): {"denomination": "1", "count": 1} for n in range(1, 18)
                },
            },
            "bad_request",
            "1 to 16",
        ),
        (
            {**report(), "positions": {"3": {"denomination": "100", "count": 1}}},
            "bad_request",
            "no cassette at position 3",
        ),
        (
            {**report(), "positions": {"x": {"denomination": "100", "count": 1}}},
            "bad_request",
            "positions",
        ),
        (report(one=501), "bad_request", "at most 500"),
        (report(one=-1), "bad_request", "greater than or equal to 0"),
        (report(one="5"), "bad_request", "integer"),
        (
            {**report(), "positions": {"1": {"denomination": "20", "count": 1}}},
            "conflict",
            "holds 100.00 bills",
        ),
        (
            {**report(), "positions": {"1": {"denomination": "1e3", "count": 1}}},
            "bad_request",
            "not a decimal number",
        ),
        (report(cashbox={"count": 1, "fiat": "1.001"}), "bad_request", "decimals"),
        (report(cashbox={"count": 1, "fiat": 5}), "bad_request", "str"),
        (report(cashbox={"count": 10**9, "fiat": "5"}), "bad_request", "less than"),
    ],
)
async def test_bad_reports_are_refused_in_words(
    machine_with_cassettes, params, code, why
):
    atm, machine = machine_with_cassettes
    answer = await atm.call("report_cash", params)
    assert answer["error"]["code"] == code, answer
    assert why in answer["error"]["message"], answer
    assert await count_rows(machine["id"]) == 0


async def test_a_machine_without_cassettes_cannot_report(server, client, operator):
    atm = Atm(server)
    await register(client, operator, atm)
    answer = await atm.call("report_cash", report())
    assert answer["error"]["code"] == "not_found"


async def test_bad_bills_are_refused_before_anything_is_settled(
    machine_with_cassettes, make_user
):
    atm, _ = machine_with_cassettes
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    base = {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    for bills, why in (
        ([{"denomination": "100.001", "count": 1}], "more decimals"),
        ([{"denomination": "0", "count": 1}], "above zero"),
        ([{"denomination": "100", "count": -1}], "greater than or equal"),
        ([{"denomination": "100", "count": 1}] * 33, "at most 32"),
        ([{"denomination": "100", "count": 600_000}] * 2, "more than 1000000"),
        ("100", "valid list"),
    ):
        answer = await atm.call("report_dispense", {**base, "bills": bills})
        assert answer["error"]["code"] == "bad_request", (bills, answer)
        assert why in answer["error"]["message"], (bills, answer)
    lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    assert "result" in await atm.call("report_dispense", base)


async def test_get_info_names_the_cash_feature(server, client, operator):
    atm = Atm(server)
    await register(client, operator, atm)
    info = (await atm.call("get_info"))["result"]
    assert "cash" in info["features"]
