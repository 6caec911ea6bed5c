"""People by name, not by id: an LP's display name (given at enrolment, the LP's
own first), who each payout leg pays, and operators on the super user's page."""

from __future__ import annotations

import pytest_asyncio
from payout_business import Business, wait_for_status

from helpers import API, fund, lp_code


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


async def _enrol(client, operator, lp, **body):
    code = await lp_code(client, lp)
    return await client.post(
        f"{API}/lps",
        json={"code": code, "fiat_code": "GTQ", **body},
        headers=operator.headers,
    )


async def test_the_operator_names_an_lp_at_enrolment_and_the_lp_name_goes_first(
    client, make_user
):
    operator, lp = await make_user("op"), await make_user("lp")
    enrolled = await _enrol(client, operator, lp, display_name="  María \t Pérez ")
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["name"] == "María Pérez"

    renamed = await client.put(
        f"{API}/lp/profile", json={"display_name": " Doña María "}, headers=lp.headers
    )
    assert renamed.json() == {"display_name": "Doña María"}
    listed = await client.get(f"{API}/lps", headers=operator.headers)
    assert [row["name"] for row in listed.json()] == ["Doña María"]

    cleared = await client.put(
        f"{API}/lp/profile", json={"display_name": "   "}, headers=lp.headers
    )
    assert cleared.json() == {"display_name": None}
    listed = await client.get(f"{API}/lps", headers=operator.headers)
    assert [row["name"] for row in listed.json()] == ["María Pérez"]


async def test_an_lp_names_themself_with_the_code(client, make_user):
    operator, lp = await make_user("op"), await make_user("lp")
    made = await client.post(
        f"{API}/lp/code", json={"display_name": " Lobby LP "}, headers=lp.headers
    )
    assert made.status_code == 201, made.text
    enrolled = await client.post(
        f"{API}/lps",
        json={"code": made.json()["code"], "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    assert enrolled.json()["name"] == "Lobby LP"
    profile = await client.get(f"{API}/lp/profile", headers=lp.headers)
    assert profile.json() == {"display_name": "Lobby LP"}


async def test_a_name_is_bounded_and_one_line(client, make_user):
    operator, lp = await make_user("op"), await make_user("lp")
    for name, words in (("x" * 65, "at most 64"), ("two\nlines", "line breaks")):
        refused = await _enrol(client, operator, lp, display_name=name)
        assert refused.status_code == 400, refused.text
        assert words in refused.text
        refused = await client.put(
            f"{API}/lp/profile", json={"display_name": name}, headers=lp.headers
        )
        assert refused.status_code == 400 and words in refused.text
    # a refused enrolment left the code usable; a name of exactly 64 is taken
    enrolled = await _enrol(client, operator, lp, display_name="y" * 64)
    assert enrolled.status_code == 201 and enrolled.json()["name"] == "y" * 64


async def test_each_leg_says_whom_it_pays_by_name(client, business):
    await client.put(
        f"{API}/lp/profile",
        json={"display_name": "First LP"},
        headers=business.lps[0].headers,
    )
    for actor, name in (
        (business.employee, "Ana's tips"),
        (business.maintenance, "Upkeep"),
    ):
        renamed = await client.put(
            f"/api/v1/wallet/{name}",
            headers={"X-Api-Key": actor.wallets[0]["adminkey"]},
        )
        assert renamed.status_code == 200, renamed.text
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    done = await wait_for_status(client, business.operator, settlement["id"], "settled")
    by_label = {leg["label"]: leg["target_name"] for leg in done["legs"]}
    assert by_label["Platform fee"] == "Platform fee"
    assert by_label["self"] == business.operator.wallets[0]["name"]
    assert (by_label["employee"], by_label["maintenance"]) == ("Ana's tips", "Upkeep")
    lp_targets = [
        leg["target_name"] for leg in done["legs"] if leg["kind"] == "lp_distribution"
    ]
    # Two LPs enrolled within one second may come in either order.
    assert sorted(lp_targets) == sorted(["First LP", business.lps[1].username])


async def test_the_super_user_sees_operators_by_username(client, super_user, business):
    overview = await client.get(f"{API}/super/overview", headers=super_user.headers)
    assert overview.status_code == 200, overview.text
    names = {row["operator_id"]: row["operator"] for row in overview.json()}
    assert names[business.operator.id] == business.operator.username


async def _incoming(client, actor) -> list[dict]:
    response = await client.get(
        "/api/v1/payments?limit=20",
        headers={"X-Api-Key": actor.wallets[0]["inkey"]},
    )
    assert response.status_code == 200, response.text
    return [p for p in response.json() if p["amount"] > 0]


async def test_each_payee_sees_what_the_payment_was_for(client, super_user, business):
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    await wait_for_status(client, business.operator, settlement["id"], "settled")
    operator = business.operator.username

    def of_settlement(payments):
        return [
            p for p in payments if p["extra"].get("settlement_id") == settlement["id"]
        ]

    # 500.00 GTQ over LP balances of 600 and 400: 300.00 and 200.00 of it.
    for lp, share in zip(business.lps, ("300.00", "200.00"), strict=True):
        [payment] = of_settlement(await _incoming(client, lp))
        assert payment["memo"] == (
            f"SatMachine · {operator} · Pay ATM · cash-out · {share} of 500.00 GTQ "
            "@ 500,000"
        )
        assert {
            key: payment["extra"][key]
            for key in ("operator", "machine", "direction", "fiat_amount")
        } == {
            "operator": operator,
            "machine": "Pay ATM",
            "direction": "cash-out",
            "fiat_amount": share,
        }
        assert payment["extra"]["fiat_total"] == "500.00"
        assert payment["extra"]["exchange_rate"] == "500000.00"
    [fee] = of_settlement(await _incoming(client, super_user))
    assert fee["memo"] == (
        f"SatMachine · {operator} · Pay ATM · cash-out · platform fee · 500.00 GTQ "
        "@ 500,000"
    )
    [split] = of_settlement(await _incoming(client, business.employee))
    assert (
        split["memo"]
        == "SatMachine · Pay ATM · cash-out · employee · 500.00 GTQ @ 500,000"
    )
    assert split["extra"]["paid_for"] == "employee"
