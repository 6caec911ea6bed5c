"""Fee schedules through the API (contract §9.2): the operator's default and
per-machine overrides, each machine's effective schedule and version, the
example quote, and the super user's cap and settings."""

from __future__ import annotations

import pytest

from helpers import API, add_machine, cash_out_body


def schedule(out_bps=500, in_bps=400, **cash_out) -> dict:
    return {
        "cash_out": {
            "commission_bps": out_bps,
            "fixed_fee_sats": 0,
            "min_fiat": "20.00",
            "max_fiat": "5000.00",
            **cash_out,
        },
        "cash_in": {
            "commission_bps": in_bps,
            "fixed_fee_sats": 0,
            "min_fiat": None,
            "max_fiat": "2000",
        },
    }


async def put_default(client, operator, body):
    client.cookies.clear()
    return await client.put(f"{API}/fees", json=body, headers=operator.headers)


async def machine_fees(client, operator, machine_id):
    client.cookies.clear()
    return await client.get(
        f"{API}/machines/{machine_id}/fees", headers=operator.headers
    )


async def put_override(client, operator, machine_id, body):
    client.cookies.clear()
    return await client.put(
        f"{API}/machines/{machine_id}/fees", json=body, headers=operator.headers
    )


NOTHING = {
    "commission_bps": 0,
    "fixed_fee_sats": 0,
    "min_fiat": None,
    "max_fiat": None,
}


