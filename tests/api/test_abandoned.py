"""The abandoned-transaction queue: what pays out nothing until the operator decides."""

from __future__ import annotations

from in_process_rpc import (
    Atm,
    cash_out_params,
    mark_cancelled_after_payment,
    pay_from_customer,
    register,
)
from payout_business import wait_for_status

from helpers import API
from satmachineadmin.database import db
from satmachineadmin.services import payouts


async def paid_cash_out(server, client, operator, make_user) -> tuple[Atm, dict]:
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    return atm, params


async def abandoned(client, operator) -> dict[str, dict]:
    response = await client.get(f"{API}/abandoned", headers=operator.headers)
    assert response.status_code == 200, response.text
    return {tx["tx_id"]: tx for tx in response.json()}


async def test_no_dispense_report_in_time_is_abandoned_then_resolved_partial(
    server, client, operator, make_user
):
    atm, params = await paid_cash_out(server, client, operator, make_user)
    await payouts.abandon_overdue()
    assert params["tx_id"] not in await abandoned(client, operator)  # not yet late

    await db.execute(
        "UPDATE satmachineadmin.atm_transactions SET paid_at = paid_at - 901 "
        "WHERE tx_id = :tx_id",
        {"tx_id": params["tx_id"]},
    )
    await payouts.abandon_overdue()
    queue = await abandoned(client, operator)
    tx = queue[params["tx_id"]]
    assert tx["status"] == "abandoned" and tx["fiat_amount"] == "1000.00"
    page = await client.get(f"{API}/settlements", headers=operator.headers)
    assert page.json()["total"] == 0  # nothing paid out meanwhile

    # A late report from the machine no longer settles it by itself.
    late = await atm.call(
        "report_dispense", {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    )
    assert late["error"]["code"] == "bad_request"

    for body, status in (
        ({"resolution": "partial"}, 400),
        ({"resolution": "partial", "dispensed_fiat": "1000.01"}, 400),
        ({"resolution": "void"}, 400),
        ({"resolution": "full", "dispensed_fiat": "1.00"}, 400),
    ):
        response = await client.post(
            f"{API}/abandoned/{tx['id']}/resolve", json=body, headers=operator.headers
        )
        assert response.status_code == status, (body, response.text)
    resolved = await client.post(
        f"{API}/abandoned/{tx['id']}/resolve",
        json={"resolution": "partial", "dispensed_fiat": "400.00", "note": "jam"},
        headers=operator.headers,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "dispensed"
    settlement = await wait_for_status(
        client, operator, resolved.json()["settlement_id"], "settled"
    )
    assert settlement["fiat_amount"] == "400.00"
    assert settlement["principal_sats"] == 80_000
    assert settlement["undispensed_sats"] == 210_000 - 80_000 - 4_000
    assert params["tx_id"] not in await abandoned(client, operator)
    again = await client.post(
        f"{API}/abandoned/{tx['id']}/resolve",
        json={"resolution": "full"},
        headers=operator.headers,
    )
    assert again.status_code == 409
    log = (await client.get(f"{API}/audit", headers=operator.headers)).json()
    assert "abandoned.resolve" in {entry["action"] for entry in log}


async def test_paid_after_cancel_is_abandoned_and_can_be_voided(
    server, client, operator, make_user
):
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    cancelled = await atm.call(
        "cancel_transaction", {"tx_id": params["tx_id"], "reason": "walked away"}
    )
    assert cancelled["result"]["status"] == "cancelled"
    await pay_from_customer(make_user, invoice["bolt11"])  # paid anyway, later
    lookup = await atm.call("lookup_invoice", {"tx_id": params["tx_id"]})
    assert lookup["result"]["status"] == "paid"
    tx = (await abandoned(client, operator))[params["tx_id"]]
    assert tx["status"] == "cancelled_after_payment"
    voided = await client.post(
        f"{API}/abandoned/{tx['id']}/resolve",
        json={"resolution": "void", "note": "refunded the customer by Lightning"},
        headers=operator.headers,
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void"
    assert voided.json()["note"] == "refunded the customer by Lightning"
    page = await client.get(f"{API}/settlements", headers=operator.headers)
    assert page.json()["total"] == 0


async def test_other_operators_cannot_resolve(server, client, operator, make_user):
    _, params = await paid_cash_out(server, client, operator, make_user)
    await mark_cancelled_after_payment(params["tx_id"])
    tx = (await abandoned(client, operator))[params["tx_id"]]
    other = await make_user("op")
    assert await abandoned(client, other) == {}
    response = await client.post(
        f"{API}/abandoned/{tx['id']}/resolve",
        json={"resolution": "full"},
        headers=other.headers,
    )
    assert response.status_code == 404
