"""The fee schedule on the wire (contract §9.1, §9.2), with the in-process ATM:
``get_fees``, ``fee_version`` in ``get_info``, ``fee_mismatch`` and
``limit_exceeded`` with their ``error.data``, the grace period of a replaced
schedule, and both ``fee_enforcement`` modes through to the settlement."""

from __future__ import annotations

import uuid

from in_process_rpc import (
    Atm,
    cash_out_params,
    pay_from_customer,
    register,
    settlements_of,
)

from helpers import API
from satmachineadmin.database import db


def schedule(out_bps=500, in_bps=500) -> dict:
    return {
        "cash_out": {
            "commission_bps": out_bps,
            "fixed_fee_sats": 0,
            "min_fiat": "20.00",
            "max_fiat": "5000.00",
        },
        "cash_in": {
            "commission_bps": in_bps,
            "fixed_fee_sats": 0,
            "min_fiat": None,
            "max_fiat": "2000.00",
        },
    }


async def set_default(client, operator, body) -> None:
    client.cookies.clear()
    response = await client.put(f"{API}/fees", json=body, headers=operator.headers)
    assert response.status_code == 200, response.text


async def machine_fees(client, operator, machine_id) -> dict:
    client.cookies.clear()
    response = await client.get(
        f"{API}/machines/{machine_id}/fees", headers=operator.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def priced_machine(server, client, operator, body=None):
    """A machine added and paired under the operator's default ``body``."""
    await set_default(client, operator, body or schedule())
    atm = Atm(server)
    machine = await register(client, operator, atm)
    return atm, machine


async def cash_in_params(make_user, *, principal=200_000, fee=10_000, **extra):
    from lnbits.core.services import create_invoice

    customer = await make_user("cust")
    invoice = await create_invoice(
        wallet_id=customer.wallet_id, amount=principal - fee, memo="cash-in"
    )
    return {
        "tx_id": uuid.uuid4().hex,
        "bolt11": invoice.bolt11,
        "principal_sats": principal,
        "fee_sats": fee,
        "fiat_amount": "1000.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
        **extra,
    }


async def fund_machine(machine) -> None:
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    wallet = await get_wallet(machine["wallet_id"])
    assert wallet is not None
    await update_wallet_balance(wallet, 1_000_000)


async def landed(client, operator, make_user, atm, params) -> dict:
    """A cash-out invoiced, paid and fully dispensed: its settlement."""
    invoice = await atm.call("make_invoice", params)
    assert "result" in invoice, invoice
    await pay_from_customer(make_user, invoice["result"]["bolt11"])
    report = await atm.call(
        "report_dispense",
        {"tx_id": params["tx_id"], "dispensed_fiat": params["fiat_amount"]},
    )
    assert "result" in report, report
    (settlement,) = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] == params["tx_id"]
    ]
    return settlement


async def test_until_the_operator_sets_a_schedule_the_machine_charges_nothing(
    server, client, operator
):
    atm = Atm(server)
    await register(client, operator, atm, builtin_fees=True)
    info = (await atm.call("get_info"))["result"]
    assert info["fee_version"] == 1 and info["features"] == ["fees", "withdraw", "cash"]
    fees = (await atm.call("get_fees"))["result"]
    nothing = {
        "commission_bps": 0,
        "fixed_fee_sats": 0,
        "min_fiat": None,
        "max_fiat": None,
    }
    assert fees["cash_out"] == nothing and fees["cash_in"] == nothing
    # The ATM's own commission is not the server's: refused, 0 expected.
    mine = await atm.call("make_invoice", cash_out_params())
    assert mine["error"]["code"] == "fee_mismatch"
    assert mine["error"]["data"] == {"expected_fee_sats": 0, "fee_version": 1}
    free = cash_out_params(amount_sats=200_000, fee_sats=0)
    assert "result" in await atm.call("make_invoice", free)


async def test_get_fees_is_the_published_schedule_and_marks_it_fetched(
    server, client, operator
):
    atm, machine = await priced_machine(server, client, operator)
    before = await machine_fees(client, operator, machine["id"])
    assert before["fetched"] is False and before["version"] == 1
    fees = (await atm.call("get_fees"))["result"]
    assert fees == before["schedule"]
    assert fees["version"] == 1 and fees["fiat_code"] == "GTQ"
    assert (await atm.call("get_info"))["result"]["fee_version"] == 1
    after = await machine_fees(client, operator, machine["id"])
    assert after["fetched"] is True and after["fetched_at"] is not None

    await set_default(client, operator, schedule(out_bps=600))
    changed = await machine_fees(client, operator, machine["id"])
    assert changed["version"] == 2 and changed["fetched"] is False
    assert (await atm.call("get_info"))["result"]["fee_version"] == 2


async def test_a_wrong_fee_is_refused_with_the_expected_one(
    server, client, operator, make_user
):
    atm, _ = await priced_machine(server, client, operator, schedule(out_bps=400))
    wrong = await atm.call("make_invoice", cash_out_params())  # 5 %, not 4 %
    assert wrong["error"]["code"] == "fee_mismatch"
    assert wrong["error"]["data"] == {"expected_fee_sats": 8000, "fee_version": 1}

    # A v1 machine, sending no fee_version, that charges the schedule's fee.
    right = cash_out_params(amount_sats=208_000, fee_sats=8000)
    settlement = await landed(client, operator, make_user, atm, right)
    assert settlement["fee_version"] == 1
    assert settlement["fee_mismatch_sats"] == 0
    assert settlement["commission_sats"] == 8000