async def test_until_the_operator_sets_one_machines_charge_no_commission(
    client, operator
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    assert (await client.get(f"{API}/fees", headers=operator.headers)).json() == {
        "default": {"cash_out": NOTHING, "cash_in": NOTHING},
        "is_set": False,
    }
    fees = (await machine_fees(client, operator, machine["id"])).json()
    assert fees["source"] == "builtin" and fees["version"] == 1
    assert fees["fetched"] is False and fees["override"] is None
    assert fees["schedule"]["cash_out"] == NOTHING
    assert fees["schedule"]["cash_in"] == NOTHING


async def test_the_default_prices_every_machine_and_each_change_is_a_version(
    client, operator
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    response = await put_default(client, operator, schedule())
    assert response.status_code == 200, response.text
    assert response.json()["default"]["cash_in"]["max_fiat"] == "2000"
    assert response.json()["is_set"] is True

    # Version 1 was the built-in default it had when it was added.
    fees = (await machine_fees(client, operator, machine["id"])).json()
    assert fees["source"] == "default" and fees["override"] is None
    assert fees["version"] == 2 and fees["fetched"] is False
    published = fees["schedule"]
    assert published["version"] == 2 and published["schema_version"] == 1
    assert published["machine_id"] == machine["id"]
    assert published["fiat_code"] == "GTQ"
    assert published["cash_out"] == {
        "commission_bps": 500,
        "fixed_fee_sats": 0,
        "min_fiat": "20.00",
        "max_fiat": "5000.00",
    }
    # In the currency's decimals, as the machine receives it.
    assert published["cash_in"]["max_fiat"] == "2000.00"
    assert published["cash_in"]["min_fiat"] is None

    # The same schedule again is no change: no new version.
    assert (await put_default(client, operator, schedule())).status_code == 200
    assert (await machine_fees(client, operator, machine["id"])).json()["version"] == 2

    override = await put_override(
        client, operator, machine["id"], schedule(out_bps=450, fixed_fee_sats=100)
    )
    assert override.status_code == 200, override.text
    fees = override.json()
    assert fees["source"] == "machine" and fees["version"] == 3
    assert fees["schedule"]["cash_out"]["commission_bps"] == 450
    assert fees["schedule"]["cash_out"]["fixed_fee_sats"] == 100
    assert fees["override"]["cash_out"]["commission_bps"] == 450

    # An edit of the default does not touch a machine with its own schedule.
    assert (await put_default(client, operator, schedule(out_bps=600))).is_success
    assert (await machine_fees(client, operator, machine["id"])).json()["version"] == 3

    client.cookies.clear()
    cleared = await client.delete(
        f"{API}/machines/{machine['id']}/fees", headers=operator.headers
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["source"] == "default" and cleared.json()["version"] == 4
    assert cleared.json()["schedule"]["cash_out"]["commission_bps"] == 600

    audit = await client.get(f"{API}/audit", headers=operator.headers)
    versions = [
        entry["detail"]["version"]
        for entry in audit.json()
        if entry["action"] == "fee_schedule.version"
    ]
    assert sorted(versions) == [1, 2, 3, 4]
    actions = [entry["action"] for entry in audit.json()]
    assert actions.count("fee_schedule.set") == 4
    assert actions.count("fee_schedule.clear") == 1


async def test_a_machine_added_later_gets_the_default(client, operator):
    assert (await put_default(client, operator, schedule())).status_code == 200
    machine = await add_machine(client, operator, fiat_code="GTQ")
    fees = (await machine_fees(client, operator, machine["id"])).json()
    assert fees["source"] == "default" and fees["version"] == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (schedule(out_bps=2001), "above the platform's maximum of 2000 bps"),
        (schedule(out_bps=10_001), "commission_bps"),
        (schedule(fixed_fee_sats=-1), "fixed_fee_sats"),
        (schedule(fixed_fee_sats=1_000_001), "at most 1,000,000 sats (0.01 BTC)"),
        (schedule(fixed_fee_sats=10**14), "at most 1,000,000 sats (0.01 BTC)"),
        (schedule(min_fiat="30", max_fiat="20"), "min_fiat 30 is above max_fiat 20"),
        (schedule(max_fiat="5000.001"), "more decimals than GTQ allows"),
        (schedule(min_fiat="-1"), "min_fiat"),
        ({"cash_out": schedule()["cash_out"]}, "cash_in"),
    ],
)
async def test_bad_schedules_are_refused_and_nothing_is_saved(
    client, operator, body, words
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    assert (await put_default(client, operator, schedule())).status_code == 200
    for response in (
        await put_default(client, operator, body),
        await put_override(client, operator, machine["id"], body),
    ):
        assert response.status_code == 400, response.text
        assert words in str(response.json()["detail"])
    fees = (await machine_fees(client, operator, machine["id"])).json()
    assert fees["source"] == "default" and fees["version"] == 2
    assert fees["schedule"]["cash_out"]["commission_bps"] == 500


async def test_another_operators_machine_is_not_found(client, operator, make_user):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    other = await make_user("other")
    path = f"{API}/machines/{machine['id']}/fees"
    client.cookies.clear()
    answers = [
        await client.get(path, headers=other.headers),
        await client.put(path, json=schedule(), headers=other.headers),
        await client.delete(path, headers=other.headers),
        await client.post(
            f"{path}/quote",
            json={"fiat_amount": "100", "exchange_rate": "500000"},
            headers=other.headers,
        ),
    ]
    assert [answer.status_code for answer in answers] == [404] * 4
    fees = await machine_fees(client, operator, machine["id"])
    assert fees.json()["source"] == "builtin" and fees.json()["version"] == 1


async def test_clearing_an_override_without_a_default_returns_to_the_builtin(
    client, operator
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    path = f"{API}/machines/{machine['id']}/fees"
    assert (await client.delete(path, headers=operator.headers)).status_code == 404
    assert (await put_override(client, operator, machine["id"], schedule())).is_success
    cleared = await client.delete(path, headers=operator.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["source"] == "builtin" and cleared.json()["version"] == 3
    assert cleared.json()["schedule"]["cash_out"] == NOTHING


async def test_the_quote_prices_an_amount_and_splits_its_commission(client, operator):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    body = {"fiat_amount": "1000.00", "exchange_rate": "500000.00"}
    path = f"{API}/machines/{machine['id']}/fees/quote"
    builtin = await client.post(path, json=body, headers=operator.headers)
    assert builtin.status_code == 200, builtin.text
    assert builtin.json()["fee_sats"] == 0 and builtin.json()["fee_version"] == 1
    await put_default(client, operator, schedule(fixed_fee_sats=250))

    quote = (await client.post(path, json=body, headers=operator.headers)).json()
    assert quote["principal_sats"] == 200_000
    assert quote["fee_sats"] == 10_250  # 5 % of 200 000, and the fixed 250
    assert quote["customer_sats"] == 210_250
    assert quote["fee_version"] == 2 and quote["within_limits"] is True
    # The operator fixture's platform fee: 30 % of the commission.
    assert quote["split"]["commission_sats"] == 10_250
    assert quote["split"]["platform_fee_sats"] == 3075
    assert quote["split"]["operator_fee_sats"] == 10_250 - 3075

    cash_in = await client.post(
        path,
        json={**body, "direction": "cash_in", "fiat_amount": "2000.01"},
        headers=operator.headers,
    )
    assert cash_in.status_code == 200, cash_in.text
    assert cash_in.json()["fee_sats"] == 16_000  # 4 % of 400 002, half up
    assert cash_in.json()["customer_sats"] == 400_002 - 16_000
    assert cash_in.json()["within_limits"] is False

    bad = await client.post(
        path, json={**body, "fiat_amount": "1.001"}, headers=operator.headers
    )
    assert bad.status_code == 400


async def test_the_super_users_cap_and_fee_settings(
    client, operator, super_config, super_user
):
    config = await super_config.get()
    assert config["cash_out_max_commission_bps"] == 2000
    assert config["cash_in_max_commission_bps"] == 2000
    assert config["fee_enforcement"] == "refuse"
    assert config["fee_grace_s"] == 600

    machine = await add_machine(client, operator, fiat_code="GTQ")
    assert (await put_default(client, operator, schedule(1900))).status_code == 200
    # The cap cannot go below what a schedule (of any operator) already charges.
    refused = await super_config.put({"cash_out_max_commission_bps": 1899})
    assert refused.status_code == 400
    # Said in the form's unit, naming whose schedule stands in the way.
    assert refused.json()["detail"] == (
        f"the cash-out fee schedule of {operator.username} charges a commission "
        "of 19.00 %, above the new maximum of 18.99 %"
    )
    lowered = await super_config.set(
        {"cash_out_max_commission_bps": 1900, "fee_enforcement": "record"}
    )
    assert lowered["fee_enforcement"] == "record"
    too_high = await put_default(client, operator, schedule(out_bps=1901))
    assert too_high.status_code == 400
    assert "maximum of 1900 bps" in too_high.json()["detail"]
    assert (await super_config.put({"fee_enforcement": "ignore"})).status_code == 400
    assert (await super_config.put({"fee_grace_s": -1})).status_code == 400

    # Operators see the cap beside the platform fee.
    platform = await client.get(f"{API}/platform-fee", headers=operator.headers)
    assert platform.json()["cash_out_max_commission_bps"] == 1900

    # A platform fee on the principal raises every schedule to at least its rate,
    # and the machines get a new version.
    await super_config.set(
        {"cash_in_fee_bps": 450, "fee_basis": "principal", "cash_out_fee_bps": 100}
    )
    fees = (await machine_fees(client, operator, machine["id"])).json()
    assert fees["version"] == 3
    assert fees["schedule"]["cash_in"]["commission_bps"] == 450
    assert fees["schedule"]["cash_out"]["commission_bps"] == 1900


async def test_only_the_super_user_sees_the_mismatches(client, operator, super_user):
    client.cookies.clear()
    path = f"{API}/super/fee-mismatches"
    assert (await client.get(path, headers=operator.headers)).status_code in (
        401,
        403,
    )
    response = await client.get(path, headers=super_user.headers)
    assert response.status_code == 200
    assert isinstance(response.json(), list)


async def test_manual_transactions_take_the_schedules_fee_unless_a_reason_is_given(
    client, operator
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    path = f"{API}/settlements/manual"
    no_fee = cash_out_body(machine["id"])
    del no_fee["fee_sats"]
    del no_fee["fee_override_reason"]
    await put_default(client, operator, schedule(out_bps=400))
    priced = await client.post(path, json=no_fee, headers=operator.headers)
    assert priced.status_code == 201, priced.text
    assert priced.json()["commission_sats"] == 8000  # 4 % of 200 000
    assert priced.json()["fee_version"] == 2
    assert priced.json()["fee_mismatch_sats"] == 0

    other = cash_out_body(machine["id"])  # 10 000 sats
    del other["fee_override_reason"]
    refused = await client.post(path, json=other, headers=operator.headers)
    assert refused.status_code == 400
    assert "fee_override_reason" in refused.json()["detail"]
    blank = {**other, "fee_override_reason": "  "}
    blank_refused = await client.post(path, json=blank, headers=operator.headers)
    assert blank_refused.status_code == 400
    page = await client.get(f"{API}/settlements", headers=operator.headers)
    assert page.json()["total"] == 1  # nothing landed for the refused ones

    reason = "customer paid the old rate shown on the sticker"
    overridden = await client.post(
        path, json={**other, "fee_override_reason": reason}, headers=operator.headers
    )
    assert overridden.status_code == 201, overridden.text
    settlement = overridden.json()
    assert settlement["commission_sats"] == 10_000
    assert settlement["fee_mismatch_sats"] == 2000
    audit = await client.get(f"{API}/audit", headers=operator.headers)
    (entry,) = [e for e in audit.json() if e["action"] == "settlement.fee_override"]
    assert entry["object_id"] == settlement["id"]
    assert entry["detail"]["reason"] == reason
    assert entry["detail"]["fee_mismatch_sats"] == 2000


async def test_a_deleted_machine_takes_its_schedule_and_versions_with_it(
    client, operator
):
    from satmachineadmin.database import db

    machine = await add_machine(client, operator, fiat_code="GTQ")
    assert (await put_override(client, operator, machine["id"], schedule())).is_success
    client.cookies.clear()
    deleted = await client.delete(
        f"{API}/machines/{machine['id']}", headers=operator.headers
    )
    assert deleted.status_code == 200, deleted.text
    for table in ("fee_schedules", "fee_versions"):
        rows: list = await db.fetchall(
            f"SELECT * FROM satmachineadmin.{table} WHERE machine_id = :id",
            {"id": machine["id"]},
        )
        assert rows == [], table