async def test_cash_in_is_priced_too(server, client, operator, make_user):
    atm, machine = await priced_machine(server, client, operator, schedule(in_bps=400))
    await fund_machine(machine)
    wrong = await atm.call("pay_invoice", await cash_in_params(make_user))
    assert wrong["error"]["code"] == "fee_mismatch"
    assert wrong["error"]["data"] == {"expected_fee_sats": 8000, "fee_version": 1}

    over = await cash_in_params(
        make_user, principal=400_002, fee=16_000, fiat_amount="2000.01"
    )
    limited = await atm.call("pay_invoice", over)
    assert limited["error"]["code"] == "limit_exceeded"
    assert limited["error"]["data"] == {"min_fiat": None, "max_fiat": "2000.00"}

    right = await cash_in_params(make_user, fee=8000, fee_version=1)
    paid = await atm.call("pay_invoice", right)
    assert paid["result"]["status"] == "paid", paid
    (settlement,) = [
        s
        for s in await settlements_of(client, operator)
        if s["tx_id"] == right["tx_id"]
    ]
    assert settlement["fee_version"] == 1 and settlement["fee_mismatch_sats"] == 0


async def test_fiat_outside_the_limits_is_refused(server, client, operator):
    atm, _ = await priced_machine(server, client, operator)
    # 10.00 GTQ is 2 000 sats, 5 % is 100: the right fee, below min_fiat.
    low = cash_out_params(
        amount_sats=2100, principal_sats=2000, fee_sats=100, fiat_amount="10.00"
    )
    answer = await atm.call("make_invoice", low)
    assert answer["error"]["code"] == "limit_exceeded"
    assert answer["error"]["data"] == {"min_fiat": "20.00", "max_fiat": "5000.00"}
    high = cash_out_params(
        amount_sats=1_050_001,
        principal_sats=1_000_001,
        fee_sats=50_000,
        fiat_amount="5000.01",
    )
    assert (await atm.call("make_invoice", high))["error"]["code"] == "limit_exceeded"
    edge = cash_out_params(
        amount_sats=4200, principal_sats=4000, fee_sats=200, fiat_amount="20.00"
    )
    assert "result" in await atm.call("make_invoice", edge)


async def test_the_replaced_schedule_is_accepted_only_during_the_grace_period(
    server, client, operator, super_config
):
    await super_config.set({"fee_grace_s": 600})
    atm, machine = await priced_machine(server, client, operator)
    await set_default(client, operator, schedule(out_bps=600))  # version 2

    old_fee = cash_out_params(fee_version=1)  # 5 % of version 1
    assert "result" in await atm.call("make_invoice", old_fee)
    # Without naming it, the old fee is the current schedule's mismatch.
    unnamed = await atm.call("make_invoice", cash_out_params())
    assert unnamed["error"]["data"] == {"expected_fee_sats": 12_000, "fee_version": 2}
    # The current fee is fine whatever version the machine names.
    current = cash_out_params(amount_sats=212_000, fee_sats=12_000, fee_version=1)
    assert "result" in await atm.call("make_invoice", current)

    # Version 1 was replaced longer ago than the grace period.
    await db.execute(
        "UPDATE satmachineadmin.fee_versions SET replaced_at = replaced_at - 601 "
        "WHERE machine_id = :machine_id AND version = 1",
        {"machine_id": machine["id"]},
    )
    late = await atm.call("make_invoice", cash_out_params(fee_version=1))
    assert late["error"]["code"] == "fee_mismatch"
    assert late["error"]["data"] == {"expected_fee_sats": 12_000, "fee_version": 2}
    unknown = await atm.call("make_invoice", cash_out_params(fee_version=99))
    assert unknown["error"]["code"] == "fee_mismatch"


async def test_record_mode_lands_the_difference(
    server, client, operator, make_user, super_config, super_user
):
    await super_config.set({"fee_enforcement": "record"})
    atm, machine = await priced_machine(server, client, operator, schedule(out_bps=400))
    params = cash_out_params()  # 10 000 where the schedule says 8 000
    settlement = await landed(client, operator, make_user, atm, params)
    assert settlement["fee_version"] == 1
    assert settlement["fee_mismatch_sats"] == 2000
    assert settlement["commission_sats"] == 10_000

    # Limits are not a fee: record mode still refuses them.
    low = cash_out_params(
        amount_sats=2100, principal_sats=2000, fee_sats=100, fiat_amount="10.00"
    )
    assert (await atm.call("make_invoice", low))["error"]["code"] == "limit_exceeded"

    client.cookies.clear()
    mismatches = await client.get(
        f"{API}/super/fee-mismatches", headers=super_user.headers
    )
    assert mismatches.status_code == 200
    (mine,) = [m for m in mismatches.json() if m["tx_id"] == params["tx_id"]]
    assert mine["machine_id"] == machine["id"]
    assert mine["fee_mismatch_sats"] == 2000 and mine["fee_version"] == 1


async def test_a_retry_keeps_its_price_after_the_schedule_changes(
    server, client, operator
):
    atm, _ = await priced_machine(server, client, operator)
    params = cash_out_params()
    first = await atm.call("make_invoice", params)
    await set_default(client, operator, schedule(out_bps=600))
    again = await atm.call("make_invoice", params)
    assert again["result"] == first["result"]
